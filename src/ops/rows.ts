// Launchers of the row-wise kernels: l2norm_rows.wgsl and embedding.wgsl.
import embeddingWgsl from '../../kernels/embedding.wgsl';
import l2normRowsWgsl from '../../kernels/l2norm_rows.wgsl';
import type { GpuContext } from '../gpu/context.js';
import type { GpuPass } from '../gpu/pass.js';

const WG = 64;
const MAX_X = 65535;

/** Workgroup counts covering `count` groups in 2D (x up to 65535). */
export function grid2d(count: number): [number, number] {
  return count <= MAX_X ? [count, 1] : [MAX_X, Math.ceil(count / MAX_X)];
}

export interface L2normArgs {
  rows: number; cols: number;
  x: GPUBuffer; inBase?: number;
  y: GPUBuffer; outBase?: number;
  /** x holds [2][rows][cols]: normalise the mean of the two halves (bi-GRU output). */
  pairMean?: boolean;
}

export async function encodeL2normRows(ctx: GpuContext, pass: GpuPass, args: L2normArgs, transient: GPUBuffer[]): Promise<void> {
  const pipeline = await ctx.pipeline('l2norm_rows', [{ name: 'kernels/l2norm_rows.wgsl', code: l2normRowsWgsl }], { WG, PAIR_MEAN: !!args.pairMean });
  const uniforms = ctx.uniforms([[args.rows, 'u32'], [args.cols, 'u32'], [args.inBase ?? 0, 'u32'], [args.outBase ?? 0, 'u32']], 'l2norm params');
  transient.push(uniforms);
  const [x, y] = grid2d(args.rows);
  ctx.dispatch(pass, pipeline, ctx.bindGroup(pipeline, [uniforms, args.x, args.y], 'l2norm_rows'), x, y);
}

export interface EmbeddingArgs {
  count: number; dim: number;
  ids: GPUBuffer; table: GPUBuffer; out: GPUBuffer;
}

export async function encodeEmbedding(ctx: GpuContext, pass: GpuPass, args: EmbeddingArgs, transient: GPUBuffer[]): Promise<void> {
  const pipeline = await ctx.pipeline('embedding', [{ name: 'kernels/embedding.wgsl', code: embeddingWgsl }], {});
  const uniforms = ctx.uniforms([[args.count, 'u32'], [args.dim, 'u32'], [0, 'u32'], [0, 'u32']], 'embedding params');
  transient.push(uniforms);
  const [x, y] = grid2d(Math.ceil((args.count * args.dim) / WG));
  ctx.dispatch(pass, pipeline, ctx.bindGroup(pipeline, [uniforms, args.ids, args.table, args.out], 'embedding'), x, y);
}
