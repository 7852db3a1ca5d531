// Encodes a similarity plan (src/similarity/plan.ts) into one compute pass: the operands (f32
// as given, or rows rounded to f16 / quantised to int8 once per chunk), the Gram matrices,
// then per (caption chunk, image chunk) either the fused score kernel, or per image pass the
// split kernel's GEMM into a bounded scratch buffer and its epilogue.
import type { BufferBinding, GpuContext } from '../gpu/context.js';
import { encodeGemm, gemmPipeline } from '../ops/gemm.js';
import { encodeRegionGram, encodeWordGram, regionGramPipeline, wordGramPipeline } from '../ops/gram.js';
import { encodeQuantize, packedRowWords, quantizePipeline } from '../ops/quantize.js';
import { encodeScore, packCaptionTiles, scorePipeline } from '../ops/score.js';
import { i8ScorePipeline } from '../ops/scoreI8.js';
import { encodeSplitEpilogue, splitEpiloguePipeline, splitLayout } from '../ops/splitEpilogue.js';
import { ScorePlan, captionRanges, resolvePlan } from './plan.js';
import type { CheckedInputs, ResolvedOptions } from './validate.js';

const IMAGE_PAD_ROWS = 16; // a 16-region block of the last image may run past R (subgroup matrices)
const MAX_GROUPS = 65535;

export interface SimilaritySources {
  imageBuffer: GPUBuffer; imageOffset: number; // bytes
  captionBuffer: GPUBuffer; captionOffset: number;
}

/** A binding window over `count` floats from float index `start` of a buffer region at `byteOffset`. */
export function window(ctx: GpuContext, buffer: GPUBuffer, byteOffset: number, start: number, count: number): { binding: BufferBinding; base: number } {
  const first = byteOffset + start * 4;
  const align = ctx.limits.minStorageBufferOffsetAlignment;
  const aligned = Math.floor(first / align) * align;
  return { binding: { buffer, offset: aligned, size: first - aligned + count * 4 }, base: (first - aligned) / 4 };
}

/** Whether the f32 product may read both inputs as vec4: D % 4 == 0 and 16-byte aligned offsets. */
export function vec4Aligned(src: Pick<SimilaritySources, 'imageOffset' | 'captionOffset'>, D: number): boolean {
  return D % 4 === 0 && src.imageOffset % 16 === 0 && src.captionOffset % 16 === 0;
}

/** Packed word rows of captions start..start+count-1: source row (caption * L + word, chunk-local) of each, and each tile's first packed row. */
function packWords(lengths: Uint32Array, start: number, count: number, L: number, tiles: Uint32Array): { sourceRows: Uint32Array; tileRows: Uint32Array } {
  const starts = new Uint32Array(count + 1);
  for (let m = 0; m < count; m++) starts[m + 1] = starts[m] + lengths[start + m];
  const sourceRows = new Uint32Array(Math.max(1, starts[count]));
  for (let m = 0; m < count; m++) {
    for (let w = 0; w < lengths[start + m]; w++) sourceRows[starts[m] + w] = m * L + w;
  }
  const tileRows = new Uint32Array(tiles.length / 2);
  for (let t = 0; t < tileRows.length; t++) tileRows[t] = starts[tiles[2 * t]];
  return { sourceRows, tileRows };
}

/** One image chunk's operands: the f32 window, or its packed low-precision rows; its Grams. */
interface ImageChunk {
  n0: number; count: number;
  f32: { binding: BufferBinding; base: number }; // the f32 embeddings (or their low-precision values) the Grams read
  packed?: BufferBinding; scales?: BufferBinding;
  gram: GPUBuffer; // [count, R, R]
}

/**
 * Resolves the plan and encodes the whole computation (one compute pass) into `encoder`,
 * writing the N x M result at `out.offset` bytes of `out.buffer`; returns the plan it ran.
 */
export async function encodeSimilarity(ctx: GpuContext, encoder: GPUCommandEncoder, src: SimilaritySources, dims: CheckedInputs,
  opts: ResolvedOptions, out: { buffer: GPUBuffer; offset: number }, transient: GPUBuffer[], wordTerms?: GPUBuffer): Promise<ScorePlan> {
  const plan = await resolvePlan(ctx, dims, opts, vec4Aligned(src, dims.D), !!wordTerms);
  const { N, R, D, M, L } = dims;
  const lowPrecision = plan.product !== 'f32';
  const format = plan.product === 'f16' ? 'f16' : 'int8';
  const chunkImages = plan.fused?.imagesPerChunk ?? plan.split!.imagesPerChunk;
  const needsWordGram = opts.method !== 'naaf' || opts.intra;
  const [gramPipe, wordPipe, quantPipe] = await Promise.all([
    regionGramPipeline(ctx, R), wordGramPipeline(ctx, opts.method === 'naaf'), lowPrecision ? quantizePipeline(ctx, format) : null,
  ]);
  const own = (buffer: GPUBuffer) => (transient.push(buffer), buffer);
  // Pool buffers are rounded up to a size class: bind exactly what is used, so a binding never
  // exceeds maxStorageBufferBindingSize because of the rounding.
  const exact = (bytes: number, label: string) => ({
    buffer: own(ctx.pool.acquire(Math.ceil(Math.max(16, bytes) / 16) * 16, GPUBufferUsage.STORAGE, label)), offset: 0, size: Math.ceil(Math.max(16, bytes) / 16) * 16,
  });
  const rowWords = lowPrecision ? packedRowWords(format, D) : 0;
  const lengths = own(ctx.upload(dims.lengths, 'lengths'));
  const wordGram = own(ctx.pool.acquire(needsWordGram ? (plan.fused?.captionsPerChunk ?? plan.split!.captionsPerChunk) * L * L * 4 : 4, GPUBufferUsage.STORAGE, 'word gram'));
  const pass = ctx.beginPass(encoder, `similarity ${plan.choice.kernel} ${plan.product}`);

  // Every image chunk once, before the caption loop: low-precision rows and the Grams.
  const imageChunks: ImageChunk[] = [];
  for (let n0 = 0; n0 < N; n0 += chunkImages) {
    const count = Math.min(chunkImages, N - n0);
    const rows = count * R;
    const input = window(ctx, src.imageBuffer, src.imageOffset, n0 * R * D, rows * D);
    const chunk: ImageChunk = { n0, count, f32: input, gram: own(ctx.pool.acquire(count * R * R * 4, GPUBufferUsage.STORAGE, 'region gram')) };
    if (lowPrecision) {
      chunk.packed = exact((rows + IMAGE_PAD_ROWS) * rowWords * 4, `${format} images`);
      chunk.scales = format === 'int8' ? exact((rows + IMAGE_PAD_ROWS) * 4, 'image scales') : undefined;
      chunk.f32 = { binding: exact(rows * D * 4, `${format} images as f32`), base: 0 };
      encodeQuantize(ctx, pass, quantPipe!, {
        format, src: input.binding, srcBase: input.base, dim: D, rows, outRows: rows + IMAGE_PAD_ROWS,
        packed: chunk.packed, scales: chunk.scales, dequantized: chunk.f32.binding,
      }, transient);
    }
    encodeRegionGram(ctx, pass, gramPipe, { images: chunk.f32.binding, imageBase: chunk.f32.base, numImages: count, dim: D, gram: chunk.gram }, transient);
    imageChunks.push(chunk);
  }

  const ranges: [number, number][] = plan.fused
    ? Array.from({ length: Math.ceil(M / plan.fused.captionsPerChunk) }, (_, i) => [i * plan.fused!.captionsPerChunk, Math.min(plan.fused!.captionsPerChunk, M - i * plan.fused!.captionsPerChunk)])
    : captionRanges(dims.lengths, plan.split!.captionsPerChunk, plan.split!.wordsPerChunk);
  const rowsPerTile = plan.fused?.ROWS ?? plan.split!.epilogue.ROWS;
  const capsPerTile = plan.fused?.CAPS ?? plan.split!.epilogue.CAPS;
  let scratch: { buffer: GPUBuffer; offset: number; size: number } | undefined;
  for (const [m0, count] of ranges) {
    const captionWindow = window(ctx, src.captionBuffer, src.captionOffset, m0 * L * D, count * L * D);
    const tileList = packCaptionTiles(dims.lengths, m0, count, rowsPerTile, capsPerTile);
    const { sourceRows, tileRows } = packWords(dims.lengths, m0, count, L, tileList);
    const words = sourceRows.length;
    const wordStride = Math.ceil(words / 4) * 4;
    // The word operand: the f32 window (rows found through the tile layout, or sourceRows for
    // the GEMM), or packed low-precision rows (and their f32 values for the word Gram).
    let packedWords: BufferBinding | undefined;
    let wordScales: BufferBinding | undefined;
    let gramSource = captionWindow;
    if (lowPrecision) {
      const outRows = words + Math.max(plan.fused?.ROWS ?? 0, 4);
      packedWords = exact(outRows * rowWords * 4, `${format} words`);
      wordScales = format === 'int8' ? exact(outRows * 4, 'word scales') : undefined;
      const dequantized = needsWordGram ? exact(count * L * D * 4, `${format} captions as f32`) : undefined;
      encodeQuantize(ctx, pass, quantPipe!, {
        format, src: captionWindow.binding, srcBase: captionWindow.base, dim: D, rows: words, outRows,
        sourceRows: own(ctx.upload(sourceRows, 'word source rows')), packed: packedWords, scales: wordScales, dequantized,
      }, transient);
      if (dequantized) gramSource = { binding: dequantized, base: 0 };
    }
    if (needsWordGram) {
      encodeWordGram(ctx, pass, wordPipe, {
        captions: gramSource.binding, captionBase: gramSource.base, captionChunkStart: m0, numCaptions: count,
        maxWords: L, dim: D, lengths, lambdaIntra: opts.lambdaIntra, wordGram,
      }, transient);
    }
    if (plan.fused) {
      const tiles = own(ctx.upload(tileList, 'caption tiles'));
      const tileRowsBuffer = own(ctx.upload(tileRows, 'tile rows'));
      const scorePipe = await (plan.fused.f32
        ? scorePipeline(ctx, opts.method, plan.fused.f32, plan.flags)
        : i8ScorePipeline(ctx, opts.method, plan.fused.int8!, plan.flags));
      for (const chunk of imageChunks) {
        const outWindow = window(ctx, out.buffer, out.offset, chunk.n0 * M, chunk.count * M);
        encodeScore(ctx, pass, scorePipe, {
          images: chunk.packed ?? chunk.f32.binding, imageBase: chunk.packed ? 0 : chunk.f32.base, numImages: chunk.count,
          captions: packedWords ?? captionWindow.binding, captionBase: packedWords ? 0 : captionWindow.base, captionChunkStart: m0,
          tiles, numTiles: tileList.length / 2, lengths, regionGram: chunk.gram, wordGram,
          out: outWindow.binding, outBase: outWindow.base, outStride: M,
          dim: packedWords ? rowWords * 4 : D, maxWords: L, threshold: opts.threshold, lambdaSoftmax: opts.lambdaSoftmax, lambdaLse: opts.lambdaLse,
          imageStart: chunk.n0, imagesPerGroup: plan.fused.IMGS, wordTerms: opts.method === 'naaf' ? wordTerms ?? own(ctx.pool.acquire(16, GPUBufferUsage.STORAGE, 'no word terms')) : undefined,
          int8: plan.fused.int8 ? { regionScales: chunk.scales!, wordScales: wordScales!, tileRows: tileRowsBuffer } : undefined,
        }, transient);
      }
      continue;
    }

    const split = plan.split!;
    const layout = splitLayout(dims.lengths, tileList, tileRows);
    const common = {
      layout: own(ctx.upload(layout.data, 'split layout')), tileBase: layout.offsets[0], rowBase: layout.offsets[1],
      numTiles: tileList.length / 2, wordGram, captionChunkStart: m0,
    };
    const [gemmPipe, epiloguePipe] = await Promise.all([
      gemmPipeline(ctx, split.gemm), splitEpiloguePipeline(ctx, opts.method, split.epilogue, plan.flags),
    ]);
    // Passes of images whose S^T fits the scratch, and whose GEMM grid fits a dispatch.
    const imagesPerPass = Math.max(1, Math.min(split.imagesPerChunk, Math.floor(split.scratchBytes / (4 * R * wordStride)),
      Math.floor((MAX_GROUPS * split.gemm.BM) / R)));
    const passBytes = Math.min(imagesPerPass, N) * R * wordStride * 4;
    if (!scratch || scratch.size < passBytes) {
      // One scratch for the whole call (every chunk's passes run in order in this pass); it grows only if a later chunk needs more.
      scratch = exact(Math.max(passBytes, Math.min(split.scratchBytes, N * R * (Math.ceil(split.wordsPerChunk / 4) * 4) * 4)), 'split scratch S^T');
    }
    // f32: element offsets of the packed rows in the caption window, from its base.
    const wordRows = packedWords ? undefined : own(ctx.upload(sourceRows.map((row) => row * D), 'word rows'));
    for (const chunk of imageChunks) {
      for (let p0 = 0; p0 < chunk.count; p0 += imagesPerPass) {
        const numImages = Math.min(imagesPerPass, chunk.count - p0);
        encodeGemm(ctx, pass, gemmPipe, split.gemm, {
          regions: chunk.packed ?? chunk.f32.binding,
          regionBase: chunk.packed ? p0 * R : chunk.f32.base + p0 * R * D,
          words: packedWords ?? captionWindow.binding,
          wordBase: packedWords ? 0 : captionWindow.base,
          wordRows,
          scales: chunk.scales ? { regions: chunk.scales, regionBase: p0 * R, words: wordScales! } : undefined,
          rows: numImages * R, wordCount: words, wordStride, dim: D, scratch,
        }, transient);
        const n0 = chunk.n0 + p0;
        const outWindow = window(ctx, out.buffer, out.offset, n0 * M, numImages * M);
        encodeSplitEpilogue(ctx, pass, epiloguePipe, opts.method, {
          ...common, scratch, wordStride, regionGram: chunk.gram, gramBase: p0,
          out: outWindow.binding, outBase: outWindow.base, outStride: M, maxWords: L,
          numImages, imageStart: n0, threshold: opts.threshold, lambdaSoftmax: opts.lambdaSoftmax, lambdaLse: opts.lambdaLse, wordTerms,
        }, transient);
      }
    }
  }
  pass.end();
  return plan;
}
