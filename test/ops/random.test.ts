// The fused kernels against the float64 references on random and edge-case shapes.
import { describe, expect, it } from 'vitest';
import type { SimilarityOptions } from '../../src/types.js';
import { maxAbsDiff } from '../fixtures.js';
import { ALL_VARIANTS, sharedEngine } from '../gpu.js';
import { RandomBatch, randomBatch, randomLengths, methodReference } from '../random.js';

const engine = await sharedEngine();

function inputs(b: RandomBatch) {
  return {
    images: { data: b.images, shape: [b.N, b.R, b.D] as const },
    captions: { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths },
  };
}

const ALL_METHODS: SimilarityOptions[] = [
  { method: 'naaf', threshold: 0.3 },
  { method: 'naaf', threshold: 0.3, intra: false },
  { method: 'scan-t2i' },
  { method: 'scan-t2i', aggregation: 'mean' },
  { method: 'scan-i2t' },
  { method: 'scan-i2t', aggregation: 'mean' },
];

async function expectAllMethods(b: RandomBatch, methods = ALL_METHODS, extra: Partial<SimilarityOptions> = {}) {
  const { images, captions } = inputs(b);
  for (const options of methods) {
    const merged = { ...options, ...extra } as SimilarityOptions;
    const sims = await engine.similarity(images, captions, merged);
    expect(sims.length).toBe(b.N * b.M);
    expect(maxAbsDiff(sims, methodReference(b, merged)), JSON.stringify(merged)).toBeLessThan(1e-5);
  }
}

describe('random inputs against the float64 reference', () => {
  it('mixed lengths, D = 24, R = 36', async () => {
    await expectAllMethods(randomBatch(1, 3, 36, randomLengths(2, 7, 2, 9), 9, 24));
  });

  it('2-word captions and lengths equal to L', async () => {
    await expectAllMethods(randomBatch(3, 2, 36, [2, 2, 5, 5, 2], 5, 16));
  });

  it('odd D and R != 36', async () => {
    await expectAllMethods(randomBatch(4, 3, 7, [3, 6, 4], 6, 13));
    await expectAllMethods(randomBatch(5, 2, 50, [4, 2], 4, 5));
  });

  it('R = 90: the Gram is read from global memory where R x R does not fit workgroup memory', async () => {
    await expectAllMethods(randomBatch(7, 2, 90, [3, 12, 6], 12, 8), [ALL_METHODS[0], ALL_METHODS[2], ALL_METHODS[4]]);
  });

  it('R = 1 and D = 1', async () => {
    await expectAllMethods(randomBatch(6, 3, 1, [2, 3], 3, 1), ALL_METHODS.slice(2));
  });

  it('N = 1 and M = 1', async () => {
    await expectAllMethods(randomBatch(7, 1, 36, [4, 3, 5], 5, 16));
    await expectAllMethods(randomBatch(8, 4, 36, [6], 6, 16));
  });

  it('a 1-word caption gets the intended value (the original breaks on L = 1)', async () => {
    await expectAllMethods(randomBatch(9, 2, 10, [1, 3], 3, 8));
  });

  it('threshold 0, a negative threshold and a high one (words with no region above it)', async () => {
    const b = randomBatch(10, 3, 36, [3, 5, 4, 2], 5, 16);
    const naaf: SimilarityOptions[] = [{ method: 'naaf', threshold: 0 }, { method: 'naaf', threshold: 0, intra: false }];
    await expectAllMethods(b, naaf);
    await expectAllMethods(b, [{ method: 'naaf', threshold: -0.2 }]);
    await expectAllMethods(b, [{ method: 'naaf', threshold: 0.93 }, { method: 'naaf', threshold: 0.93, intra: false }]);
  });

  it('other lambdas', async () => {
    const b = randomBatch(11, 2, 20, [3, 4, 5], 5, 12);
    await expectAllMethods(b, [
      { method: 'naaf', threshold: 0.2, lambdaSoftmax: 9, lambdaIntra: 2 },
      { method: 'naaf', threshold: 0.1, lambdaSoftmax: 80 },
      { method: 'scan-t2i', lambdaSoftmax: 4, lambdaLse: 20 },
      { method: 'scan-i2t', lambdaSoftmax: 9, lambdaLse: 20 },
    ]);
  });

  it('long captions (L = 70 > the default 64-row tile)', async () => {
    await expectAllMethods(randomBatch(12, 2, 8, [70, 3, 40], 70, 8), [ALL_METHODS[0], ALL_METHODS[2], ALL_METHODS[4]]);
  });

  it('many captions: several caption tiles per chunk', async () => {
    await expectAllMethods(randomBatch(13, 2, 12, randomLengths(14, 40, 2, 12), 12, 8), [ALL_METHODS[0], ALL_METHODS[3], ALL_METHODS[4]]);
  });

  // ({ images: 2 } and { rowBlocks: 2 } alone: covered by their combination; every one with ALL_VARIANTS.)
  it.each([
    ...(ALL_VARIANTS ? [{ images: 2 }, { rowBlocks: 2 }] : []), { images: 3, depth: 4 }, { images: 2, rowBlocks: 2, depth: 32 }, { rows: 48, depth: 8 },
  ])('pinned tile %j: multi-image workgroups (N not a multiple), row blocks, depths', async (tile) => {
    // 5 images: the last workgroup of a 2- or 3-image tile is partly empty.
    const b = randomBatch(17, 5, 10, randomLengths(18, 9, 1, 11), 11, 21);
    // Without ALL_VARIANTS: one method per epilogue family (NAAF, SCAN t2i, SCAN i2t), each tile a lavapipe compile per method.
    await expectAllMethods(b, ALL_VARIANTS ? ALL_METHODS : [ALL_METHODS[0], ALL_METHODS[3], ALL_METHODS[4]], { tile });
    await expectAllMethods(b, [ALL_METHODS[0], ALL_METHODS[4]], { tile, maxImagesPerChunk: 3, maxCaptionsPerChunk: 4 });
  });

  it('forced chunking over images and captions gives the same values', async () => {
    const b = randomBatch(15, 5, 9, randomLengths(16, 7, 2, 6), 6, 10);
    await expectAllMethods(b, ALL_METHODS, { maxImagesPerChunk: 2, maxCaptionsPerChunk: 3 });
    await expectAllMethods(b, [ALL_METHODS[0]], { maxImagesPerChunk: 1, maxCaptionsPerChunk: 1 });
  });
});
