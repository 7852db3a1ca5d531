// The opt-in int8 path: the quantisation kernel against its reference, and int8 similarities
// against the float64 method applied to the dequantised embeddings (what the path computes).
// lavapipe runs the dot4 product; the subgroup-matrix product needs a GPU with int8 tensor
// cores and is checked against dot4 bit for bit by bench/int8.bench.mjs there.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { encodeQuantize, packedRowBytes, quantizePipeline } from '../../src/ops/quantize.js';
import { dequantizedBatch, quantizeRowsRef } from '../../src/ref/quantize.js';
import type { SimilarityOptions } from '../../src/types.js';
import { maxAbsDiff } from '../fixtures.js';
import { sharedEngine } from '../gpu.js';
import { randomBatch, randomLengths, rng, methodReference } from '../random.js';

const engine = await sharedEngine();
const ctx = (engine as unknown as { ctx: GpuContext }).ctx;

async function quantizeOnGpu(data: Float32Array, dim: number, sourceRows: Uint32Array | null, rows: number, outRows: number) {
  const DP = packedRowBytes(dim);
  const transient: GPUBuffer[] = [];
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const fill = (bytes: number, label: string) => {
    // Poisoned, so unwritten output shows.
    const buffer = ctx.upload(new Float32Array(bytes / 4).fill(-12345.5), label, GPUBufferUsage.COPY_SRC);
    transient.push(buffer);
    return buffer;
  };
  const src = ctx.upload(data, 'src');
  transient.push(src);
  const packed = fill(outRows * DP, 'packed');
  const scales = fill(outRows * 4, 'scales');
  const dequantized = fill(data.length * 4, 'dequantized');
  const pipeline = await quantizePipeline(ctx);
  const encoder = ctx.createEncoder('quantize test');
  const pass = ctx.beginPass(encoder, 'test');
  encodeQuantize(ctx, pass, pipeline, {
    src, srcBase: 0, dim, rows, outRows, packed, scales, dequantized,
    sourceRows: sourceRows ? (transient.push(ctx.upload(sourceRows, 'rows')), transient[transient.length - 1]) : undefined,
  }, transient);
  pass.end();
  ctx.submit(encoder);
  const q = new Int8Array((await ctx.readFloat32(packed, 0, outRows * DP / 4)).buffer);
  const s = await ctx.readFloat32(scales, 0, outRows);
  const dq = await ctx.readFloat32(dequantized, 0, data.length);
  transient.forEach((b) => ctx.pool.release(b));
  return { q, s, dq, DP };
}

describe('int8 quantisation kernel', () => {
  it.each([[13, 5], [64, 9], [100, 3]])('D = %i: q, scales and dequantised rows match the reference; padding is zero', async (dim, rows) => {
    const next = rng(dim);
    const data = Float32Array.from({ length: rows * dim }, () => (next() - 0.5) * (next() < 0.1 ? 3 : 0.2));
    data.fill(0, dim, 2 * dim); // an all-zero row: scale 0, q 0
    const ref = quantizeRowsRef(data, dim, Array.from({ length: rows }, (_, i) => i));
    const gpu = await quantizeOnGpu(data, dim, null, rows, rows + 16);
    expect(gpu.DP).toBe(ref.packedRowBytes);
    expect(Array.from(gpu.q.subarray(0, rows * gpu.DP))).toEqual(Array.from(ref.q));
    expect(gpu.q.subarray(rows * gpu.DP).every((v) => v === 0)).toBe(true);
    expect(Array.from(gpu.s.subarray(0, rows))).toEqual(Array.from(ref.scales));
    expect(gpu.s.subarray(rows).every((v) => v === 0)).toBe(true);
    expect(Array.from(gpu.dq)).toEqual(Array.from(ref.dequantized));
    expect(Math.max(...Array.from(gpu.q).map(Math.abs))).toBe(127);
  });

  it('gathers packed rows through sourceRows and writes dequantised rows back in place', async () => {
    const dim = 40;
    const next = rng(5);
    const data = Float32Array.from({ length: 6 * dim }, () => next() - 0.5);
    const order = Uint32Array.of(4, 0, 5);
    const ref = quantizeRowsRef(data, dim, order);
    const gpu = await quantizeOnGpu(data, dim, order, 3, 5);
    expect(Array.from(gpu.q.subarray(0, 3 * gpu.DP))).toEqual(Array.from(ref.q));
    for (const [i, row] of [...order].entries()) {
      expect(Array.from(gpu.dq.subarray(row * dim, (row + 1) * dim))).toEqual(Array.from(ref.dequantized.subarray(i * dim, (i + 1) * dim)));
    }
    expect(gpu.dq.subarray(1 * dim, 2 * dim).every((v) => v === -12345.5)).toBe(true); // row 1 is not a packed word
  });
});

const METHODS: SimilarityOptions[] = [
  { method: 'naaf', threshold: 0.3 }, { method: 'naaf', threshold: 0.3, intra: false }, { method: 'scan-t2i' }, { method: 'scan-i2t' },
];

describe("precision 'int8' (dot4 on this device)", () => {
  it('reports the int8 product it found', async () => {
    expect(['dot4', 'subgroup-matrix']).toContain(await ctx.int8Product());
  });

  it.each([
    { D: 37, kernel: 'fused', tile: {} }, { D: 64, kernel: 'fused', tile: { images: 3 } }, { D: 64, kernel: 'fused', tile: { depth: 4 } },
    { D: 37, kernel: 'split', tile: {} }, { D: 64, kernel: 'split', tile: { depth: 32, gemmRows: 64 } },
  ] as const)('every method equals the float64 method on the dequantised embeddings (D=$D, $kernel kernel, tile $tile)', async ({ D, kernel, tile }) => {
    const b = randomBatch(61 + D, 5, 9, randomLengths(62, 8, 1, 10), 10, D);
    const dq = dequantizedBatch(b);
    const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
    const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
    for (const options of METHODS) {
      const merged = { ...options, precision: 'int8-dot4', kernel, tile } as SimilarityOptions;
      const sims = await engine.similarity(images, captions, merged);
      expect(maxAbsDiff(sims, methodReference(dq, options)), JSON.stringify(merged)).toBeLessThan(1e-5);
      // And it is an approximation of f32 NAAF: close, not equal.
      const drift = maxAbsDiff(sims, methodReference(b, options));
      expect(drift).toBeLessThan(0.05);
      expect(drift).toBeGreaterThan(1e-5);
    }
    const chunked = await engine.similarity(images, captions, { ...METHODS[0], precision: 'int8', kernel, maxImagesPerChunk: 2, maxCaptionsPerChunk: 3 } as SimilarityOptions);
    expect(maxAbsDiff(chunked, methodReference(dq, METHODS[0]))).toBeLessThan(1e-5);
  });

  it('rejects an unknown precision, and the subgroup-matrix kernel where the device lacks it', async () => {
    const b = randomBatch(70, 1, 4, [2], 2, 8);
    const images = { data: b.images, shape: [1, 4, 8] as const };
    const captions = { data: b.captions, shape: [1, 2, 8] as const, lengths: b.lengths };
    await expect(engine.similarity(images, captions, { method: 'scan-t2i', precision: 'int4' as never }))
      .rejects.toThrow(/options\.precision must be one of 'f32', 'f16', 'int8', 'int8-dot4', 'int8-subgroup-matrix', got "int4"/);
    if (await ctx.int8Product() !== 'subgroup-matrix') {
      await expect(engine.similarity(images, captions, { method: 'scan-t2i', precision: 'int8-subgroup-matrix' }))
        .rejects.toThrow(/needs the device feature chromium-experimental-subgroup-matrix .*allow_unsafe_apis/);
    }
  });
});
