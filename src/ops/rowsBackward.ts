// Launchers of the row-wise backward kernels: l2norm_rows.bwd.wgsl and embedding.bwd.wgsl.
import embeddingBwdWgsl from '../../kernels/embedding.bwd.wgsl';
import l2normRowsBwdWgsl from '../../kernels/l2norm_rows.bwd.wgsl';
import type { GpuContext } from '../gpu/context.js';
import { grid2d } from './rows.js';
import type { GpuPass } from '../gpu/pass.js';

const WG = 64;

export interface L2normBackwardArgs {
  rows: number; cols: number;
  x: GPUBuffer; // the forward input ([2][rows][cols] with pairMean)
  gradOut: GPUBuffer; // [rows, cols]
  gradIn: GPUBuffer; // like x, overwritten
  pairMean?: boolean;
}

export async function encodeL2normRowsBackward(ctx: GpuContext, pass: GpuPass, args: L2normBackwardArgs, transient: GPUBuffer[]): Promise<void> {
  const pipeline = await ctx.pipeline('l2norm_rows.bwd', [{ name: 'kernels/l2norm_rows.bwd.wgsl', code: l2normRowsBwdWgsl }], { WG, PAIR_MEAN: !!args.pairMean });
  const uniforms = ctx.uniforms([[args.rows, 'u32'], [args.cols, 'u32'], [0, 'u32'], [0, 'u32']], 'l2norm bwd params');
  transient.push(uniforms);
  const [x, y] = grid2d(args.rows);
  ctx.dispatch(pass, pipeline, ctx.bindGroup(pipeline, [uniforms, args.x, args.gradOut, args.gradIn], 'l2norm_rows.bwd'), x, y);
}

/** Positions of each distinct id (CSR), skipping positions where `include` is false. */
export function groupPositions(ids: ArrayLike<number>, include: (position: number) => boolean): { uniqueIds: Uint32Array; starts: Uint32Array; positions: Uint32Array } {
  const byId = new Map<number, number[]>();
  for (let p = 0; p < ids.length; p++) {
    if (!include(p)) continue;
    let list = byId.get(ids[p]);
    if (!list) byId.set(ids[p], (list = []));
    list.push(p);
  }
  const uniqueIds = Uint32Array.from([...byId.keys()].sort((a, b) => a - b));
  const starts = new Uint32Array(uniqueIds.length + 1);
  const positions = new Uint32Array([...byId.values()].reduce((n, l) => n + l.length, 0));
  let offset = 0;
  uniqueIds.forEach((id, u) => {
    starts[u] = offset;
    for (const p of byId.get(id)!) positions[offset++] = p;
  });
  starts[uniqueIds.length] = offset;
  return { uniqueIds, starts, positions };
}

export interface EmbeddingBackwardArgs {
  ids: ArrayLike<number>; // [positions], CPU
  include: (position: number) => boolean; // e.g. only positions inside each caption's length
  dim: number;
  gradOut: GPUBuffer; // [positions, dim]
  gradTable: GPUBuffer; // [vocab, dim], accumulated into
}

export async function encodeEmbeddingBackward(ctx: GpuContext, pass: GpuPass, args: EmbeddingBackwardArgs, transient: GPUBuffer[]): Promise<void> {
  const groups = groupPositions(args.ids, args.include);
  if (groups.uniqueIds.length === 0) return;
  const pipeline = await ctx.pipeline('embedding.bwd', [{ name: 'kernels/embedding.bwd.wgsl', code: embeddingBwdWgsl }], {});
  const uniforms = ctx.uniforms([[groups.uniqueIds.length, 'u32'], [args.dim, 'u32'], [0, 'u32'], [0, 'u32']], 'embedding bwd params');
  const buffers = [groups.uniqueIds, groups.starts, groups.positions].map((d) => ctx.upload(d, 'embedding groups'));
  transient.push(uniforms, ...buffers);
  const [x, y] = grid2d(Math.ceil((groups.uniqueIds.length * args.dim) / WG));
  ctx.dispatch(pass, pipeline, ctx.bindGroup(pipeline, [uniforms, ...buffers, args.gradOut, args.gradTable], 'embedding.bwd'), x, y);
}
