// What the search benchmarks share: a generated gallery's test images encoded by a model, and
// captions encoded as one padded batch.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NaafEngine, NpyReader, Vocabulary } from '../dist/index.js';
import { backendOptions } from './util.mjs';

/** The gallery's vocabulary and captions of `split` (5 per image). */
export function galleryText(dir, split = 'test') {
  return {
    vocab: Vocabulary.fromJSON(readFileSync(join(dir, 'scenes_vocab.json'), 'utf8')),
    captions: readFileSync(join(dir, `${split}_caps.txt`), 'utf8').split('\n').filter((line) => line !== ''),
  };
}

/** The gallery's images of `split` under `model`, { data [N, R, E], shape }, encoded 4096 at a time. */
export async function encodeGallery(model, dir, split = 'test') {
  const reader = await NpyReader.open(join(dir, `${split}_ims.npy`));
  const [N, R, F] = reader.shape;
  const E = model.config.embedSize;
  const data = new Float32Array(N * R * E);
  for (let start = 0; start < N; start += 4096) {
    const n = Math.min(4096, N - start);
    data.set((await model.encodeImages({ data: await reader.readRows(start, n), shape: [n, R, F] })).data, start * R * E);
  }
  await reader.close();
  return { data, shape: [N, R, E] };
}

/** `texts` as one padded batch under `model`: the word embeddings [M, L, E] with lengths, and their token ids. */
export async function encodeCaptions(model, vocab, texts) {
  const seqs = texts.map((text) => vocab.encode(text));
  const L = Math.max(...seqs.map((s) => s.length));
  const ids = new Int32Array(texts.length * L).fill(vocab.padId);
  seqs.forEach((s, m) => ids.set(s, m * L));
  return { words: await model.encodeCaptions({ ids, shape: [texts.length, L], lengths: seqs.map((s) => s.length) }), seqs, L };
}

/**
 * The directory `out`/gallery-`images`: the scenes test split at that many images, in the world
 * (seed, regions, features, noise) of the model's data `data` (generated on first use).
 */
export function scenesGallery(data, out, images, log = console.log) {
  return scenesSplit(data, join(out, `gallery-${images}`), 'test', images, log);
}

/**
 * The directory `dir` holding `images` images in split `split` (10 in the others), in the world
 * of the model's data `data` (generated on first use). Splits are independent streams of one
 * seed, so a train split never repeats a test split's scenes.
 */
export function scenesSplit(data, dir, split, images, log = console.log) {
  const config = JSON.parse(readFileSync(join(data, 'scenes.json'), 'utf8')).config;
  const count = (s) => String(s === split ? images : 10);
  if (!existsSync(join(dir, `${split}_ims.npy`))) {
    const t = performance.now();
    execFileSync(process.execPath, ['dist/cli.js', 'scenes', '--out', dir, '--images', count('train'), '--dev', count('dev'), '--test', count('test'),
      '--regions', String(config.regions), '--img-dim', String(config.imgDim), '--seed', String(config.seed), '--noise', String(config.noise)], { stdio: 'inherit' });
    log(`${dir}: generated ${images} ${split} images in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  }
  return dir;
}

/** `count` query captions, one of each of `count` images spread over a gallery of `images` (the caption index cycles 0-4). */
export function galleryQueries(captions, images, count) {
  return Array.from({ length: count }, (_, q) => {
    const image = Math.floor(((q + 0.5) * images) / count);
    return { image, caption: captions[image * 5 + (q % 5)] };
  });
}

/** The search benches' engine, once `checkpoint` (npm start's NAAF model) is known to exist; logs the device. */
export async function searchBenchEngine(checkpoint, log) {
  if (!existsSync(checkpoint)) throw new Error(`${checkpoint} is missing: run \`npm start\` first (it trains the scenes NAAF model), or pass --checkpoint`);
  const engine = await NaafEngine.create(backendOptions('auto'));
  log(`device: ${engine.describe()}; checkpoint ${checkpoint}`);
  return engine;
}

/**
 * What the two-stage search benches start from: the scenes gallery of `images` test images, `count`
 * query captions spread over it (the first half dev, the second test), the model's NAAF options,
 * the gallery's region embeddings and the queries' word embeddings.
 */
export async function searchBenchSetup(engine, { checkpoint, data, out, images, count }, log) {
  const dir = scenesGallery(data, out, images, log);
  const { vocab, captions } = galleryText(dir);
  const queries = galleryQueries(captions, images, count);
  const half = Math.floor(count / 2);
  const model = await engine.loadModel(checkpoint);
  try {
    const naaf = { method: 'naaf', threshold: model.config.threshold ?? 0, lambdaSoftmax: model.config.lambdaSoftmax };
    const encoded = await encodeGallery(model, dir);
    const { words, seqs, L } = await encodeCaptions(model, vocab, queries.map((q) => q.caption));
    return {
      dir, queries, half, dev: [...Array(half).keys()], test: Array.from({ length: count - half }, (_, i) => half + i),
      naaf, images: encoded, words, seqs, L,
    };
  } finally {
    model.destroy();
  }
}
