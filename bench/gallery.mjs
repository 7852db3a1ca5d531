// What the search benchmarks share: a generated gallery's test images encoded by a model, and
// captions encoded as one padded batch.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NpyReader, Vocabulary } from '../dist/index.js';

/** The gallery's vocabulary and test captions (5 per image). */
export function galleryText(dir) {
  return {
    vocab: Vocabulary.fromJSON(readFileSync(join(dir, 'scenes_vocab.json'), 'utf8')),
    captions: readFileSync(join(dir, 'test_caps.txt'), 'utf8').split('\n').filter((line) => line !== ''),
  };
}

/** The gallery's test images under `model`, { data [N, R, E], shape }, encoded 4096 at a time. */
export async function encodeGallery(model, dir) {
  const reader = await NpyReader.open(join(dir, 'test_ims.npy'));
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
