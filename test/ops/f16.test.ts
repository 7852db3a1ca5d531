// The f16 path: rows rounded to float16 (kernels/quantize_rows.wgsl with F16) against the
// reference rounding, and f16 similarities against the float64 method on the rounded
// embeddings (what the path computes), on the split kernel.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { encodeQuantize, packedRowWords, quantizePipeline } from '../../src/ops/quantize.js';
import { f16RoundedBatch, f16round } from '../../src/ref/quantize.js';
import type { SimilarityOptions } from '../../src/types.js';
import { maxAbsDiff } from '../fixtures.js';
import { sharedEngine } from '../gpu.js';
import { randomBatch, randomLengths, rng, methodReference } from '../random.js';

const engine = await sharedEngine();
const ctx = (engine as unknown as { ctx: GpuContext }).ctx;

describe('f16 rounding kernel', () => {
  it('packs two halves per word, rounds to nearest even like the reference, writes the rounded f32 back', async () => {
    const dim = 11;
    const rows = 4;
    const next = rng(3);
    // Values across float16's range: normal, subnormal (< 6.1e-5), exact halves' ties, zero.
    const data = Float32Array.from({ length: rows * dim }, (_, i) => (next() - 0.5) * 10 ** (-(i % 7)));
    data[3] = 1 + 2 ** -11; // a tie between two halves: rounds to even (1)
    data[4] = 0;
    const words = packedRowWords('f16', dim);
    const transient: GPUBuffer[] = [];
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const src = ctx.upload(data, 'src');
    const packed = ctx.pool.acquire((rows + 2) * words * 4, usage, 'packed');
    const dequantized = ctx.upload(new Float32Array(rows * dim).fill(-7), 'dq', GPUBufferUsage.COPY_SRC);
    transient.push(src, packed, dequantized);
    const pipeline = await quantizePipeline(ctx, 'f16');
    const encoder = ctx.createEncoder('f16 test');
    const pass = ctx.beginPass(encoder, 'test');
    encodeQuantize(ctx, pass, pipeline, { format: 'f16', src, srcBase: 0, dim, rows, outRows: rows + 2, packed, dequantized }, transient);
    pass.end();
    ctx.submit(encoder);
    const bits = new Uint32Array((await ctx.readFloat32(packed, 0, (rows + 2) * words)).buffer);
    const back = await ctx.readFloat32(dequantized, 0, rows * dim);
    transient.forEach((b) => ctx.pool.release(b));
    const expected = Float32Array.from(data, f16round);
    expect(Array.from(back)).toEqual(Array.from(expected));
    expect(back[3]).toBe(1);
    // The packed halves decode to the same values; padding halves and padding rows are zero.
    const half = (h: number) => {
      const sign = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const m = h & 0x3ff;
      return sign * (e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15));
    };
    for (let r = 0; r < rows + 2; r++) {
      for (let d = 0; d < 2 * words; d++) {
        const word = bits[r * words + (d >> 1)];
        const value = half(d & 1 ? word >>> 16 : word & 0xffff);
        expect(value, `row ${r} d ${d}`).toBe(r < rows && d < dim ? expected[r * dim + d] : 0);
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
    const rounded = f16RoundedBatch(b);
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
