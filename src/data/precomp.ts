// The SCAN "precomp" layout (spec 1): {split}_ims.npy [images, 36, 2048], {split}_caps.txt
// (5 consecutive captions per image), and a vocabulary JSON beside it or in ../vocab.
import { NpyReader } from '../io/npy.js';
import { Vocabulary } from './vocab.js';
import { platform } from '../platform/index.js';

export interface PrecompSplit {
  images: NpyReader;
  captions: string[];
}

function fs() {
  return platform.fs('openPrecompSplit');
}

async function exists(path: string): Promise<boolean> {
  try {
    await (await fs()).access(path);
    return true;
  } catch {
    return false;
  }
}

export async function openPrecompSplit(dir: string, split: string): Promise<PrecompSplit> {
  const imsPath = `${dir}/${split}_ims.npy`;
  const capsPath = `${dir}/${split}_caps.txt`;
  for (const path of [imsPath, capsPath]) {
    if (!(await exists(path))) throw new Error(`data: missing ${path} (a precomp split needs ${split}_ims.npy and ${split}_caps.txt in ${dir})`);
  }
  const text = await (await fs()).readFile(capsPath, 'utf8');
  const captions = text.split('\n').map((line) => line.replace(/\r$/, ''));
  while (captions.length > 0 && captions[captions.length - 1].trim() === '') captions.pop();
  const images = await NpyReader.open(imsPath);
  if (images.shape.length !== 3) {
    images.close();
    throw new Error(`data: ${imsPath} must be [images, regions, features], got shape [${images.shape.join(', ')}]`);
  }
  return { images, captions };
}

/**
 * The vocabulary for a model: `explicit` if given, else the one vocabulary JSON in `dir` or in
 * `dir/../vocab`; where several are there, the one whose flavour fits the text encoder
 * (SCAN `*_vocab.json` for 'basic', NAAF GloVe `*.json` for 'glove').
 */
export async function findVocabulary(dir: string, textEncoder: 'basic' | 'glove', explicit?: string): Promise<{ vocab: Vocabulary; path: string }> {
  const { readFile, readdir } = await fs();
  const load = async (path: string) => Vocabulary.fromJSON(await readFile(path, 'utf8'));
  if (explicit) return { vocab: await load(explicit), path: explicit };
  const wanted = textEncoder === 'glove' ? 'glove' : 'scan';
  for (const folder of [dir, `${dir}/../vocab`]) {
    if (!(await exists(folder))) continue;
    const candidates = (await readdir(folder)).filter((f) => f.endsWith('.json')).sort();
    const vocabularies: { vocab: Vocabulary; path: string }[] = [];
    for (const file of candidates) {
      try {
        vocabularies.push({ vocab: await load(`${folder}/${file}`), path: `${folder}/${file}` });
      } catch {
        // not a vocabulary (another JSON file)
      }
    }
    if (vocabularies.length === 1) return vocabularies[0];
    const fitting = vocabularies.filter((v) => v.vocab.flavour === wanted);
    if (fitting.length === 1) return fitting[0];
    if (vocabularies.length > 1) {
      throw new Error(`data: several vocabularies in ${folder} (${vocabularies.map((v) => v.path).join(', ')}); choose one with --vocab`);
    }
  }
  throw new Error(`data: no vocabulary JSON in ${dir} or ${dir}/../vocab; pass --vocab FILE`);
}

/** Token ids of every caption, [M, L] padded with <pad>, L = the longest caption. */
export function encodeCaptionIds(captions: string[], vocab: Vocabulary, modelVocabSize: number): { ids: Int32Array; lengths: Int32Array; maxWords: number } {
  if (vocab.size > modelVocabSize) {
    throw new Error(`data: the vocabulary has ${vocab.size} words, more than the model's embedding (vocabSize ${modelVocabSize}); wrong vocabulary for this checkpoint?`);
  }
  const sequences = captions.map((caption) => vocab.encode(caption));
  const lengths = Int32Array.from(sequences, (s) => s.length);
  const maxWords = Math.max(...lengths);
  const ids = new Int32Array(captions.length * maxWords).fill(vocab.padId);
  sequences.forEach((s, m) => ids.set(s, m * maxWords));
  return { ids, lengths, maxWords };
}
