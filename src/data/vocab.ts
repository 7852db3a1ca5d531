// The word <-> id tables of SCAN (f30k_precomp_vocab.json) and NAAF (f30k_precomp.json).
// Like NAAF's deserialize_vocab, only `word2idx` is read. The two files number the special
// tokens differently, which tells them apart:
//   scan:  <pad>=0 <start>=1 <end>=2 <unk>=3
//   glove: <pad>=0 <unk>=1 <start>=2 <end>=3

import { tokenize } from './tokenize.js';

export type VocabularyFlavour = 'scan' | 'glove';

const SPECIALS = ['<pad>', '<start>', '<end>', '<unk>'] as const;
type Special = (typeof SPECIALS)[number];
const LAYOUTS: Record<VocabularyFlavour, Record<Special, number>> = {
  scan: { '<pad>': 0, '<start>': 1, '<end>': 2, '<unk>': 3 },
  glove: { '<pad>': 0, '<unk>': 1, '<start>': 2, '<end>': 3 },
};

function fail(what: string, expected: string, got: string): never {
  throw new Error(`Vocabulary.fromJSON: ${what}: expected ${expected}, got ${got}`);
}
function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  const text = typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' ? 'object' : String(v);
  return `${typeof v} ${text.length > 40 ? `${text.slice(0, 40)}...` : text}`;
}
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export class Vocabulary {
  readonly flavour: VocabularyFlavour;
  readonly padId: number;
  readonly startId: number;
  readonly endId: number;
  readonly unkId: number;
  private readonly ids: ReadonlyMap<string, number>;
  private readonly words: readonly string[];

  private constructor(flavour: VocabularyFlavour, ids: Map<string, number>, words: string[]) {
    const layout = LAYOUTS[flavour];
    this.flavour = flavour;
    this.padId = layout['<pad>'];
    this.startId = layout['<start>'];
    this.endId = layout['<end>'];
    this.unkId = layout['<unk>'];
    this.ids = ids;
    this.words = words;
  }

  /** Reads either vocabulary file, as JSON text or as the parsed object. */
  static fromJSON(json: string | object): Vocabulary {
    let data: unknown = json;
    if (typeof json === 'string') {
      try {
        data = JSON.parse(json);
      } catch (e) {
        fail('json', 'JSON text', `text that does not parse (${(e as Error).message})`);
      }
    }
    if (!isRecord(data)) fail('json', 'an object with a word2idx object', show(data));
    const word2idx = data['word2idx'];
    if (!isRecord(word2idx)) fail('json.word2idx', 'an object mapping words to ids', show(word2idx));

    // A Map, so that words such as "constructor" or "__proto__" are plain keys.
    const entries = Object.entries(word2idx);
    const size = entries.length;
    const ids = new Map<string, number>();
    const words = new Array<string>(size);
    for (const [word, id] of entries) {
      const what = `json.word2idx[${JSON.stringify(word)}]`;
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= size) {
        fail(what, `an integer id in 0..${size - 1} (ids number the ${size} words from 0)`, show(id));
      }
      const other = words[id];
      if (other !== undefined) fail(what, 'an id no other word has', `${id}, the id of ${JSON.stringify(other)}`);
      words[id] = word;
      ids.set(word, id);
    }

    for (const special of SPECIALS) {
      if (!ids.has(special)) fail(`json.word2idx[${JSON.stringify(special)}]`, 'a special token id', 'nothing');
    }
    const flavour = (Object.keys(LAYOUTS) as VocabularyFlavour[]).find((f) =>
      SPECIALS.every((s) => ids.get(s) === LAYOUTS[f][s]),
    );
    if (!flavour) {
      const got = SPECIALS.map((s) => `${s}=${ids.get(s)}`).join(' ');
      fail('json.word2idx', 'the special ids of SCAN (<pad>=0 <start>=1 <end>=2 <unk>=3) or NAAF (<pad>=0 <unk>=1 <start>=2 <end>=3)', got);
    }
    return new Vocabulary(flavour, ids, words);
  }

  /** Number of words, special tokens included (the model's vocab_size). */
  get size(): number {
    return this.words.length;
  }

  /** The id of `word`, or unkId when it is not in the vocabulary. */
  id(word: string): number {
    return this.ids.get(word) ?? this.unkId;
  }

  /** The word with id `id`. */
  word(id: number): string {
    const w = Number.isInteger(id) ? this.words[id] : undefined;
    if (w === undefined) throw new Error(`Vocabulary.word: id: expected an integer in 0..${this.size - 1}, got ${id}`);
    return w;
  }

  /** The distinct tokens the vocabulary lacks (read as <unk>), in order of first appearance. */
  unknown(tokens: readonly string[]): string[] {
    return [...new Set(tokens.filter((t) => this.id(t) === this.unkId))];
  }

  /** <start>, the ids of tokenize(caption), <end>: the id sequence SCAN and NAAF feed the model. */
  encode(caption: string): number[] {
    return [this.startId, ...tokenize(caption).map((t) => this.id(t)), this.endId];
  }
}
