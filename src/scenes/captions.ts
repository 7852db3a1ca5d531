// The caption grammar: five captions per image, each naming 1-3 of its objects by a noun
// phrase "[size] [color] [material] shape" (shape always, the rest at random, so captions are
// as partial as real ones), joined by a spatial relation read off the positions or by "and".
// Every word is in SCENES_WORDS, which fixes the vocabulary ids.
import { COLORS, MATERIALS, SHAPES, SIZES, type Scene, type SceneObject } from './attributes.js';
import type { Rng } from './random.js';

export const RELATIONS = ['left of', 'right of', 'above', 'below', 'next to'] as const;
export type Relation = (typeof RELATIONS)[number];

const GRAMMAR_WORDS = ['a', 'there', 'is', 'the', 'scene', 'shows', 'and', ',', '.'] as const;
const RELATION_WORDS = ['left', 'right', 'of', 'above', 'below', 'next', 'to'] as const;

/** Every word a caption can use, in vocabulary order (ids 4, 5, ... after the special tokens). */
export const SCENES_WORDS: readonly string[] = [...GRAMMAR_WORDS, ...SIZES, ...COLORS, ...MATERIALS, ...SHAPES, ...RELATION_WORDS];

const SPECIALS = ['<pad>', '<start>', '<end>', '<unk>'] as const;

/** The SCAN-flavour vocabulary file ({data}_vocab.json): <pad>=0 <start>=1 <end>=2 <unk>=3, then SCENES_WORDS. */
export function scenesVocabularyJSON(): { word2idx: Record<string, number>; idx2word: Record<string, string>; idx: number } {
  const words = [...SPECIALS, ...SCENES_WORDS];
  return {
    word2idx: Object.fromEntries(words.map((w, i) => [w, i])),
    idx2word: Object.fromEntries(words.map((w, i) => [String(i), w])),
    idx: words.length,
  };
}

// Closer than this on both axes reads as "next to"; farther, the dominant axis decides.
const NEAR = 0.2;

/** Where `a` is relative to `b` ("a is left of b"); y grows downwards. */
export function relationOf(a: Pick<SceneObject, 'x' | 'y'>, b: Pick<SceneObject, 'x' | 'y'>): Relation {
  const dx = a.x - b.x;
  const dy = a.y - b.y;
  if (Math.max(Math.abs(dx), Math.abs(dy)) < NEAR) return 'next to';
  if (Math.abs(dx) >= Math.abs(dy)) return dx < 0 ? 'left of' : 'right of';
  return dy < 0 ? 'above' : 'below';
}

/** "large red metal cube": the shape always, each other attribute only sometimes. */
export function nounPhrase(o: SceneObject, rng: Rng): string {
  const words: string[] = [];
  if (rng.next() < 0.4) words.push(o.size);
  if (rng.next() < 0.75) words.push(o.color);
  if (rng.next() < 0.35) words.push(o.material);
  words.push(o.shape);
  return words.join(' ');
}

function caption(scene: Scene, rng: Rng): string {
  const order = rng.shuffle(scene.objects.map((_, i) => i));
  const k = rng.int(1, Math.min(3, order.length));
  const objects = order.slice(0, k).map((i) => scene.objects[i]!);
  const np = objects.map((o) => nounPhrase(o, rng));
  if (k === 1) return `${rng.pick(['a', 'there is a', 'the scene shows a'])} ${np[0]} .`;
  const relation = relationOf(objects[0]!, objects[1]!);
  if (k === 2) {
    if (rng.next() < 0.6) return `${rng.pick(['a', 'there is a'])} ${np[0]} ${relation} a ${np[1]} .`;
    return `${rng.pick(['a', 'there is a'])} ${np[0]} and a ${np[1]} .`;
  }
  if (rng.next() < 0.5) return `a ${np[0]} ${relation} a ${np[1]} and a ${np[2]} .`;
  return `a ${np[0]} , a ${np[1]} and a ${np[2]} .`;
}

/** Five captions of one scene, distinct where a few draws allow (SCAN's 5 lines per image). */
export function describeScene(scene: Scene, rng: Rng): string[] {
  const captions: string[] = [];
  while (captions.length < 5) {
    let text = caption(scene, rng);
    for (let retry = 0; retry < 8 && captions.includes(text); retry++) text = caption(scene, rng);
    captions.push(text);
  }
  return captions;
}
