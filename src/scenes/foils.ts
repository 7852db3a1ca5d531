// The foil set: each test caption with exactly one attribute word (size, colour, material or
// shape) swapped for a value that no object in the image has, so the foil names something
// the image does not contain: the mismatch NAAF's negative branch is meant to notice. A model
// that matches well should score the true caption strictly above its foil.
import { absentValues, categoryOf, type Scene } from './attributes.js';
import type { Rng } from './random.js';

export interface Foil {
  /** The true caption, as in {split}_caps.txt. */
  caption: string;
  /** The caption with one word swapped. */
  foil: string;
  /** The image within the split (the caption's line // 5). */
  imageIndex: number;
  /** The caption's line within the split's captions file. */
  captionIndex: number;
  /** [the caption's word, the word that replaced it]. */
  swapped: [string, string];
}

/** One foil per caption (captions[k] describes scenes[k // 5]) whose words include an attribute that can be swapped. */
export function makeFoils(scenes: readonly Scene[], captions: readonly string[], rng: Rng): Foil[] {
  if (captions.length !== 5 * scenes.length) {
    throw new Error(`makeFoils: captions: expected 5 per scene (${5 * scenes.length}), got ${captions.length}`);
  }
  const foils: Foil[] = [];
  captions.forEach((caption, captionIndex) => {
    const imageIndex = Math.floor(captionIndex / 5);
    const scene = scenes[imageIndex]!;
    const words = caption.split(' ');
    const options = words.flatMap((word, position) => {
      const category = categoryOf(word);
      const absent = category ? absentValues(scene, category) : [];
      return absent.length > 0 ? [{ position, absent }] : [];
    });
    // Never empty with 6 shapes and at most 5 objects; skipped rather than faked if it were.
    if (options.length === 0) return;
    const { position, absent } = rng.pick(options);
    const to = rng.pick(absent);
    const from = words[position]!;
    const swappedWords = words.slice();
    swappedWords[position] = to;
    foils.push({ caption, foil: swappedWords.join(' '), imageIndex, captionIndex, swapped: [from, to] });
  });
  return foils;
}

/** Share of pairs where the true caption scores strictly higher than its foil (ties and NaN count as misses). */
export function foilAccuracy(trueScores: ArrayLike<number>, foilScores: ArrayLike<number>): number {
  if (trueScores.length !== foilScores.length) {
    throw new Error(`foilAccuracy: foilScores: expected as many scores as trueScores (${trueScores.length}), got ${foilScores.length}`);
  }
  if (trueScores.length === 0) throw new Error('foilAccuracy: trueScores: expected at least one score, got none');
  let wins = 0;
  for (let i = 0; i < trueScores.length; i++) if (trueScores[i]! > foilScores[i]!) wins++;
  return wins / trueScores.length;
}

/** foilAccuracy with a scoring function of (image within the split, caption text). */
export function foilAccuracyOf(foils: readonly Foil[], scoreOf: (imageIndex: number, caption: string) => number): number {
  return foilAccuracy(
    foils.map((f) => scoreOf(f.imageIndex, f.caption)),
    foils.map((f) => scoreOf(f.imageIndex, f.foil)),
  );
}
