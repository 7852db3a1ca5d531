// Scores of one image chunk against one caption chunk (src/similarity/operands.ts) into an
// output matrix: the fused kernel over runs of images, or per image pass the split kernel's
// GEMM into the call's scratch and its epilogue. Every dispatch is reserved in the command
// stream with its work estimate first, and passes and runs are sized to the stream's budget,
// so a long call is submitted in bounded pieces. A pair's score does not depend on how the
// images are cut (each is computed by the same per-element sums), so pieces change no result.
import { methodSpec } from '../methods/index.js';
import type { BufferBinding, GpuContext } from '../gpu/context.js';
import type { CommandStream } from '../gpu/submit.js';
import { encodeGemm, gemmPipeline } from '../ops/gemm.js';
import { encodeScore, scorePipeline } from '../ops/score.js';
import { i8ScorePipeline } from '../ops/scoreI8.js';
import { encodeSplitEpilogue, splitEpiloguePipeline } from '../ops/splitEpilogue.js';
import { CaptionChunk, ImageChunk, scalesBinding, subChunk, window } from './operands.js';
import { MAX_GROUPS } from '../gpu/limits.js';
import type { ScorePlan } from './plan.js';
import type { ResolvedOptions } from './validate.js';

/** Where scores go: element (image n, caption m) at offset / 4 + n * stride + column + m, n and m in the chunks' numbering. */
export interface ScoreOutput {
  buffer: GPUBuffer;
  offset: number; // bytes
  stride: number; // floats per image row
  column: number; // the column of caption 0
}

/** The split path's S^T scratch: one per call, grown when a pass needs more (passes run in order). */
export class Scratch {
  private buffer: GPUBuffer | null = null;
  private size = 0;

  /** `limit`: the most bytes one pass may use (the plan's maxScratchBytes, or less under a memory budget). */
  constructor(private readonly ctx: GpuContext, private readonly stream: CommandStream, readonly limit: number) {}

  get(bytes: number): BufferBinding {
    const need = Math.ceil(Math.max(16, bytes) / 16) * 16;
    if (!this.buffer || this.size < need) {
      this.buffer = this.ctx.pool.acquire(need, GPUBufferUsage.STORAGE, 'split scratch S^T');
      this.stream.held.push(this.buffer);
      this.size = need;
    }
    return { buffer: this.buffer, offset: 0, size: need };
  }
}

/** Work units of the epilogue for `images` images and `rows` word rows: the Gram forms dominate. */
function epilogueUnits(images: number, rows: number, R: number): number {
  return images * rows * (2 * R * R + 24 * R);
}

export interface ChunkScoreArgs {
  plan: ScorePlan;
  opts: ResolvedOptions;
  R: number; D: number; L: number;
  images: ImageChunk;
  captions: CaptionChunk;
  out: ScoreOutput;
  scratch: Scratch;
  /** NAAF: also write every word's terms (indexed [image, caption, word] with out.stride captions). */
  wordTerms?: GPUBuffer;
}

export async function encodeChunkScores(ctx: GpuContext, stream: CommandStream, a: ChunkScoreArgs): Promise<void> {
  if (a.plan.fused) return encodeFused(ctx, stream, a);
  return encodeSplit(ctx, stream, a);
}

function outWindow(ctx: GpuContext, out: ScoreOutput, n0: number, count: number): { binding: BufferBinding; base: number } {
  return window(ctx, out.buffer, out.offset, n0 * out.stride, count * out.stride);
}

/** Most images whose output rows fit one binding. */
function outRowsPerBinding(ctx: GpuContext, out: ScoreOutput): number {
  return Math.max(1, Math.floor((ctx.limits.maxStorageBufferBindingSize - ctx.limits.minStorageBufferOffsetAlignment) / (4 * out.stride)));
}

async function encodeFused(ctx: GpuContext, stream: CommandStream, a: ChunkScoreArgs): Promise<void> {
  const { plan, opts, R, D, L, captions } = a;
  const fused = plan.fused!;
  const pipeline = await (fused.f32 ? scorePipeline(ctx, opts.method, fused.f32, plan.flags) : i8ScorePipeline(ctx, opts.method, fused.int8!, plan.flags));
  const perImage = 2 * captions.numTiles * fused.ROWS * R * D + epilogueUnits(1, captions.numTiles * fused.ROWS, R);
  // Runs of whole workgroups of images within the budget and one dispatch row.
  const step = fused.IMGS * Math.max(1, Math.min(MAX_GROUPS, Math.floor(stream.budget('fused') / (perImage * fused.IMGS)), Math.floor(outRowsPerBinding(ctx, a.out) / fused.IMGS)));
  const int8 = plan.format === 'int8';
  for (let i0 = 0; i0 < a.images.count; i0 += step) {
    const images = subChunk(a.images, i0, Math.min(step, a.images.count - i0), R, D);
    await stream.reserve(images.count * perImage, 'fused');
    const out = outWindow(ctx, a.out, images.n0, images.count);
    encodeScore(ctx, stream.pass, pipeline, {
      images: images.data, imageBase: images.base, numImages: images.count,
      captions: captions.packed?.binding ?? captions.f32!.binding, captionBase: captions.f32?.base ?? 0, captionChunkStart: captions.m0,
      tables: captions.tables, tileBase: captions.tileBase, tileRowBase: captions.tileRowBase, numTiles: captions.numTiles,
      regionGram: images.gram, gramBase: images.gramBase, wordGram: captions.wordGram,
      out: out.binding, outBase: out.base + a.out.column, outStride: a.out.stride,
      dim: int8 ? captionsRowBytes(captions, D) : D, maxWords: L, threshold: opts.threshold, lambdaSoftmax: opts.lambdaSoftmax, lambdaLse: opts.lambdaLse,
      imageStart: images.n0, imagesPerGroup: fused.IMGS,
      wordTerms: methodSpec(opts.method).wordTerms ? a.wordTerms ?? placeholder(ctx, stream) : undefined,
      int8: int8 ? { imageScaleBase: images.scaleBase + images.base, wordScaleBase: captions.packed!.scaleBase } : undefined,
    }, stream.transient);
  }
}

/** int8: the padded row length in bytes (params.dim of the int8 kernels). */
function captionsRowBytes(_captions: CaptionChunk, D: number): number {
  return Math.ceil(D / 32) * 32;
}

function placeholder(ctx: GpuContext, stream: CommandStream): GPUBuffer {
  const buffer = ctx.pool.acquire(16, GPUBufferUsage.STORAGE, 'no word terms');
  stream.transient.push(buffer);
  return buffer;
}

async function encodeSplit(ctx: GpuContext, stream: CommandStream, a: ChunkScoreArgs): Promise<void> {
  const { plan, opts, R, D, L, captions } = a;
  const split = plan.split!;
  const gemm = split.gemmFor(captions.wordStride);
  const [gemmPipe, epiloguePipe] = await Promise.all([gemmPipeline(ctx, gemm), splitEpiloguePipeline(ctx, opts.method, split.epilogue, plan.flags)]);
  const paddedCols = Math.ceil(captions.wordStride / gemm.BN) * gemm.BN;
  const perImage = 2 * R * paddedCols * D + epilogueUnits(1, captions.words, R);
  // Passes of images whose S^T fits the scratch, whose GEMM grid fits a dispatch and whose work fits the budget.
  const imagesPerPass = Math.max(1, Math.min(a.images.count,
    Math.floor(Math.min(split.scratchBytes, a.scratch.limit) / (4 * R * captions.wordStride)),
    outRowsPerBinding(ctx, a.out),
    Math.floor((MAX_GROUPS * gemm.BM) / R),
    Math.floor(stream.budget('split') / perImage)));
  const scratch = a.scratch.get(imagesPerPass * R * captions.wordStride * 4);
  const int8 = plan.format === 'int8';
  for (let p0 = 0; p0 < a.images.count; p0 += imagesPerPass) {
    const images = subChunk(a.images, p0, Math.min(imagesPerPass, a.images.count - p0), R, D);
    await stream.reserve(images.count * perImage, 'split');
    encodeGemm(ctx, stream.pass, gemmPipe, gemm, {
      regions: images.data, regionBase: images.base,
      words: captions.packed?.binding ?? captions.f32!.binding, wordBase: captions.f32?.base ?? 0, wordRows: captions.f32?.wordRows,
      scales: int8 ? { regions: scalesBinding(images), regionBase: images.base, words: captionScales(captions) } : undefined,
      rows: images.count * R, wordCount: captions.words, wordStride: captions.wordStride, dim: D, scratch,
    }, stream.transient);
    const out = outWindow(ctx, a.out, images.n0, images.count);
    encodeSplitEpilogue(ctx, stream.pass, epiloguePipe, opts.method, {
      scratch, wordStride: captions.wordStride, layout: captions.tables, tileBase: captions.tileBase, rowBase: captions.tileRowBase,
      numTiles: captions.numTiles, captionChunkStart: captions.m0, regionGram: images.gram, gramBase: images.gramBase, wordGram: captions.wordGram,
      out: out.binding, outBase: out.base + a.out.column, outStride: a.out.stride, maxWords: L,
      numImages: images.count, imageStart: images.n0, threshold: opts.threshold, lambdaSoftmax: opts.lambdaSoftmax, lambdaLse: opts.lambdaLse,
      wordTerms: a.wordTerms,
    }, stream.transient);
  }
}

function captionScales(captions: CaptionChunk): BufferBinding {
  const packed = captions.packed!;
  const binding = packed.binding as { buffer: GPUBuffer; offset: number };
  return { buffer: binding.buffer, offset: binding.offset + packed.scaleBase * 4, size: Math.ceil(packed.rows / 4) * 16 };
}
