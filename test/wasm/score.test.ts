// The CPU backend's score kernels (kernels/wasm/naaf.c, scan_t2i.c, scan_i2t.c, chan.c after
// score.h's GEMM) against the golden float64 data and the float64 references, on random and edge
// shapes, for every method; f16 and int8 against the method applied to the rounded / dequantised
// embeddings; and the same bits whatever the thread count.
import { describe, expect, it } from 'vitest';
import { methodNames, methodSpec } from '../../src/methods/index.js';
import { dequantizedBatch, f16RoundedBatch } from '../../src/ref/quantize.js';
import { resolveOptions } from '../../src/similarity/validate.js';
import type { SimilarityOptions } from '../../src/types.js';
import { GOLDEN_CASES, expectGoldenWordTerms, goldenSimilarityOptions, loadGolden, maxAbsDiff } from '../fixtures.js';
import { randomBatch, randomLengths } from '../random.js';
import { wasmEngine } from './engine.js';

const engine = await wasmEngine({ threads: 2 });
const single = await wasmEngine({ threads: 1 });

const reference = (b: Parameters<ReturnType<typeof methodSpec>['reference']>[0], options: SimilarityOptions) =>
  methodSpec(options.method).reference(b, resolveOptions(options));

const inputs = (b: { images: Float32Array; captions: Float32Array; lengths: Int32Array; N: number; R: number; M: number; L: number; D: number }) => ({
  images: { data: b.images, shape: [b.N, b.R, b.D] as const },
  captions: { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths },
});

describe.each(GOLDEN_CASES)('golden %s on the CPU backend', (name) => {
  const c = loadGolden(name);
  const { images, captions } = inputs(c);
  const p = c.params;
  it('NAAF (with and without intra propagation), SCAN t2i and i2t (lse and mean) to 1e-5', async () => {
    for (const [key, options] of goldenSimilarityOptions(p)) {
      const sims = await engine.similarity(images, captions, options);
      expect(maxAbsDiff(sims, c.expected[key]), key).toBeLessThan(1e-5);
      expect(Array.from(await single.similarity(images, captions, options)), `${key}: one thread, the same bits`).toEqual(Array.from(sims));
    }
  });

  it("NAAF's per-word terms", async () => {
    const terms = await engine.naafWordTerms(images, captions, { method: 'naaf', threshold: p.threshold, lambdaSoftmax: p.lambda_softmax });
    expect(maxAbsDiff(terms.sims, c.expected.naaf_sims)).toBeLessThan(1e-5);
    expectGoldenWordTerms(terms, c);
  });
});

// Shapes the kernels' blocking must handle: R not a multiple of the 4-row register tile (1, 7,
// 10), captions longer than a 64-word tile, single words, odd D (the GEMM's k tail), a tile of
// many short captions, and tiles whose words end on a row's last vector.
const SHAPES: [string, number, number, number[], number][] = [
  ['R 1, L 1, odd D', 3, 1, [1, 1, 1], 5],
  ['R 7, odd D 33', 4, 7, [3, 9, 1, 12], 33],
  ['R 10, a caption of 70 words (past one tile)', 3, 10, [70, 5, 64, 2], 16],
  ['R 6, captions filling a tile to a multiple of 8 (a caption ending 1-3 words past a vector)', 2, 6, [5, 3, 6, 10, 9, 7], 12],
  ['R 36, many short captions', 5, 36, randomLengths(9, 30, 2, 6), 24],
];

const OPTIONS: Record<string, SimilarityOptions[]> = {
  naaf: [{ method: 'naaf', threshold: 0.1 }, { method: 'naaf', threshold: 0.3, lambdaSoftmax: 50, intra: false }],
  'scan-t2i': [{ method: 'scan-t2i' }, { method: 'scan-t2i', aggregation: 'mean', lambdaSoftmax: 60 }],
  'scan-i2t': [{ method: 'scan-i2t' }, { method: 'scan-i2t', aggregation: 'mean' }],
  chan: [{ method: 'chan' }, { method: 'chan', pooling: 'mean' }],
};

describe.each(SHAPES)('%s', (_label, N, R, lengths, D) => {
  const L = Math.max(...lengths);
  const b = randomBatch(N * 31 + R, N, R, lengths, L, D);
  const { images, captions } = inputs(b);
  it('every registered method and its options against the float64 reference', async () => {
    expect(Object.keys(OPTIONS).sort()).toEqual(methodNames().sort()); // a new method needs its cases here
    for (const method of methodNames()) {
      for (const options of OPTIONS[method]) {
        const sims = await engine.similarity(images, captions, options);
        expect(maxAbsDiff(sims, reference(b, options)), JSON.stringify(options)).toBeLessThan(1e-5);
      }
    }
  });

  it('f16 and int8: the method applied to the rounded / dequantised embeddings', async () => {
    for (const options of [OPTIONS.naaf[0], OPTIONS['scan-t2i'][0], OPTIONS['scan-i2t'][1], OPTIONS.chan[0]]) {
      const f16 = await engine.similarity(images, captions, { ...options, precision: 'f16' });
      expect(maxAbsDiff(f16, reference(f16RoundedBatch(b), options)), `f16 ${options.method}`).toBeLessThan(1e-5);
      const int8 = await engine.similarity(images, captions, { ...options, precision: 'int8' });
      expect(maxAbsDiff(int8, reference(dequantizedBatch(b), options)), `int8 ${options.method}`).toBeLessThan(1e-5);
    }
  });
});

describe('real dimensions', () => {
  it('R 36 x D 1024, a few images, Flickr-like lengths: every method to 1e-5, the same bits on one thread', async () => {
    const lengths = randomLengths(4, 6, 8, 20);
    const b = randomBatch(77, 3, 36, lengths, 20, 1024);
    const { images, captions } = inputs(b);
    for (const method of methodNames()) {
      const options = OPTIONS[method][0];
      const sims = await engine.similarity(images, captions, options);
      expect(maxAbsDiff(sims, reference(b, options)), method).toBeLessThan(1e-5);
      expect(Array.from(await single.similarity(images, captions, options))).toEqual(Array.from(sims));
    }
  });
});
