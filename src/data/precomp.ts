// The SCAN "precomp" layout (spec 1): {split}_ims.npy [images, 36, 2048], {split}_caps.txt
// (5 consecutive captions per image), and a vocabulary JSON beside it or in ../vocab.
import { NpyReader } from '../io/npy.js';
import { Vocabulary } from './vocab.js';
import { platform } from '../platform/index.js';
import { maxOf } from '../arrays.js';

export interface PrecompSplit {
  images: NpyReader;
  captions: string[];
  /** Captions per image row: 5 (the layout: 5 consecutive captions per image) or 1 (one row per caption, each image's row repeated). */
  imageDivisor: 1 | 5;
  imsPath: string;
  capsPath: string;
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

/**
 * A split of the precomp layout, checked before any work (train, eval, index and the main job
 * all read splits through here): [images, regions, features] float data, at least one caption,
 * no empty caption line, and 5 captions per image: `5 x images` lines, or one image row per
 * caption (then a multiple of 5). Anything else would pair captions with the wrong images
 * (caption k takes image k / 5), so it is refused with the files and counts that break it.
 */
export async function openPrecompSplit(dir: string, split: string): Promise<PrecompSplit> {
  const imsPath = `${dir}/${split}_ims.npy`;
  const capsPath = `${dir}/${split}_caps.txt`;
  for (const path of [imsPath, capsPath]) {
    if (!(await exists(path))) throw new Error(`data: missing ${path} (a precomp split needs ${split}_ims.npy and ${split}_caps.txt in ${dir})`);
  }
  const text = await (await fs()).readFile(capsPath, 'utf8');
  const captions = text.split('\n');
  for (let i = 0; i < captions.length; i++) if (captions[i].endsWith('\r')) captions[i] = captions[i].slice(0, -1);
  while (captions.length > 0 && captions[captions.length - 1].trim() === '') captions.pop();
  const images = await NpyReader.open(imsPath);
  try {
    const imageDivisor = checkSplitCounts(imsPath, images.shape, capsPath, captions);
    return { images, captions, imageDivisor, imsPath, capsPath };
  } catch (error) {
    await images.close();
    throw error;
  }
}

/** The images of a split (what an index reads alone): [images, regions, features], none of them 0. */
export function checkSplitImages(imsPath: string, shape: readonly number[]): [number, number, number] {
  if (shape.length !== 3) throw new Error(`data: ${imsPath} must be [images, regions, features], got shape [${shape.join(', ')}]`);
  const [rows, R, D] = shape;
  if (rows < 1 || R < 1 || D < 1) throw new Error(`data: ${imsPath} has shape [${shape.join(', ')}]: a split needs at least one image, region and feature`);
  return [rows, R, D];
}

/** The split rule of openPrecompSplit; returns the captions per image row. */
export function checkSplitCounts(imsPath: string, shape: readonly number[], capsPath: string, captions: readonly string[]): 1 | 5 {
  const [rows] = checkSplitImages(imsPath, shape);
  const M = captions.length;
  if (M === 0) throw new Error(`data: ${capsPath} holds no captions (${rows} image rows in ${imsPath})`);
  const empty: number[] = [];
  for (let i = 0; i < M && empty.length < 5; i++) if (captions[i].trim() === '') empty.push(i + 1);
  if (empty.length > 0) {
    throw new Error(`data: ${capsPath} line ${empty.join(', line ')}: empty caption; every line is one caption, 5 per image in order (a stray blank line shifts every caption after it onto the wrong image)`);
  }
  if (M === 5 * rows) return 5;
  if (M === rows && M % 5 === 0) return 1;
  const perImage = (M / rows).toFixed(2).replace(/\.?0+$/, '');
  const hint = M % 5 !== 0
    ? `; line ${M - (M % 5) + 1} onwards is an incomplete group of ${M % 5}`
    : M < 5 * rows ? `; the captions of the last ${rows - M / 5} images are missing` : '';
  throw new Error(`data: ${capsPath} has ${M} captions for the ${rows} image rows of ${imsPath} (${perImage} per row); `
    + `the precomp layout needs 5 consecutive captions per image (${5 * rows} lines), or one image row per caption${hint}`);
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
  const rejected: string[] = [];
  for (const folder of [dir, `${dir}/../vocab`]) {
    if (!(await exists(folder))) continue;
    const candidates = (await readdir(folder)).filter((f) => f.endsWith('.json')).sort();
    const vocabularies: { vocab: Vocabulary; path: string }[] = [];
    for (const file of candidates) {
      try {
        vocabularies.push({ vocab: await load(`${folder}/${file}`), path: `${folder}/${file}` });
      } catch (error) {
        rejected.push(`${folder}/${file}: ${(error as Error).message}`); // another JSON file, or a broken vocabulary
      }
    }
    if (vocabularies.length === 1) return vocabularies[0];
    const fitting = vocabularies.filter((v) => v.vocab.flavour === wanted);
    if (fitting.length === 1) return fitting[0];
    if (vocabularies.length > 1) {
      throw new Error(`data: several vocabularies in ${folder} (${vocabularies.map((v) => v.path).join(', ')}); choose one with --vocab`);
    }
  }
  const why = rejected.length ? `; these JSON files are not vocabularies:\n  ${rejected.map((r) => (r.length > 300 ? `${r.slice(0, 300)}...` : r)).join('\n  ')}` : '';
  throw new Error(`data: no vocabulary JSON in ${dir} or ${dir}/../vocab; pass --vocab FILE${why}`);
}

/** Token ids of every caption, [M, L] padded with <pad>, L = the longest caption. */
export function encodeCaptionIds(captions: string[], vocab: Vocabulary, modelVocabSize: number): { ids: Int32Array; lengths: Int32Array; maxWords: number } {
  if (vocab.size > modelVocabSize) {
    throw new Error(`data: the vocabulary has ${vocab.size} words, more than the model's embedding (vocabSize ${modelVocabSize}); wrong vocabulary for this checkpoint?`);
  }
  const sequences = captions.map((caption) => vocab.encode(caption));
  const lengths = Int32Array.from(sequences, (s) => s.length);
  const maxWords = maxOf(lengths);
  const ids = new Int32Array(captions.length * maxWords).fill(vocab.padId);
  sequences.forEach((s, m) => ids.set(s, m * maxWords));
  return { ids, lengths, maxWords };
}

/**
 * Refuses a vocabulary that reads most of a split's words as <unk> (a vocabulary of another
 * dataset, or captions in another language): training or scoring with it would run and mean
 * nothing. Names the first caption that has no known word.
 */
export function checkVocabularyFit(ids: Int32Array, lengths: Int32Array, maxWords: number, vocab: Vocabulary, where: { vocab: string; captions: string }): void {
  let words = 0;
  let unknown = 0;
  let firstAllUnknown = -1;
  for (let m = 0; m < lengths.length; m++) {
    let known = 0;
    for (let w = 1; w < lengths[m] - 1; w++) { // between <start> and <end>
      if (ids[m * maxWords + w] === vocab.unkId) unknown++;
      else known++;
      words++;
    }
    if (known === 0 && firstAllUnknown < 0) firstAllUnknown = m;
  }
  if (words > 0 && unknown > 0.5 * words) {
    throw new Error(`data: ${where.vocab} reads ${((100 * unknown) / words).toFixed(0)}% of the words of ${where.captions} as <unk> `
      + `${firstAllUnknown >= 0 ? `(line ${firstAllUnknown + 1} has no known word)` : ''}; wrong vocabulary for this data? pass the right one with --vocab`);
  }
}
