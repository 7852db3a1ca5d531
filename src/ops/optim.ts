// Launchers of the optimiser kernels: total gradient norm (sum_squares.wgsl, two passes) and
// clipped Adam (adam.wgsl), over flat parameter / gradient / moment buffers.
import adamWgsl from '../../kernels/adam.wgsl';
import sumSquaresWgsl from '../../kernels/sum_squares.wgsl';
import type { GpuContext } from '../gpu/context.js';
import { grid2d } from './rows.js';
import type { GpuPass } from '../gpu/pass.js';

const WG = 256;
const MAX_PARTIALS = 1024;

/** Writes the sum of squares of every value of every buffer into normSq[0]. */
export async function encodeSumSquares(ctx: GpuContext, pass: GpuPass, buffers: readonly { buffer: GPUBuffer; count: number }[],
  normSq: GPUBuffer, transient: GPUBuffer[]): Promise<void> {
  const first = await ctx.pipeline('sum_squares', [{ name: 'kernels/sum_squares.wgsl', code: sumSquaresWgsl }], { WG, FINAL: false });
  const final = await ctx.pipeline('sum_squares', [{ name: 'kernels/sum_squares.wgsl', code: sumSquaresWgsl }], { WG, FINAL: true });
  const groups = buffers.map(({ count }) => Math.min(MAX_PARTIALS, Math.max(1, Math.ceil(count / (WG * 16)))));
  const total = groups.reduce((a, b) => a + b, 0);
  const partials = ctx.pool.acquire(total * 4, GPUBufferUsage.STORAGE, 'norm partials');
  transient.push(partials);
  let base = 0;
  for (let k = 0; k < buffers.length; k++) {
    const uniforms = ctx.uniforms([[buffers[k].count, 'u32'], [base, 'u32'], [0, 'u32'], [0, 'u32']], 'sum squares params');
    transient.push(uniforms);
    ctx.dispatch(pass, first, ctx.bindGroup(first, [uniforms, buffers[k].buffer, partials], 'sum_squares'), groups[k]);
    base += groups[k];
  }
  const uniforms = ctx.uniforms([[total, 'u32'], [0, 'u32'], [0, 'u32'], [0, 'u32']], 'sum partials params');
  transient.push(uniforms);
  ctx.dispatch(pass, final, ctx.bindGroup(final, [uniforms, partials, normSq], 'sum_squares final'), 1);
}

export interface AdamArgs {
  count: number;
  step: number; // t, from 1
  lr: number;
  beta1?: number; beta2?: number; eps?: number;
  maxNorm: number | null; // clip by total norm, or null
  normSq: GPUBuffer; grads: GPUBuffer; weights: GPUBuffer; moment1: GPUBuffer; moment2: GPUBuffer;
}

export async function encodeAdam(ctx: GpuContext, pass: GpuPass, a: AdamArgs, transient: GPUBuffer[]): Promise<void> {
  const beta1 = a.beta1 ?? 0.9;
  const beta2 = a.beta2 ?? 0.999;
  const pipeline = await ctx.pipeline('adam', [{ name: 'kernels/adam.wgsl', code: adamWgsl }], {});
  const uniforms = ctx.uniforms([
    [a.count, 'u32'], [a.maxNorm === null ? 0 : 1, 'u32'], [a.maxNorm ?? 0, 'f32'], [a.lr, 'f32'],
    [beta1, 'f32'], [beta2, 'f32'], [a.eps ?? 1e-8, 'f32'], [1 - beta1 ** a.step, 'f32'], [1 - beta2 ** a.step, 'f32'],
    [0, 'f32'], [0, 'f32'], [0, 'f32'],
  ], 'adam params');
  transient.push(uniforms);
  const [x, y] = grid2d(Math.ceil(a.count / 64));
  ctx.dispatch(pass, pipeline, ctx.bindGroup(pipeline, [uniforms, a.normSq, a.grads, a.weights, a.moment1, a.moment2], 'adam'), x, y);
}
