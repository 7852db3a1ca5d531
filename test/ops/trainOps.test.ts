// Training ops against float64 references and central finite differences: l2norm and
// embedding backwards, the triplet loss and its gradient, clipped Adam.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { encodeTripletLoss } from '../../src/ops/loss.js';
import { encodeAdam, encodeSumSquares } from '../../src/ops/optim.js';
import { encodeEmbeddingBackward, encodeL2normRowsBackward } from '../../src/ops/rowsBackward.js';
import { l2normRowsRef } from '../../src/ref/encoders.js';
import { adamStepRef, embeddingBackwardRef, l2normRowsBackwardRef, tripletLossRef } from '../../src/ref/train.js';
import { maxAbsDiff } from '../fixtures.js';
import { sharedEngine } from '../gpu.js';
import { rng } from '../random.js';
import type { GpuPass } from '../../src/gpu/pass.js';

const engine = await sharedEngine();
const ctx = (engine as unknown as { ctx: GpuContext }).ctx;

function uniform(seed: number, count: number, scale = 1): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: count }, () => (next() * 2 - 1) * scale);
}

/** Central differences of a float64 scalar function at x. */
function finiteDifferences(x: Float64Array, f: (x: Float64Array) => number, h = 1e-6): Float64Array {
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const keep = x[i];
    x[i] = keep + h; const up = f(x);
    x[i] = keep - h; const down = f(x);
    x[i] = keep;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

async function gpu(outputs: number[], encode: (pass: GpuPass, outs: GPUBuffer[], transient: GPUBuffer[]) => Promise<void>): Promise<Float32Array[]> {
  const outs = outputs.map((n) => ctx.pool.acquire(n * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, 'out'));
  const transient = [...outs];
  const encoder = ctx.createEncoder('test');
  outs.forEach((b, i) => encoder.clearBuffer(b, 0, outputs[i] * 4));
  const pass = ctx.beginPass(encoder, 'test');
  await encode(pass, outs, transient);
  pass.end();
  ctx.submit(encoder);
  const results = [];
  for (let i = 0; i < outs.length; i++) results.push(await ctx.readFloat32(outs[i], 0, outputs[i]));
  transient.forEach((b) => ctx.pool.release(b));
  return results;
}

describe('l2norm backward', () => {
  for (const pairMean of [false, true]) {
    it(`matches finite differences and runs on the GPU${pairMean ? ' (pair mean)' : ''}`, async () => {
      const [rows, cols] = [5, 9];
      const x = uniform(1, (pairMean ? 2 : 1) * rows * cols, 2);
      x.fill(0, 2 * cols, 3 * cols); // an all-zero row (padding) in the first half
      if (pairMean) x.fill(0, (rows + 2) * cols, (rows + 3) * cols);
      const dy = uniform(2, rows * cols);
      dy.fill(0, 2 * cols, 3 * cols); // padding gets no upstream gradient (dy / eps would be 1e8 * dy)
      const forward = (v: Float64Array) => {
        const input = pairMean ? Float64Array.from({ length: rows * cols }, (_, i) => 0.5 * (v[i] + v[rows * cols + i])) : Float64Array.from(v);
        return l2normRowsRef(input, cols).reduce((s, y, i) => s + y * dy[i], 0);
      };
      const reference = l2normRowsBackwardRef(x, dy, rows, cols, pairMean);
      const fd = finiteDifferences(Float64Array.from(x), forward);
      expect(maxAbsDiff(reference, fd)).toBeLessThan(1e-6);
      const [result] = await gpu([x.length], async (pass, [out], transient) => {
        const [gx, gdy] = [ctx.upload(x, 'x'), ctx.upload(dy, 'dy')];
        transient.push(gx, gdy);
        await encodeL2normRowsBackward(ctx, pass, { rows, cols, x: gx, gradOut: gdy, gradIn: out, pairMean }, transient);
      });
      expect(maxAbsDiff(result, reference)).toBeLessThan(1e-5);
    });
  }
});

describe('embedding backward', () => {
  it('sums the rows of repeated ids, skips excluded positions, accumulates', async () => {
    const ids = [3, 1, 3, 0, 3, 2, 1];
    const include = (p: number) => p !== 5;
    const [vocab, dim] = [6, 4];
    const dOut = uniform(3, ids.length * dim);
    const start = uniform(4, vocab * dim);
    const out = ctx.upload(start, 'dTable');
    const g = ctx.upload(dOut, 'dOut');
    const transient = [out, g];
    const encoder = ctx.createEncoder('embedding bwd');
    const pass = ctx.beginPass(encoder, 'test');
    await encodeEmbeddingBackward(ctx, pass, { ids, include, dim, gradOut: g, gradTable: out }, transient);
    pass.end();
    const got = await ctx.readFloat32(out, 0, vocab * dim, encoder);
    transient.forEach((b) => ctx.pool.release(b));
    const expected = embeddingBackwardRef(ids, include, dOut, vocab, dim).map((v, i) => v + start[i]);
    expect(maxAbsDiff(got, expected)).toBeLessThan(1e-6);
    // Row 2 is used only at the excluded position and row 4, 5 never: unchanged.
    expect(maxAbsDiff(got.subarray(2 * dim, 3 * dim), start.subarray(2 * dim, 3 * dim))).toBe(0);
  });
});

describe('triplet loss', () => {
  for (const maxViolation of [true, false]) {
    it(`loss and gradient (max_violation ${maxViolation}) against the reference and finite differences`, async () => {
      const B = 9;
      const sims = uniform(5 + Number(maxViolation), B * B, 0.5);
      for (let i = 0; i < B; i++) sims[i * B + i] += 0.3; // positives a bit higher: a mix of active costs
      const reference = tripletLossRef(sims, B, 0.2, maxViolation);
      const fd = finiteDifferences(Float64Array.from(sims), (s) => tripletLossRef(s, B, 0.2, maxViolation).loss);
      expect(maxAbsDiff(reference.grad, fd)).toBeLessThan(1e-6);
      const [grad, loss] = await gpu([B * B, 1], async (pass, [g, l], transient) => {
        const s = ctx.upload(sims, 'sims');
        transient.push(s);
        await encodeTripletLoss(ctx, pass, { batch: B, margin: 0.2, maxViolation, sims: s, gradSims: g, loss: l }, transient);
      });
      expect(Math.abs(loss[0] - reference.loss)).toBeLessThan(1e-5);
      expect(maxAbsDiff(grad, reference.grad)).toBe(0);
    });
  }
});

describe('clipped Adam', () => {
  for (const maxNorm of [2, null, 1000]) {
    it(`three steps match torch's formulas (clip ${maxNorm})`, async () => {
      const count = 3000;
      const weights = Float64Array.from(uniform(7, count));
      const m = new Float64Array(count);
      const v = new Float64Array(count);
      const gw = ctx.upload(Float32Array.from(weights), 'w');
      const gm = ctx.upload(new Float32Array(count), 'm');
      const gv = ctx.upload(new Float32Array(count), 'v');
      const normBuffer = ctx.pool.acquire(16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'norm');
      for (let step = 1; step <= 3; step++) {
        const grads = uniform(10 + step, count, 0.1);
        const extra = grads.subarray(0, 7); // a second buffer counts towards the norm
        const normSq = [...grads, ...extra].reduce((sum, g) => sum + g * g, 0);
        adamStepRef(weights, grads, m, v, { step, lr: 5e-4, maxNorm, normSq });
        const gg = ctx.upload(grads, 'g');
        const other = ctx.upload(extra, 'g2');
        const transient = [gg, other];
        const encoder = ctx.createEncoder('adam');
        const pass = ctx.beginPass(encoder, 'test');
        await encodeSumSquares(ctx, pass, [{ buffer: gg, count }, { buffer: other, count: 7 }], normBuffer, transient);
        await encodeAdam(ctx, pass, { count, step, lr: 5e-4, maxNorm, normSq: normBuffer, grads: gg, weights: gw, moment1: gm, moment2: gv }, transient);
        pass.end();
        const norm = await ctx.readFloat32(normBuffer, 0, 1, encoder);
        expect(norm[0]).toBeCloseTo(normSq, 3);
        transient.forEach((b) => ctx.pool.release(b));
      }
      expect(maxAbsDiff(await ctx.readFloat32(gw, 0, count), weights)).toBeLessThan(1e-6);
      expect(maxAbsDiff(await ctx.readFloat32(gm, 0, count), m)).toBeLessThan(1e-7);
      [gw, gm, gv, normBuffer].forEach((b) => ctx.pool.release(b));
    });
  }
});
