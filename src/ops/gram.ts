// Launchers of the Gram kernels: per-image region Gram (kernels/region_gram.wgsl) and
// per-caption word Gram / intra-text softmax (kernels/word_gram.wgsl).
import regionGramWgsl from '../../kernels/region_gram.wgsl';
import wordGramWgsl from '../../kernels/word_gram.wgsl';
import type { BufferBinding, GpuContext } from '../gpu/context.js';
import type { GpuPass } from '../gpu/pass.js';

const WG = 64;

export async function regionGramPipeline(ctx: GpuContext, regions: number): Promise<GPUComputePipeline> {
  return ctx.pipeline('region_gram', [{ name: 'kernels/region_gram.wgsl', code: regionGramWgsl }], { WG, R: regions });
}

export async function wordGramPipeline(ctx: GpuContext, softmax: boolean): Promise<GPUComputePipeline> {
  return ctx.pipeline('word_gram', [{ name: 'kernels/word_gram.wgsl', code: wordGramWgsl }], { WG, SOFTMAX: softmax });
}

export interface RegionGramArgs {
  images: BufferBinding;
  imageBase: number; // element offset of the first image inside the binding
  numImages: number;
  dim: number;
  gram: BufferBinding; // [numImages, R, R] from image gramBase
  gramBase?: number;
}

export function encodeRegionGram(ctx: GpuContext, pass: GpuPass, pipeline: GPUComputePipeline,
  args: RegionGramArgs, transient: GPUBuffer[]): void {
  const uniforms = ctx.uniforms([[args.imageBase, 'u32'], [args.dim, 'u32'], [args.numImages, 'u32'], [args.gramBase ?? 0, 'u32']], 'region_gram params');
  transient.push(uniforms);
  const group = ctx.bindGroup(pipeline, [uniforms, args.images, args.gram], 'region_gram');
  ctx.dispatch(pass, pipeline, group, args.numImages);
}

export interface WordGramArgs {
  captions: BufferBinding;
  captionBase: number;
  captionChunkStart: number;
  numCaptions: number;
  maxWords: number;
  dim: number;
  lengths: BufferBinding;
  lambdaIntra: number;
  wordGram: BufferBinding; // [numCaptions, L, L]
}

export function encodeWordGram(ctx: GpuContext, pass: GpuPass, pipeline: GPUComputePipeline,
  args: WordGramArgs, transient: GPUBuffer[]): void {
  const uniforms = ctx.uniforms([
    [args.captionBase, 'u32'], [args.dim, 'u32'], [args.maxWords, 'u32'], [args.captionChunkStart, 'u32'],
    [args.numCaptions, 'u32'], [args.lambdaIntra, 'f32'], [0, 'u32'], [0, 'u32'],
  ], 'word_gram params');
  transient.push(uniforms);
  const group = ctx.bindGroup(pipeline, [uniforms, args.captions, args.lengths, args.wordGram], 'word_gram');
  ctx.dispatch(pass, pipeline, group, args.numCaptions);
}
