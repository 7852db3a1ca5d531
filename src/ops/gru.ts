// Launcher of the bidirectional GRU: input projections for every step by matmul, then per time
// step the recurrent products W_hh h + b_hh as one tiled matmul over every caption's latest
// state (both directions batched in one dispatch), and one kernels/gru_step.wgsl dispatch for the gates (both directions).
import gruStepWgsl from '../../kernels/gru_step.wgsl';
import type { GpuContext } from '../gpu/context.js';
import { encodeMatmul } from './matmul.js';

export interface GruWeights {
  /** [2][3H, in]: forward then reverse, rows r, z, n. */
  weightIH: GPUBuffer;
  /** [2][3H, H] */
  weightHH: GPUBuffer;
  /** [2][3H] */
  biasIH: GPUBuffer;
  /** [2][3H] */
  biasHH: GPUBuffer;
  inputSize: number;
  hidden: number;
}

export interface GruArgs {
  captions: number; maxWords: number;
  input: GPUBuffer; // [M, L, in]
  lengths: GPUBuffer; // u32 [M]
  maxLength: number; // the longest caption: steps to run
  gatesX: GPUBuffer; // scratch [2][M, L, 3H]
  hiddenOut: GPUBuffer; // [2][M, L, H], zeroed by this call
  /** The lengths on the CPU: where they never increase (a length-sorted batch), each step's products skip the finished captions. */
  hostLengths?: ArrayLike<number>;
}

/** Captions still running at each step: a prefix of the batch when lengths never increase, else all. */
export function activeCaptions(M: number, steps: number, hostLengths?: ArrayLike<number>): number[] {
  const sorted = !!hostLengths && Array.from({ length: M - 1 }, (_, i) => hostLengths[i] >= hostLengths[i + 1]).every(Boolean);
  return Array.from({ length: steps }, (_, k) => {
    if (!sorted) return M;
    let count = 0;
    while (count < M && hostLengths![count] > k) count++;
    return count;
  });
}

/**
 * Encodes the whole bi-GRU: hiddenOut zeroed, the input projections, then one step dispatch
 * per time step. With `gateCache` ([2][M, L, 4H]) the steps also keep r, z, n and
 * W_hn h + b_hn for the backward (src/ops/gruBackward.ts).
 */
export async function encodeBiGru(ctx: GpuContext, encoder: GPUCommandEncoder, weights: GruWeights, args: GruArgs, transient: GPUBuffer[],
  gateCache?: GPUBuffer): Promise<void> {
  const { captions: M, maxWords: L } = args;
  const H = weights.hidden;
  const rows = M * L;
  encoder.clearBuffer(args.hiddenOut, 0, 2 * rows * H * 4);
  const pipeline = await ctx.pipeline('gru_step', [{ name: 'kernels/gru_step.wgsl', code: gruStepWgsl }], { STORE_GATES: !!gateCache });
  let cache = gateCache;
  if (!cache) {
    cache = ctx.pool.acquire(16, GPUBufferUsage.STORAGE, 'gru no gate cache');
    transient.push(cache);
  }
  const gatesH = ctx.pool.acquire(Math.max(1, args.maxLength > 1 ? 2 * M * 3 * H : 1) * 4, GPUBufferUsage.STORAGE, 'gru hidden gates');
  const state = ctx.pool.acquire(2 * M * H * 4, GPUBufferUsage.STORAGE, 'gru state');
  transient.push(gatesH, state);
  const active = activeCaptions(M, args.maxLength, args.hostLengths);
  const pass = ctx.beginPass(encoder, 'bi-gru');
  // Both directions' input projections in one batched dispatch.
  await encodeMatmul(ctx, pass, { transB: true, bias: true }, {
    M: rows, N: 3 * H, K: weights.inputSize, a: args.input, b: weights.weightIH, bias: weights.biasIH, c: args.gatesX,
    batch: { count: 2, a: 0, b: 3 * H * weights.inputSize, bias: 3 * H, c: rows * 3 * H },
  }, transient, 'matmul gru input');
  for (let step = 0; step < args.maxLength; step++) {
    if (step > 0) {
      // gh = W_hh h + b_hh for the captions still running (h = 0 at step 0: gh = b_hh there), both directions in one dispatch.
      await encodeMatmul(ctx, pass, { transB: true, bias: true }, {
        M: active[step], N: 3 * H, K: H, a: state, b: weights.weightHH, bias: weights.biasHH, c: gatesH,
        batch: { count: 2, a: M * H, b: 3 * H * H, bias: 3 * H, c: M * 3 * H },
      }, transient, 'matmul gru recurrent');
    }
    const uniforms = ctx.uniforms([[M, 'u32'], [L, 'u32'], [H, 'u32'], [step, 'u32']], 'gru step params');
    transient.push(uniforms);
    const group = ctx.bindGroup(pipeline, [uniforms, args.lengths, args.gatesX, gatesH, weights.biasHH, args.hiddenOut, cache, state], 'gru_step');
    ctx.dispatch(pass, pipeline, group, Math.ceil(H / 64), active[step], 2);
  }
  pass.end();
}
