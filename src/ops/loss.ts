// Launcher of kernels/triplet_loss.wgsl: the hardest-negative triplet loss and dLoss/dS.
import tripletLossWgsl from '../../kernels/triplet_loss.wgsl';
import type { GpuContext } from '../gpu/context.js';
import type { GpuPass } from '../gpu/pass.js';

export interface TripletArgs {
  batch: number;
  margin: number;
  maxViolation: boolean;
  sims: GPUBuffer; // [B, B]
  gradSims: GPUBuffer; // [B, B], overwritten
  loss: GPUBuffer; // [1]
}

export async function encodeTripletLoss(ctx: GpuContext, pass: GpuPass, args: TripletArgs, transient: GPUBuffer[]): Promise<void> {
  const pipeline = await ctx.pipeline('triplet_loss', [{ name: 'kernels/triplet_loss.wgsl', code: tripletLossWgsl }], { WG: 256, MAX_VIOLATION: args.maxViolation });
  const uniforms = ctx.uniforms([[args.batch, 'u32'], [args.margin, 'f32'], [0, 'u32'], [0, 'u32']], 'triplet params');
  transient.push(uniforms);
  ctx.dispatch(pass, pipeline, ctx.bindGroup(pipeline, [uniforms, args.sims, args.gradSims, args.loss], 'triplet_loss'), 1);
}
