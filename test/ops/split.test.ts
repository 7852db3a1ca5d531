// The split kernel (GEMM into a scratch buffer, then the epilogue) against the float64
// references: every method, the vec4 and scalar GEMM loads, GEMM tiles, epilogue rows, large
// R (Grams from global memory), scratch-bounded passes and chunking.
import { describe, expect, it } from 'vitest';
import type { SimilarityOptions } from '../../src/types.js';
import { maxAbsDiff } from '../fixtures.js';
import { sharedEngine } from '../gpu.js';
import { RandomBatch, randomBatch, randomLengths, methodReference } from '../random.js';

const engine = await sharedEngine();

const METHODS: SimilarityOptions[] = [
  { method: 'naaf', threshold: 0.3 },
  { method: 'naaf', threshold: 0.3, intra: false },
  { method: 'scan-t2i' },
  { method: 'scan-t2i', aggregation: 'mean' },
  { method: 'scan-i2t' },
  { method: 'scan-i2t', aggregation: 'mean' },
];

async function expectSplit(b: RandomBatch, methods: SimilarityOptions[], extra: Partial<SimilarityOptions> = {}) {
  const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
  const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
  for (const options of methods) {
    const merged = { ...options, kernel: 'split', ...extra } as SimilarityOptions;
    const sims = await engine.similarity(images, captions, merged);
    expect(maxAbsDiff(sims, methodReference(b, merged)), JSON.stringify(merged)).toBeLessThan(1e-5);
  }
}

describe('split kernel against the float64 reference', () => {
  it('every method: D % 4 == 0 (vec4 loads) and odd D (scalar loads), R = 36', async () => {
    await expectSplit(randomBatch(101, 5, 36, randomLengths(102, 9, 1, 12), 12, 40), METHODS);
    await expectSplit(randomBatch(103, 3, 36, [5, 1, 9, 2], 9, 13), METHODS);
  });

  it('more rows and words than one GEMM tile (several tiles both ways), threshold 0 and a high one', async () => {
    const b = randomBatch(104, 6, 25, randomLengths(105, 30, 3, 14), 14, 64);
    await expectSplit(b, [METHODS[0], METHODS[2], METHODS[4]]);
    await expectSplit(b, [{ method: 'naaf', threshold: 0 }, { method: 'naaf', threshold: 0.93 }]);
  });

  it.each([
    { gemmRows: 64, gemmCols: 64, depth: 16 }, { gemmRows: 64, depth: 32 }, { gemmCols: 64, depth: 8 }, { rows: 32 }, { rows: 128 },
  ])('pinned split tile %j', async (tile) => {
    await expectSplit(randomBatch(106, 4, 36, randomLengths(107, 12, 1, 20), 20, 48), [METHODS[0], METHODS[3], METHODS[4]], { tile });
  });

  it('R = 90 and R = 1: the Gram (and S) read from global memory where they do not fit, one-region images', async () => {
    await expectSplit(randomBatch(108, 2, 90, [3, 12, 6], 12, 8), [METHODS[0], METHODS[2], METHODS[4]]);
    await expectSplit(randomBatch(109, 3, 1, [2, 3], 3, 4), METHODS.slice(2));
  });

  it('long captions (L = 70 > the default 64 rows)', async () => {
    await expectSplit(randomBatch(110, 2, 8, [70, 3, 40], 70, 8), [METHODS[0], METHODS[2], METHODS[4]]);
  });

  it('a small scratch: several image passes per caption chunk and several caption chunks', async () => {
    const b = randomBatch(111, 7, 9, randomLengths(112, 11, 2, 6), 6, 16);
    // one image of 9 regions against <= 20 word rows per pass: 9 * 20 * 4 bytes
    await expectSplit(b, METHODS, { maxScratchBytes: 9 * 24 * 4 });
    await expectSplit(b, [METHODS[0], METHODS[4]], { maxImagesPerChunk: 2, maxCaptionsPerChunk: 3 });
  });

  it('word terms from the split kernel equal the fused kernel\'s', async () => {
    const b = randomBatch(113, 3, 36, [4, 7, 2], 7, 32);
    const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
    const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
    const split = await engine.naafWordTerms(images, captions, { method: 'naaf', threshold: 0.3, kernel: 'split' });
    const fused = await engine.naafWordTerms(images, captions, { method: 'naaf', threshold: 0.3, kernel: 'fused' });
    for (const key of ['sMax', 'neg', 'posF', 'posR', 'sims'] as const) expect(maxAbsDiff(split[key], fused[key]), key).toBeLessThan(1e-5);
  });

  it('bad split options name the option', async () => {
    const b = randomBatch(114, 2, 4, [3, 2], 3, 8);
    const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
    const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
    const naaf = { method: 'naaf', threshold: 0.2 } as const;
    await expect(engine.similarity(images, captions, { ...naaf, kernel: 'tiled' as never })).rejects.toThrow(/options\.kernel must be 'fused' or 'split', got "tiled"/);
    await expect(engine.similarity(images, captions, { ...naaf, kernel: 'split', tile: { images: 2 } })).rejects.toThrow(/options\.tile\.images is a fused-kernel option/);
    await expect(engine.similarity(images, captions, { ...naaf, kernel: 'fused', tile: { gemmRows: 64 } })).rejects.toThrow(/options\.tile\.gemmRows is a split-kernel option/);
    await expect(engine.similarity(images, captions, { ...naaf, tile: { gemmRows: 96 } })).rejects.toThrow(/options\.tile\.gemmRows must be 64 or 128, got 96/);
    await expect(engine.similarity(images, captions, { ...naaf, kernel: 'split', maxScratchBytes: 16 })).rejects.toThrow(/maxScratchBytes = 16.*cannot hold one caption/);
    await expect(engine.similarity(images, captions, { ...naaf, kernel: 'fused', precision: 'f16' })).rejects.toThrow(/precision 'f16' runs on the split kernel only/);
  });
});
