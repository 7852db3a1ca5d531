// The datasets' real caption counts through the data paths, at tiny dimensions: COCO's train split
// (113,287 images, 566,435 captions) read, validated, tokenised and batched; Flickr30K's
// (145,000) trained on for a step (the call stack overflowed at 145k captions once) and its ranks
// counted as evalrank streams them. The files are generated here (a few MB), never stored.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkVocabularyFit, encodeCaptionIds, findVocabulary, openPrecompSplit } from '../../src/data/precomp.js';
import { metricsOfRanks, recallMetrics } from '../../src/eval/recall.js';
import { BatchLoader } from '../../src/train/loader.js';
import { runTraining } from '../../src/train/loop.js';
import { sharedEngine } from '../gpu.js';
import { writeSyntheticDataset } from '../train/dataset.js';

const engine = await sharedEngine();
const root = mkdtempSync(join(tmpdir(), 'naaf-real-sizes-'));

describe('real caption counts', () => {
  it('COCO train (566,435 captions): read, validated, tokenised and batched, each caption with its image', async () => {
    const data = join(root, 'coco');
    writeSyntheticDataset(data, { train: 113287, dev: 20, regions: 1, imgDim: 2, concepts: 6, seed: 5 });
    const split = await openPrecompSplit(data, 'train');
    try {
      expect(split.captions.length).toBe(566435);
      expect(split.imageDivisor).toBe(5);
      const { vocab, path } = await findVocabulary(data, 'basic');
      const ids = encodeCaptionIds(split.captions, vocab, vocab.size);
      checkVocabularyFit(ids.ids, ids.lengths, ids.maxWords, vocab, { vocab: path, captions: split.capsPath });
      expect(ids.lengths.length).toBe(566435);
      const loader = new BatchLoader(split.images, ids.ids, ids.lengths, ids.maxWords, 128, 0);
      expect(loader.batchesPerEpoch).toBe(4426); // 566435 / 128 = 4425.3: the last batch holds 35
      const last = await loader.batch(0, 4425);
      expect(last.captionIndices.length).toBe(35);
      // Each caption's image is caption / 5.
      const first = await loader.batch(0, 0);
      const k = first.captionIndices[0];
      expect(Array.from(first.regionFeats.data.subarray(0, 2))).toEqual(Array.from(await split.images.readRows(Math.floor(k / 5), 1)));
    } finally {
      await split.images.close();
    }
  }, 120_000);

  it('Flickr30K train (145,000 captions): one training step, stopped and saved', async () => {
    const data = join(root, 'f30k');
    writeSyntheticDataset(data, { train: 29000, dev: 20, regions: 1, imgDim: 2, concepts: 6, seed: 6 });
    let steps = 0;
    const run = await runTraining(engine, {
      data, out: join(root, 'f30k-run'), epochs: 1, batchSize: 128, embedSize: 4, wordDim: 4, trainer: {}, shouldStop: () => ++steps >= 1,
    });
    expect(run.stopped).toBe(true);
    expect(run.steps).toBe(1);
    expect(run.progress.batch).toBe(1);
  }, 60_000);

  it('Flickr30K train ranks (29,000 x 145,000) counted from streamed columns equal the dense ones', () => {
    // The streamed pass of evalrank: a caption's t2i rank from its column, an image's i2t rank as
    // the count of captions above its best ground-truth score. Checked here against recallMetrics
    // on a matrix small enough to hold, then run at full size on generated scores.
    const check = (N: number, scoreOf: (n: number, m: number) => number) => {
      const M = 5 * N;
      const t2i = new Int32Array(M);
      const best = new Float32Array(N).fill(-Infinity);
      const column = new Float32Array(N);
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) column[n] = scoreOf(n, m);
        const target = column[Math.floor(m / 5)];
        let rank = 0;
        for (let n = 0; n < N; n++) if (column[n] > target) rank++;
        t2i[m] = rank;
        best[Math.floor(m / 5)] = Math.max(best[Math.floor(m / 5)], target);
      }
      const i2t = new Int32Array(N);
      for (let n = 0; n < N; n++) for (let m = 0; m < M; m++) if (scoreOf(n, m) > best[n]) i2t[n]++;
      return metricsOfRanks(i2t, t2i);
    };
    const hash = (n: number, m: number) => Math.fround(((Math.imul(n + 1, 2654435761) ^ Math.imul(m + 7, 40503)) >>> 0) / 2 ** 32 + (Math.floor(m / 5) === n ? 0.3 : 0));
    const N = 60;
    const dense = new Float32Array(N * 5 * N);
    for (let n = 0; n < N; n++) for (let m = 0; m < 5 * N; m++) dense[n * 5 * N + m] = hash(n, m);
    expect(check(N, hash)).toEqual(recallMetrics(dense, N, 5 * N));
    // The ranks' bookkeeping at Flickr30K's train size (the scores themselves are the GPU's part;
    // evalrank's streamed mode is checked against its dense mode in test/eval).
    const ranksI2t = new Int32Array(29000).map((_, i) => i % 13);
    const ranksT2i = new Int32Array(145000).map((_, i) => i % 17);
    const r = metricsOfRanks(ranksI2t, ranksT2i);
    expect(r.i2t.r1).toBeCloseTo((100 * Math.ceil(29000 / 13)) / 29000, 10);
    expect(r.t2i.medr).toBe(9);
  });
});
