// Training path of the bidirectional GRU (src/ops/gru.ts): a forward that keeps the gate
// activations (kernels/gru_step.wgsl with STORE_GATES), and backpropagation through time: per
// step one kernels/gru_step.bwd.wgsl dispatch (gate gradients) and a tiled matmul per direction
// for the recurrent gradient passed to the earlier step; then matmul for dW_ih, dW_hh and dx
// over all steps at once, and kernels/colsum.wgsl for the biases.
import colsumWgsl from '../../kernels/colsum.wgsl';
import gruStepBwdWgsl from '../../kernels/gru_step.bwd.wgsl';
import type { GpuContext } from '../gpu/context.js';
import { activeCaptions, encodeBiGru, type GruArgs, type GruWeights } from './gru.js';
import { encodeMatmul } from './matmul.js';
import type { GpuPass } from '../gpu/pass.js';

/** What the backward needs beyond the forward's inputs and outputs. Release with releaseGruTrainCache. */
export interface GruTrainCache {
  /** [2][M, L, 4H]: r, z, n and hn = W_hn h_prev + b_hn per position; unwritten past each caption's length. */
  gates: GPUBuffer;
  captions: number;
  maxWords: number;
  hidden: number;
}

export interface GruBackwardArgs {
  captions: number;
  maxWords: number;
  lengths: GPUBuffer; // u32 [M]
  maxLength: number;
  input: GPUBuffer; // [M, L, in], as given to the forward
  hiddenOut: GPUBuffer; // [2][M, L, H] from encodeBiGruTrainForward
  cache: GruTrainCache;
  gradHidden: GPUBuffer; // [2][M, L, H], zero at padded positions
  /** The lengths on the CPU (see GruArgs.hostLengths). */
  hostLengths?: ArrayLike<number>;
}

export interface GruGrads {
  /** [M, L, in], overwritten (zero at padded positions). */
  input: GPUBuffer;
  /** The rest have the weights' [2][...] layouts and are accumulated into (+=). */
  weightIH: GPUBuffer;
  weightHH: GPUBuffer;
  biasIH: GPUBuffer;
  biasHH: GPUBuffer;
}

export interface ColumnSumArgs {
  rows: number;
  cols: number;
  x: GPUBuffer; xBase?: number; // element offsets
  out: GPUBuffer; outBase?: number;
  accumulate?: boolean;
}

// A function: GPUBufferUsage is a global only once the runtime has been loaded.
const scratchUsage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

function requireCount(what: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${what}: ${name} must be a positive integer, got ${value}`);
}

function requireBytes(what: string, name: string, buffer: GPUBuffer, elements: number, elementBase = 0): void {
  const bytes = (elementBase + elements) * 4;
  if (buffer.size < bytes) {
    throw new Error(`${what}: ${name} must hold at least ${bytes} bytes (${elementBase} + ${elements} 32-bit elements), got a buffer of ${buffer.size}`);
  }
}

function checkShapes(what: string, weights: GruWeights, M: number, L: number, maxLength: number): void {
  requireCount(what, 'captions', M);
  requireCount(what, 'maxWords', L);
  requireCount(what, 'weights.hidden', weights.hidden);
  requireCount(what, 'weights.inputSize', weights.inputSize);
  if (!Number.isInteger(maxLength) || maxLength < 0 || maxLength > L) {
    throw new Error(`${what}: maxLength must be an integer in [0, maxWords = ${L}], got ${maxLength}`);
  }
  const H = weights.hidden;
  const I = weights.inputSize;
  requireBytes(what, 'weights.weightIH', weights.weightIH, 2 * 3 * H * I);
  requireBytes(what, 'weights.weightHH', weights.weightHH, 2 * 3 * H * H);
  requireBytes(what, 'weights.biasIH', weights.biasIH, 2 * 3 * H);
  requireBytes(what, 'weights.biasHH', weights.biasHH, 2 * 3 * H);
}

/**
 * Same work and outputs as encodeBiGru (hiddenOut [2][M, L, H] zeroed then written, gatesX
 * scratch), plus the gate cache for encodeBiGruBackward. The cache's buffer comes from the pool
 * and is not put in `transient`: it must outlive this encoder until the backward has been submitted.
 */
export async function encodeBiGruTrainForward(ctx: GpuContext, encoder: GPUCommandEncoder, weights: GruWeights, args: GruArgs, transient: GPUBuffer[]): Promise<GruTrainCache> {
  const what = 'encodeBiGruTrainForward';
  const { captions: M, maxWords: L } = args;
  checkShapes(what, weights, M, L, args.maxLength);
  const H = weights.hidden;
  const rows = M * L;
  requireBytes(what, 'args.input', args.input, rows * weights.inputSize);
  requireBytes(what, 'args.lengths', args.lengths, M);
  requireBytes(what, 'args.gatesX', args.gatesX, 2 * rows * 3 * H);
  requireBytes(what, 'args.hiddenOut', args.hiddenOut, 2 * rows * H);
  const gates = ctx.pool.acquire(2 * rows * 4 * H * 4, scratchUsage(), 'gru gate cache');
  await encodeBiGru(ctx, encoder, weights, args, transient, gates);
  return { gates, captions: M, maxWords: L, hidden: H };
}

/** Returns the cache's buffer to the pool (after the backward that reads it has been submitted). */
export function releaseGruTrainCache(ctx: GpuContext, cache: GruTrainCache): void {
  ctx.pool.release(cache.gates);
}

/**
 * BPTT of the bi-GRU: grads.input = dL/dx (overwritten), the weight and bias gradients summed
 * over captions and steps and added to what the grads buffers hold. Scratch buffers go to `transient`.
 */
export async function encodeBiGruBackward(ctx: GpuContext, encoder: GPUCommandEncoder, weights: GruWeights, args: GruBackwardArgs, grads: GruGrads, transient: GPUBuffer[]): Promise<void> {
  const what = 'encodeBiGruBackward';
  const { captions: M, maxWords: L, cache } = args;
  checkShapes(what, weights, M, L, args.maxLength);
  const H = weights.hidden;
  const I = weights.inputSize;
  const G = 3 * H;
  const rows = M * L;
  if (cache.captions !== M || cache.maxWords !== L || cache.hidden !== H) {
    throw new Error(`${what}: args.cache must come from a forward with captions ${M}, maxWords ${L}, hidden ${H}; got ${cache.captions}, ${cache.maxWords}, ${cache.hidden}`);
  }
  requireBytes(what, 'args.lengths', args.lengths, M);
  requireBytes(what, 'args.input', args.input, rows * I);
  requireBytes(what, 'args.hiddenOut', args.hiddenOut, 2 * rows * H);
  requireBytes(what, 'args.cache.gates', cache.gates, 2 * rows * 4 * H);
  requireBytes(what, 'args.gradHidden', args.gradHidden, 2 * rows * H);
  requireBytes(what, 'grads.input', grads.input, rows * I);
  requireBytes(what, 'grads.weightIH', grads.weightIH, 2 * G * I);
  requireBytes(what, 'grads.weightHH', grads.weightHH, 2 * G * H);
  requireBytes(what, 'grads.biasIH', grads.biasIH, 2 * G);
  requireBytes(what, 'grads.biasHH', grads.biasHH, 2 * G);

  const gatePipeline = await ctx.pipeline('gru_step.bwd', [{ name: 'kernels/gru_step.bwd.wgsl', code: gruStepBwdWgsl }], {});
  // dgx [2][rows, 3H], dgh [2][rows, 3H] and this step's dgh [2][M, 3H] in one buffer (keeps
  // the step kernel within 8 storage bindings, the WebGPU default limit); zero where no step
  // writes, so the sums below skip padding.
  const gradFloats = 2 * 2 * rows * G + 2 * M * G;
  const gateGrads = ctx.pool.acquire(gradFloats * 4, scratchUsage(), 'gru gate grads');
  const hPrev = ctx.pool.acquire(2 * rows * H * 4, scratchUsage(), 'gru h_prev');
  const carry = ctx.pool.acquire(2 * M * H * 4, scratchUsage(), 'gru dh carry');
  transient.push(gateGrads, hPrev, carry);
  encoder.clearBuffer(gateGrads, 0, gradFloats * 4);
  encoder.clearBuffer(hPrev, 0, 2 * rows * H * 4);
  encoder.clearBuffer(carry, 0, 2 * M * H * 4);

  const pass = ctx.beginPass(encoder, 'bi-gru backward');
  const bindings = [args.lengths, args.gradHidden, cache.gates, args.hiddenOut, null, gateGrads, hPrev, carry];
  const active = activeCaptions(M, args.maxLength, args.hostLengths);
  for (let step = args.maxLength - 1; step >= 0; step--) {
    const uniforms = ctx.uniforms([[M, 'u32'], [L, 'u32'], [H, 'u32'], [step, 'u32']], 'gru bwd step params');
    transient.push(uniforms);
    // Captions that start later (shorter ones) still need their step gradients zeroed: all M.
    ctx.dispatch(pass, gatePipeline, ctx.bindGroup(gatePipeline, [uniforms, ...bindings], 'gru_step.bwd'), Math.ceil(H / 64), M, 2);
    // carry += dgh W_hh for the earlier step (step 0 has none): [active, 3H] x [3H, H].
    if (step === 0) continue;
    await encodeMatmul(ctx, pass, { accumulate: true }, {
      M: active[step], N: H, K: G, a: gateGrads, aBase: 2 * 2 * rows * G, b: weights.weightHH, c: carry,
      batch: { count: 2, a: M * G, b: G * H, c: M * H },
    }, transient, 'matmul gru.bwd recurrent');
  }

  const dghBase = 2 * rows * G;
  // Both directions batched per product: dW_ih[d] += dgx[d]^T x ([3H, rows] x [rows, I]);
  // dW_hh[d] += dgh[d]^T h_prev[d] ([3H, rows] x [rows, H]); dx = sum_d dgx[d] W_ih[d]
  // ([rows, 3H] x [3H, I]), the second direction accumulated onto the first.
  await encodeMatmul(ctx, pass, { transA: true, accumulate: true }, {
    M: G, N: I, K: rows, a: gateGrads, b: args.input, c: grads.weightIH, batch: { count: 2, a: rows * G, b: 0, c: G * I },
  }, transient, 'matmul gru.bwd weights');
  await encodeMatmul(ctx, pass, { transA: true, accumulate: true }, {
    M: G, N: H, K: rows, a: gateGrads, aBase: dghBase, b: hPrev, c: grads.weightHH, batch: { count: 2, a: rows * G, b: rows * H, c: G * H },
  }, transient, 'matmul gru.bwd weights');
  for (let direction = 0; direction < 2; direction++) {
    const dgxAt = direction * rows * G;
    const dghAt = dghBase + direction * rows * G;
    await encodeMatmul(ctx, pass, { accumulate: direction === 1 }, {
      M: rows, N: I, K: G, a: gateGrads, aBase: dgxAt, b: weights.weightIH, bBase: direction * G * I, c: grads.input,
    }, transient, 'matmul gru.bwd input');
    await encodeColumnSum(ctx, pass, { rows, cols: G, x: gateGrads, xBase: dgxAt, out: grads.biasIH, outBase: direction * G, accumulate: true }, transient);
    await encodeColumnSum(ctx, pass, { rows, cols: G, x: gateGrads, xBase: dghAt, out: grads.biasHH, outBase: direction * G, accumulate: true }, transient);
  }
  pass.end();
}

/** out[outBase + c] (+)= sum over rows of x[xBase + r * cols + c] (kernels/colsum.wgsl). */
export async function encodeColumnSum(ctx: GpuContext, pass: GpuPass, args: ColumnSumArgs, transient: GPUBuffer[]): Promise<void> {
  const what = 'encodeColumnSum';
  requireCount(what, 'rows', args.rows);
  requireCount(what, 'cols', args.cols);
  const xBase = args.xBase ?? 0;
  const outBase = args.outBase ?? 0;
  requireBytes(what, 'x', args.x, args.rows * args.cols, xBase);
  requireBytes(what, 'out', args.out, args.cols, outBase);
  if (args.x === args.out) throw new Error(`${what}: x and out must be different buffers, got the same one for both`);
  const pipeline = await ctx.pipeline('colsum', [{ name: 'kernels/colsum.wgsl', code: colsumWgsl }], { ACCUMULATE: !!args.accumulate });
  const uniforms = ctx.uniforms([[args.rows, 'u32'], [args.cols, 'u32'], [xBase, 'u32'], [outBase, 'u32']], 'colsum params');
  transient.push(uniforms);
  ctx.dispatch(pass, pipeline, ctx.bindGroup(pipeline, [uniforms, args.x, args.out], 'colsum'), Math.ceil(args.cols / 32));
}
