// The f16 path: rows rounded to float16 (kernels/quantize_rows.wgsl with F16), checked against
// what any conforming GPU may give (either neighbouring half; nearest-even where the GPU does
// that), and f16 similarities against the float64 method on this GPU's own rounded embeddings
// (read back from the kernel), on the split kernel.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { f16round } from '../../src/ref/quantize.js';
import { gpuLowPrecisionBatch, quantizeOnGpu } from '../lowPrecision.js';
import type { SimilarityOptions } from '../../src/types.js';
import { maxAbsDiff } from '../fixtures.js';
import { sharedEngine } from '../gpu.js';
import { randomBatch, randomLengths, rng, methodReference } from '../random.js';

const engine = await sharedEngine();
const ctx = (engine as unknown as { ctx: GpuContext }).ctx;

/** The two float16 values next to a float32 (equal when it is one): the half grid around x has spacing 2^(e - 10). */
function f16Neighbours(x: number): [number, number] {
  if (f16round(x) === x) return [x, x];
  const e = Math.max(-14, Math.floor(Math.log2(Math.abs(x))));
  const ulp = 2 ** (e - 10);
  const lo = Math.floor(x / ulp) * ulp;
  return [lo, lo + ulp];
}

describe('f16 rounding kernel', () => {
  it('packs two halves per word, rounds to a neighbouring half (nearest on this device), writes the rounded f32 back', async () => {
    const dim = 11;
    const rows = 4;
    const next = rng(3);
    // Values across float16's range: normal, subnormal (< 6.1e-5), exact halves' ties, zero.
    const data = Float32Array.from({ length: rows * dim }, (_, i) => (next() - 0.5) * 10 ** (-(i % 7)));
    data[3] = 1 + 2 ** -11; // a tie between two halves
    data[4] = 0;
    const gpu = await quantizeOnGpu(ctx, data, dim, 'f16', null, rows, rows + 2, -7);
    const back = gpu.dequantized;
    // WGSL lets a GPU round f32 -> f16 either way (some pack toward zero): any neighbour conforms.
    for (let i = 0; i < data.length; i++) {
      const [lo, hi] = f16Neighbours(data[i]);
      expect(back[i] === lo || back[i] === hi, `value ${i}: ${data[i]} -> ${back[i]}, neighbours ${lo}, ${hi}`).toBe(true);
    }
    // Nearest-even on this machine (lavapipe), tie included.
    if (/llvmpipe/i.test(`${engine.info.device} ${engine.info.description}`)) {
      expect(Array.from(back)).toEqual(Array.from(data, f16round));
      expect(back[3]).toBe(1);
    }
    // The packed halves decode to the values written back; padding halves and padding rows are zero.
    const half = (h: number) => {
      const sign = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const m = h & 0x3ff;
      return sign * (e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15));
    };
    const words = gpu.rowWords;
    for (let r = 0; r < rows + 2; r++) {
      for (let d = 0; d < 2 * words; d++) {
        const word = gpu.words[r * words + (d >> 1)];
        const value = half(d & 1 ? word >>> 16 : word & 0xffff);
        expect(value, `row ${r} d ${d}`).toBe(r < rows && d < dim ? back[r * dim + d] : 0);
      }
    }
  });
});

describe("precision 'f16' (split kernel)", () => {
  const METHODS: SimilarityOptions[] = [
    { method: 'naaf', threshold: 0.3 }, { method: 'naaf', threshold: 0.3, intra: false }, { method: 'scan-t2i' }, { method: 'scan-i2t', aggregation: 'mean' },
  ];

  it.each([{ D: 37, tile: {} }, { D: 64, tile: { gemmCols: 64, depth: 8 } }])('every method equals the float64 method on the f16-rounded embeddings (D=$D, tile $tile)', async ({ D, tile }) => {
    const b = randomBatch(80 + D, 5, 9, randomLengths(81, 8, 1, 10), 10, D);
    const rounded = await gpuLowPrecisionBatch(ctx, b, 'f16'); // the values this GPU computes with
    const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
    const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
    for (const options of METHODS) {
      const merged = { ...options, precision: 'f16', tile } as SimilarityOptions;
      const sims = await engine.similarity(images, captions, merged);
      expect(maxAbsDiff(sims, methodReference(rounded, options)), JSON.stringify(merged)).toBeLessThan(1e-5);
      expect(maxAbsDiff(sims, methodReference(b, options))).toBeLessThan(0.01); // an approximation of f32
    }
    const chunked = await engine.similarity(images, captions, { ...METHODS[0], precision: 'f16', maxScratchBytes: 9 * 16 * 4, maxCaptionsPerChunk: 3 } as SimilarityOptions);
    expect(maxAbsDiff(chunked, methodReference(rounded, METHODS[0]))).toBeLessThan(1e-5);
  });

  it('refuses values float16 cannot hold (CPU inputs)', async () => {
    const b = randomBatch(90, 2, 4, [2, 3], 3, 8);
    b.images[5] = 70000;
    const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
    const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
    await expect(engine.similarity(images, captions, { method: 'scan-t2i', precision: 'f16' }))
      .rejects.toThrow(/precision 'f16' holds magnitudes up to 65504, but images\.data\[5\] is 70000/);
    await expect(engine.similarity(images, captions, { method: 'scan-t2i', precision: 'f32' })).resolves.toBeDefined();
  });
});
