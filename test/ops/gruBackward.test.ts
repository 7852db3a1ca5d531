// Bi-GRU backpropagation through time: the float64 analytic reference against finite
// differences of biGruRef, the GPU training forward against encodeBiGru, the GPU gradients
// against the reference and against float32 finite differences, and the column-sum kernel.
// Every check uses the scalar loss L = sum(dOut * out), dOut random and zero at padded positions.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { encodeBiGru } from '../../src/ops/gru.js';
import type { GruWeights } from '../../src/ops/gru.js';
import { encodeBiGruBackward, encodeBiGruTrainForward, encodeColumnSum, releaseGruTrainCache } from '../../src/ops/gruBackward.js';
import { biGruRef } from '../../src/ref/encoders.js';
import type { GruRefWeights } from '../../src/ref/encoders.js';
import { biGruBackwardRef } from '../../src/ref/gruBackward.js';
import type { GruRefGrads } from '../../src/ref/gruBackward.js';
import { maxAbsDiff } from '../fixtures.js';
import { sharedEngine } from '../gpu.js';
import { rng } from '../random.js';

const engine = await sharedEngine();
const ctx = (engine as unknown as { ctx: GpuContext }).ctx;
const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

type Pair = [Float32Array, Float32Array];
interface Case {
  M: number; L: number; I: number; H: number; lengths: number[];
  weights: { weightIH: Pair; weightHH: Pair; biasIH: Pair; biasHH: Pair; inputSize: number; hidden: number };
  input: Float32Array; // [M, L, I], zero at padded positions like a real embedded caption
  gradHidden: Float32Array; // dOut [2][M, L, H], zero at padded positions
}

function uniform(seed: number, count: number, scale = 1): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: count }, () => (next() * 2 - 1) * scale);
}

function makeCase(seed: number, M: number, L: number, I: number, H: number, lengths: number[], scale: number): Case {
  const pair = (s: number, n: number): Pair => [uniform(s, n, scale), uniform(s + 1, n, scale)];
  const input = uniform(seed + 8, M * L * I);
  const gradHidden = uniform(seed + 9, 2 * M * L * H);
  for (let m = 0; m < M; m++) {
    input.fill(0, (m * L + lengths[m]) * I, (m + 1) * L * I);
    for (let d = 0; d < 2; d++) gradHidden.fill(0, ((d * M + m) * L + lengths[m]) * H, ((d * M + m) * L + L) * H);
  }
  return {
    M, L, I, H, lengths, input, gradHidden,
    weights: {
      weightIH: pair(seed, 3 * H * I), weightHH: pair(seed + 2, 3 * H * H),
      biasIH: pair(seed + 4, 3 * H), biasHH: pair(seed + 6, 3 * H), inputSize: I, hidden: H,
    },
  };
}

const concat = (pair: ArrayLike<number>[]) => Float32Array.from([...Array.from(pair[0]), ...Array.from(pair[1])]);
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((worst, v) => Math.max(worst, Math.abs(v)), 0);
/** Max abs difference scaled by the expected tensor's largest magnitude (at least 1). */
const scaledErr = (got: ArrayLike<number>, want: ArrayLike<number>) => maxAbsDiff(got, want) / Math.max(1, maxAbs(want));

function lossOf(out: ArrayLike<number>, gradHidden: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < out.length; i++) sum += out[i] * gradHidden[i];
  return sum;
}

/** Uploads a case's weights, input and lengths; the buffers go to `transient`. */
function uploadCase(c: Case, transient: GPUBuffer[]): { weights: GruWeights; input: GPUBuffer; lengths: GPUBuffer } {
  const w = c.weights;
  const bufs = [concat(w.weightIH), concat(w.weightHH), concat(w.biasIH), concat(w.biasHH), c.input, Uint32Array.from(c.lengths)]
    .map((d) => ctx.upload(d, 'gru case'));
  transient.push(...bufs);
  return {
    weights: { weightIH: bufs[0], weightHH: bufs[1], biasIH: bufs[2], biasHH: bufs[3], inputSize: c.I, hidden: c.H },
    input: bufs[4], lengths: bufs[5],
  };
}

/** The inference forward (encodeBiGru) alone: hidden outputs [2][M, L, H]. */
async function gpuForward(c: Case): Promise<Float32Array> {
  const transient: GPUBuffer[] = [];
  const { weights, input, lengths } = uploadCase(c, transient);
  const gatesX = ctx.pool.acquire(2 * c.M * c.L * 3 * c.H * 4, USAGE, 'gates');
  const out = ctx.pool.acquire(2 * c.M * c.L * c.H * 4, USAGE, 'out');
  transient.push(gatesX, out);
  const encoder = ctx.createEncoder('gru forward');
  await encodeBiGru(ctx, encoder, weights, { captions: c.M, maxWords: c.L, input, lengths, maxLength: Math.max(...c.lengths), gatesX, hiddenOut: out }, transient);
  const result = await ctx.readFloat32(out, 0, 2 * c.M * c.L * c.H, encoder);
  transient.forEach((b) => ctx.pool.release(b));
  return result;
}

interface GpuGrads { hidden: Float32Array; input: Float32Array; weightIH: Float32Array; weightHH: Float32Array; biasIH: Float32Array; biasHH: Float32Array }

/** Training forward + backward; weight and bias grads start from `prior` (they accumulate), dx from garbage. */
async function gpuTrain(c: Case, prior: Omit<GpuGrads, 'hidden' | 'input'>, host = false): Promise<GpuGrads> {
  const { M, L, I, H } = c;
  const transient: GPUBuffer[] = [];
  const { weights, input, lengths } = uploadCase(c, transient);
  const gatesX = ctx.pool.acquire(2 * M * L * 3 * H * 4, USAGE, 'gates');
  const hiddenOut = ctx.pool.acquire(2 * M * L * H * 4, USAGE, 'hidden');
  const gradHidden = ctx.upload(c.gradHidden, 'dOut');
  const grads = {
    input: ctx.upload(new Float32Array(M * L * I).fill(123), 'dx'),
    weightIH: ctx.upload(prior.weightIH, 'dW_ih'), weightHH: ctx.upload(prior.weightHH, 'dW_hh'),
    biasIH: ctx.upload(prior.biasIH, 'db_ih'), biasHH: ctx.upload(prior.biasHH, 'db_hh'),
  };
  transient.push(gatesX, hiddenOut, gradHidden, ...Object.values(grads));
  const encoder = ctx.createEncoder('gru train');
  const maxLength = Math.max(...c.lengths);
  // With the lengths on the CPU, sorted batches skip finished captions in the per-step products.
  const hostLengths = host ? c.lengths : undefined;
  const cache = await encodeBiGruTrainForward(ctx, encoder, weights, { captions: M, maxWords: L, input, lengths, maxLength, gatesX, hiddenOut, hostLengths }, transient);
  await encodeBiGruBackward(ctx, encoder, weights, { captions: M, maxWords: L, lengths, maxLength, input, hiddenOut, cache, gradHidden, hostLengths }, grads, transient);
  const hidden = await ctx.readFloat32(hiddenOut, 0, 2 * M * L * H, encoder);
  const read = (b: GPUBuffer, n: number) => ctx.readFloat32(b, 0, n);
  const result: GpuGrads = {
    hidden,
    input: await read(grads.input, M * L * I),
    weightIH: await read(grads.weightIH, 2 * 3 * H * I), weightHH: await read(grads.weightHH, 2 * 3 * H * H),
    biasIH: await read(grads.biasIH, 2 * 3 * H), biasHH: await read(grads.biasHH, 2 * 3 * H),
  };
  releaseGruTrainCache(ctx, cache);
  transient.forEach((b) => ctx.pool.release(b));
  return result;
}

const zeroPrior = (c: Case) => ({
  weightIH: new Float32Array(6 * c.H * c.I), weightHH: new Float32Array(6 * c.H * c.H),
  biasIH: new Float32Array(6 * c.H), biasHH: new Float32Array(6 * c.H),
});

describe('bi-GRU backward: float64 reference', () => {
  it('matches central finite differences of biGruRef for the input and every parameter', () => {
    const c = makeCase(100, 3, 5, 4, 3, [5, 2, 1], 0.8);
    // Float64 copies: the finite differences perturb these in place.
    const w64: GruRefWeights & Record<'weightIH' | 'weightHH' | 'biasIH' | 'biasHH', [Float64Array, Float64Array]> = {
      weightIH: [Float64Array.from(c.weights.weightIH[0]), Float64Array.from(c.weights.weightIH[1])],
      weightHH: [Float64Array.from(c.weights.weightHH[0]), Float64Array.from(c.weights.weightHH[1])],
      biasIH: [Float64Array.from(c.weights.biasIH[0]), Float64Array.from(c.weights.biasIH[1])],
      biasHH: [Float64Array.from(c.weights.biasHH[0]), Float64Array.from(c.weights.biasHH[1])],
      inputSize: c.I, hidden: c.H,
    };
    const x64 = Float64Array.from(c.input);
    const analytic: GruRefGrads = biGruBackwardRef(x64, c.M, c.L, c.lengths, w64, c.gradHidden);
    const loss = () => lossOf(biGruRef(x64, c.M, c.L, c.lengths, w64), c.gradHidden);
    const eps = 1e-5;
    const tensors: [string, Float64Array, Float64Array][] = [['input', x64, analytic.input]];
    for (const key of ['weightIH', 'weightHH', 'biasIH', 'biasHH'] as const) {
      for (const d of [0, 1]) tensors.push([`${key}[${d}]`, w64[key][d], analytic[key][d]]);
    }
    let worst = 0;
    for (const [name, values, grad] of tensors) {
      for (let i = 0; i < values.length; i++) {
        const keep = values[i];
        values[i] = keep + eps;
        const plus = loss();
        values[i] = keep - eps;
        const minus = loss();
        values[i] = keep;
        const err = Math.abs((plus - minus) / (2 * eps) - grad[i]) / Math.max(1, Math.abs(grad[i]));
        worst = Math.max(worst, err);
        if (!(err < 1e-6)) throw new Error(`${name}[${i}]: finite difference ${(plus - minus) / (2 * eps)} vs analytic ${grad[i]}`);
      }
    }
    console.log(`[gru-bwd] reference vs float64 FD: worst scaled error ${worst.toExponential(2)}`);
    // Padded input positions get exactly zero gradient.
    expect(Array.from(analytic.input.subarray((1 * c.L + 2) * c.I, 2 * c.L * c.I)).every((v) => v === 0)).toBe(true);
  });
});

describe('bi-GRU backward: GPU', () => {
  const shapes = [
    { seed: 200, M: 3, L: 6, I: 5, H: 7, lengths: [6, 1, 3], scale: 0.7 },
    { seed: 300, M: 3, L: 7, I: 9, H: 70, lengths: [1, 7, 4], scale: 0.25 },
    { seed: 400, M: 4, L: 6, I: 5, H: 9, lengths: [6, 4, 4, 1], scale: 0.7, host: true },
  ];
  for (const s of shapes) {
    it(`M=${s.M} L=${s.L} in=${s.I} H=${s.H} lengths [${s.lengths}]${s.host ? ' (sorted, lengths on the CPU)' : ''}: forward and gradients match the float64 reference`, async () => {
      const c = makeCase(s.seed, s.M, s.L, s.I, s.H, s.lengths, s.scale);
      const prior = { weightIH: uniform(1, 6 * s.H * s.I), weightHH: uniform(2, 6 * s.H * s.H), biasIH: uniform(3, 6 * s.H), biasHH: uniform(4, 6 * s.H) };
      const gpu = await gpuTrain(c, prior, s.host);
      // (c) the training forward computes exactly what encodeBiGru does.
      const inference = await gpuForward(c);
      const forwardDiff = maxAbsDiff(gpu.hidden, inference);
      expect(forwardDiff).toBeLessThan(1e-6);
      expect(maxAbsDiff(gpu.hidden, biGruRef(c.input, c.M, c.L, c.lengths, c.weights))).toBeLessThan(1e-5);

      const ref = biGruBackwardRef(c.input, c.M, c.L, c.lengths, c.weights, c.gradHidden);
      const plusPrior = (pair: [Float64Array, Float64Array], p: Float32Array) => Float64Array.from([...pair[0], ...pair[1]], (v, i) => v + p[i]);
      const errors = {
        input: scaledErr(gpu.input, ref.input),
        weightIH: scaledErr(gpu.weightIH, plusPrior(ref.weightIH, prior.weightIH)),
        weightHH: scaledErr(gpu.weightHH, plusPrior(ref.weightHH, prior.weightHH)),
        biasIH: scaledErr(gpu.biasIH, plusPrior(ref.biasIH, prior.biasIH)),
        biasHH: scaledErr(gpu.biasHH, plusPrior(ref.biasHH, prior.biasHH)),
      };
      console.log(`[gru-bwd] H=${s.H}: forward vs encodeBiGru ${forwardDiff}; scaled grad errors ${JSON.stringify(Object.fromEntries(Object.entries(errors).map(([k, v]) => [k, v.toExponential(2)])))}`);
      for (const [name, err] of Object.entries(errors)) expect(err, name).toBeLessThan(1e-5);
      // dx is overwritten (the buffer held 123s) and exactly zero at padded positions.
      for (let m = 0; m < c.M; m++) {
        const padded = gpu.input.subarray((m * c.L + c.lengths[m]) * c.I, (m + 1) * c.L * c.I);
        expect(Array.from(padded).every((v) => v === 0)).toBe(true);
      }
    });
  }

  it('gradients match float32 finite differences of the GPU forward on a few entries', async () => {
    const c = makeCase(400, 3, 6, 5, 7, [6, 1, 3], 0.7);
    const gpu = await gpuTrain(c, zeroPrior(c));
    const H = c.H;
    const I = c.I;
    // [what, the array perturbed in place, index, its gradient from the GPU]
    const picks: [string, Float32Array, number, number][] = [
      ['weightIH[0][r row 1, col 2]', c.weights.weightIH[0], 1 * I + 2, gpu.weightIH[1 * I + 2]],
      ['weightIH[1][n row 4, col 0]', c.weights.weightIH[1], (2 * H + 4) * I, gpu.weightIH[3 * H * I + (2 * H + 4) * I]],
      ['weightHH[0][z row 3, col 5]', c.weights.weightHH[0], (H + 3) * H + 5, gpu.weightHH[(H + 3) * H + 5]],
      ['weightHH[1][n row 6, col 1]', c.weights.weightHH[1], (2 * H + 6) * H + 1, gpu.weightHH[3 * H * H + (2 * H + 6) * H + 1]],
      ['biasIH[1][z 2]', c.weights.biasIH[1], H + 2, gpu.biasIH[3 * H + H + 2]],
      ['biasHH[0][n 5]', c.weights.biasHH[0], 2 * H + 5, gpu.biasHH[2 * H + 5]],
      ['input[m 2, t 1, 3]', c.input, (2 * c.L + 1) * I + 3, gpu.input[(2 * c.L + 1) * I + 3]],
    ];
    const eps = 1e-2;
    let worst = 0;
    for (const [name, values, index, grad] of picks) {
      const keep = values[index];
      values[index] = keep + eps;
      const up = values[index];
      const plus = lossOf(await gpuForward(c), c.gradHidden);
      values[index] = keep - eps;
      const down = values[index];
      const minus = lossOf(await gpuForward(c), c.gradHidden);
      values[index] = keep;
      const fd = (plus - minus) / (up - down); // the float32 step actually taken
      const err = Math.abs(fd - grad) / Math.max(1, Math.abs(grad));
      worst = Math.max(worst, err);
      expect(err, `${name}: finite difference ${fd} vs GPU ${grad}`).toBeLessThan(2e-3);
    }
    console.log(`[gru-bwd] GPU vs float32 FD (eps ${eps}): worst scaled error ${worst.toExponential(2)}`);
  });
});

describe('column sum', () => {
  for (const [rows, cols, xBase, outBase] of [[37, 70, 3, 2], [1, 5, 0, 0], [300, 33, 1, 0], [9, 1, 0, 4]]) {
    for (const accumulate of [false, true]) {
      it(`[${rows}, ${cols}] at offsets ${xBase}/${outBase}${accumulate ? ', accumulating' : ''}`, async () => {
        const x = uniform(rows + cols, xBase + rows * cols);
        const out0 = uniform(7, outBase + cols + 3);
        const expected = Float64Array.from(out0);
        for (let col = 0; col < cols; col++) {
          let sum = accumulate ? out0[outBase + col] : 0;
          for (let r = 0; r < rows; r++) sum += x[xBase + r * cols + col];
          expected[outBase + col] = sum;
        }
        const transient: GPUBuffer[] = [];
        const [gx, gout] = [ctx.upload(x, 'x'), ctx.upload(out0, 'out')];
        transient.push(gx, gout);
        const encoder = ctx.createEncoder('colsum');
        const pass = ctx.beginPass(encoder, 'test');
        await encodeColumnSum(ctx, pass, { rows, cols, x: gx, xBase, out: gout, outBase, accumulate }, transient);
        pass.end();
        const result = await ctx.readFloat32(gout, 0, out0.length, encoder);
        transient.forEach((b) => ctx.pool.release(b));
        // Entries outside [outBase, outBase + cols) are untouched.
        expect(maxAbsDiff(result, expected)).toBeLessThan(1e-5);
      });
    }
  }

  it('rejects a too-small x buffer, naming it', async () => {
    const gx = ctx.upload(new Float32Array(10), 'x'); // the pool rounds it up to 256 bytes
    const gout = ctx.upload(new Float32Array(4), 'out');
    const encoder = ctx.createEncoder('colsum bad');
    const pass = ctx.beginPass(encoder, 'test');
    await expect(encodeColumnSum(ctx, pass, { rows: 100, cols: 4, x: gx, out: gout }, [])).rejects.toThrow(/x must hold at least 1600 bytes/);
    pass.end();
    [gx, gout].forEach((b) => ctx.pool.release(b));
  });
});
