// Launcher of kernels/matmul.wgsl: C = op(A) op(B) (+ bias) (+ C), or a batch of such products.
import matmulWgsl from '../../kernels/matmul.wgsl';
import type { GpuContext } from '../gpu/context.js';
import type { GpuPass } from '../gpu/pass.js';

export interface MatmulFlags {
  transA?: boolean;
  transB?: boolean;
  bias?: boolean;
  accumulate?: boolean;
}

export interface MatmulArgs {
  M: number; N: number; K: number;
  a: GPUBuffer; aBase?: number; // element offsets
  b: GPUBuffer; bBase?: number;
  bias?: GPUBuffer; biasBase?: number;
  c: GPUBuffer; cBase?: number;
  /** A batch of `count` products in one dispatch: each operand's base moves by its stride (elements) per product. */
  batch?: { count: number; a: number; b: number; c: number; bias?: number };
}

/** The one matmul pipeline (its layout flags are uniforms). */
export function matmulPipeline(ctx: GpuContext): Promise<GPUComputePipeline> {
  return ctx.pipeline('matmul', [{ name: 'kernels/matmul.wgsl', code: matmulWgsl }], {});
}

function flagBits(flags: MatmulFlags): number {
  return (flags.transA ? 1 : 0) | (flags.transB ? 2 : 0) | (flags.bias ? 4 : 0) | (flags.accumulate ? 8 : 0);
}

/** `label`: what a profile files the dispatch under (the pipelines are shared: each variant is one compile). */
export async function encodeMatmul(ctx: GpuContext, pass: GpuPass, flags: MatmulFlags, args: MatmulArgs, transient: GPUBuffer[],
  label = 'matmul'): Promise<void> {
  const pipeline = await matmulPipeline(ctx);
  const uniforms = ctx.uniforms([
    [args.M, 'u32'], [args.N, 'u32'], [args.K, 'u32'], [args.aBase ?? 0, 'u32'], [args.bBase ?? 0, 'u32'],
    [args.cBase ?? 0, 'u32'], [args.biasBase ?? 0, 'u32'], [flagBits(flags), 'u32'],
    [args.batch?.a ?? 0, 'u32'], [args.batch?.b ?? 0, 'u32'], [args.batch?.c ?? 0, 'u32'], [args.batch?.bias ?? 0, 'u32'],
  ], 'matmul params');
  transient.push(uniforms);
  const group = ctx.bindGroup(pipeline, [uniforms, args.a, args.b, args.bias ?? args.b /* unused without BIAS */, args.c], 'matmul');
  ctx.dispatch(pass, pipeline, group, Math.ceil(args.N / 64), Math.ceil(args.M / 64), args.batch?.count ?? 1, label);
}
