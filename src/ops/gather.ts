// Launcher of kernels/gather_items.wgsl: items of `words` 32-bit words copied from src item
// entries[2i] to dst item entries[2i + 1] (reference: src/ref/gather.ts).
import gatherWgsl from '../../kernels/gather_items.wgsl';
import type { BufferBinding, GpuContext } from '../gpu/context.js';
import type { GpuPass } from '../gpu/pass.js';

const WG = 64;

export async function gatherPipeline(ctx: GpuContext): Promise<GPUComputePipeline> {
  return ctx.pipeline('gather_items', [{ name: 'kernels/gather_items.wgsl', code: gatherWgsl }], { WG });
}

export interface GatherArgs {
  src: BufferBinding;
  dst: BufferBinding;
  /** [source item, destination item] per entry, uploaded. */
  items: GPUBuffer;
  count: number;
  /** 32-bit words per item. */
  words: number;
  /** Entries per dispatch (default the device's workgroups per dimension). */
  perDispatch?: number;
}

export function encodeGather(ctx: GpuContext, pass: GpuPass, pipeline: GPUComputePipeline, args: GatherArgs, transient: GPUBuffer[]): void {
  const per = Math.min(args.perDispatch ?? Infinity, ctx.limits.maxComputeWorkgroupsPerDimension);
  for (let first = 0; first < args.count; first += per) {
    const uniforms = ctx.uniforms([[first, 'u32'], [args.count, 'u32'], [args.words, 'u32'], [0, 'u32']], 'gather params');
    transient.push(uniforms);
    const group = ctx.bindGroup(pipeline, [uniforms, args.src, args.dst, args.items], 'gather_items');
    ctx.dispatch(pass, pipeline, group, Math.min(per, args.count - first));
  }
}
