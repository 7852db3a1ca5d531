// The opt-in int8 path: the quantisation kernel against what any conforming GPU must give, and
// int8 similarities against the float64 method applied to this GPU's own dequantised
// embeddings (what the path computes, read back from the kernel).
// lavapipe runs the dot4 product; the subgroup-matrix product needs a GPU with int8 tensor
// cores and is checked against dot4 bit for bit by bench/int8.bench.mjs there.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { packedRowBytes } from '../../src/ops/quantize.js';
import { quantizeRowsRef } from '../../src/ref/quantize.js';
import { gpuLowPrecisionBatch, quantizeOnGpu } from '../lowPrecision.js';
import type { SimilarityOptions } from '../../src/types.js';
import { maxAbsDiff } from '../fixtures.js';
import { ALL_VARIANTS, sharedEngine } from '../gpu.js';
import { randomBatch, randomLengths, rng, methodReference } from '../random.js';

const engine = await sharedEngine();
const ctx = (engine as unknown as { ctx: GpuContext }).ctx;

describe('int8 quantisation kernel', () => {
  // What any conforming GPU gives: WGSL divides to 2.5 ULP (the scale's reciprocal), so q may
  // differ from a correctly rounded reference by one step at a rounding boundary; the checks
  // below hold for every such GPU, and the reference is met exactly where division is correctly
  // rounded (lavapipe).
  it.each([[13, 5], [64, 9], [100, 3]])('D = %i: scales, q within the rounding and dequantised rows q * scale; padding is zero', async (dim, rows) => {
    const next = rng(dim);
    const data = Float32Array.from({ length: rows * dim }, () => (next() - 0.5) * (next() < 0.1 ? 3 : 0.2));
    data.fill(0, dim, 2 * dim); // an all-zero row: scale 0, q 0
    const ref = quantizeRowsRef(data, dim, Array.from({ length: rows }, (_, i) => i));
    const gpu = await quantizeOnGpu(ctx, data, dim, 'int8', null, rows, rows + 16);
    const DP = packedRowBytes(dim);
    expect(gpu.rowWords * 4).toBe(ref.packedRowBytes);
    const q = new Int8Array(gpu.words.buffer);
    for (let r = 0; r < rows; r++) {
      let maxAbs = 0;
      for (let d = 0; d < dim; d++) maxAbs = Math.max(maxAbs, Math.abs(data[r * dim + d]));
      expect(Math.abs(gpu.scales[r] - maxAbs / 127)).toBeLessThanOrEqual((maxAbs / 127) * 2 ** -21); // one division: 2.5 ULP
      let peak = 0;
      for (let d = 0; d < DP; d++) {
        const value = q[r * DP + d];
        if (d >= dim) { expect(value, `row ${r} pad ${d}`).toBe(0); continue; }
        const exact = maxAbs > 0 ? (data[r * dim + d] * 127) / maxAbs : 0;
        expect(Math.abs(value - exact), `row ${r} d ${d}`).toBeLessThanOrEqual(0.5 + 1e-5 * Math.abs(exact));
        expect(gpu.dequantized[r * dim + d] === Math.fround(value * gpu.scales[r]), `row ${r} d ${d}: q * scale`).toBe(true); // -0 and 0 alike
        peak = Math.max(peak, Math.abs(value));
      }
      expect(peak).toBe(maxAbs > 0 ? 127 : 0);
    }
    expect(q.subarray(rows * DP).every((v) => v === 0)).toBe(true);
    expect(gpu.scales.subarray(rows).every((v) => v === 0)).toBe(true);
    // And where division is correctly rounded (this machine's lavapipe), exactly the reference.
    if (/llvmpipe/i.test(`${engine.info.device} ${engine.info.description}`)) {
      expect(Array.from(q.subarray(0, rows * DP))).toEqual(Array.from(ref.q));
      expect(Array.from(gpu.dequantized)).toEqual(Array.from(ref.dequantized));
    }
  });

  it('gathers packed rows through sourceRows and writes dequantised rows back in place', async () => {
    const dim = 40;
    const next = rng(5);
    const data = Float32Array.from({ length: 6 * dim }, () => next() - 0.5);
    const order = Uint32Array.of(4, 0, 5);
    const gpu = await quantizeOnGpu(ctx, data, dim, 'int8', order, 3, 5);
    const alone = await quantizeOnGpu(ctx, data, dim, 'int8', null, 6, 6);
    const DP = packedRowBytes(dim) / 4;
    for (const [i, row] of [...order].entries()) {
      expect(Array.from(gpu.words.subarray(i * DP, (i + 1) * DP))).toEqual(Array.from(alone.words.subarray(row * DP, (row + 1) * DP)));
      expect(gpu.scales[i]).toBe(alone.scales[row]);
      expect(Array.from(gpu.dequantized.subarray(row * dim, (row + 1) * dim))).toEqual(Array.from(alone.dequantized.subarray(row * dim, (row + 1) * dim)));
    }
    expect(gpu.dequantized.subarray(1 * dim, 2 * dim).every((v) => v === -12345.5)).toBe(true); // row 1 is not a packed word
    expect(gpu.words.subarray(3 * DP).every((v) => v === 0)).toBe(true); // rows 3, 4: zero padding
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
    // ({ depth: 4 } fused: with ALL_VARIANTS; the other tiles cover the fused kernel's loops here.)
    { D: 37, kernel: 'fused', tile: {} }, { D: 64, kernel: 'fused', tile: { images: 3 } }, ...(ALL_VARIANTS ? [{ D: 64, kernel: 'fused', tile: { depth: 4 } }] : []),
    { D: 37, kernel: 'split', tile: {} }, { D: 64, kernel: 'split', tile: { depth: 32, gemmRows: 64 } },
  ] as const)('every method equals the float64 method on the dequantised embeddings (D=$D, $kernel kernel, tile $tile)', async ({ D, kernel, tile }) => {
    const b = randomBatch(61 + D, 5, 9, randomLengths(62, 8, 1, 10), 10, D);
    const dq = await gpuLowPrecisionBatch(ctx, b, 'int8'); // the values this GPU computes with
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
