// similarity(): validates, plans chunks so that no binding exceeds the device's limits,
// encodes every dispatch of the call into one submit, and reads the N x M result back once.
import type { BufferBinding, GpuContext } from '../gpu/context.js';
import { encodeRegionGram, encodeWordGram, regionGramPipeline, wordGramPipeline } from '../ops/gram.js';
import { chooseScoreConfig, encodeScore, packCaptionTiles, scorePipeline } from '../ops/score.js';
import type { CaptionInput, ImageInput, OutputTarget, SimilarityOptions } from '../types.js';
import { encodeSimilarityInt8 } from './int8.js';
import { resolveTile } from './tune.js';
import { CheckedInputs, ResolvedOptions, checkInputs, checkOutput, resolveOptions } from './validate.js';

const MAX_GROUPS = 65535;

interface Chunking {
  imagesPerChunk: number;
  captionsPerChunk: number;
}

/** How many images and captions one dispatch may cover without exceeding a binding limit. */
export function planChunks(ctx: GpuContext, dims: CheckedInputs, options: ResolvedOptions): Chunking {
  const { N, R, D, M, L } = dims;
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  const slack = ctx.limits.minStorageBufferOffsetAlignment; // a window's start is aligned down
  const maxGroups = Math.min(MAX_GROUPS, ctx.limits.maxComputeWorkgroupsPerDimension);
  const imagesPerGroup = options.tile.images ?? 1;
  const fit = (bytesPerItem: number) => Math.floor((maxBinding - slack) / bytesPerItem);
  const imagesPerChunk = Math.min(N, options.maxImagesPerChunk, maxGroups * imagesPerGroup, fit(R * D * 4), fit(R * R * 4), fit(M * 4));
  // Each tile holds >= 1 caption, so captions per chunk also bounds the tile count.
  const captionsPerChunk = Math.min(M, options.maxCaptionsPerChunk, maxGroups, fit(L * D * 4), fit(L * L * 4));
  if (imagesPerChunk < 1 || captionsPerChunk < 1) {
    throw new Error(
      `similarity: inputs cannot fit this device even when tiled: one image [R=${R}, D=${D}] needs ${R * D * 4} bytes, ` +
      `one result row needs M*4 = ${M * 4} bytes, one caption [L=${L}, D=${D}] needs ${L * D * 4} bytes, ` +
      `but maxStorageBufferBindingSize is ${maxBinding}`,
    );
  }
  const maxBuffer = ctx.limits.maxBufferSize;
  const sizes: [string, number][] = [['the N x M result', N * M * 4], ['images [N, R, D]', N * R * D * 4], ['captions [M, L, D]', M * L * D * 4]];
  for (const [what, bytes] of sizes) {
    if (bytes > maxBuffer) {
      throw new Error(`similarity: ${what} needs ${bytes} bytes, more than this device's maxBufferSize ${maxBuffer}; split the call`);
    }
  }
  return { imagesPerChunk, captionsPerChunk };
}

/** A binding window over `count` floats from float index `start` of a buffer region at `byteOffset`. */
export function window(ctx: GpuContext, buffer: GPUBuffer, byteOffset: number, start: number, count: number): { binding: BufferBinding; base: number } {
  const first = byteOffset + start * 4;
  const align = ctx.limits.minStorageBufferOffsetAlignment;
  const aligned = Math.floor(first / align) * align;
  return { binding: { buffer, offset: aligned, size: first - aligned + count * 4 }, base: (first - aligned) / 4 };
}

export async function runSimilarity(
  ctx: GpuContext, images: ImageInput, captions: CaptionInput, options: SimilarityOptions, target?: OutputTarget,
): Promise<Float32Array | undefined> {
  const what = target ? 'similarityInto' : 'similarity';
  ctx.checkUsable(what);
  const opts = resolveOptions(options);
  const dims = checkInputs(images, captions);
  const targetOffset = target ? checkOutput(target, dims.N, dims.M) : 0;
  if (opts.precision === 'f32') chooseScoreConfig(dims.R, dims.L, ctx.limits.maxComputeWorkgroupStorageSize, opts.tile);
  planChunks(ctx, dims, opts); // rejects sizes that cannot fit before any GPU work

  return ctx.scoped(what, async () => {
    const transient: GPUBuffer[] = [];
    const own = (buffer: GPUBuffer) => (transient.push(buffer), buffer);
    try {
      const imageBuffer = 'data' in images ? own(ctx.upload(images.data, 'images')) : images.buffer;
      const imageOffset = 'data' in images ? 0 : images.offset ?? 0;
      const captionBuffer = 'data' in captions ? own(ctx.upload(captions.data, 'captions')) : captions.buffer;
      const captionOffset = 'data' in captions ? 0 : captions.offset ?? 0;
      const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
      const result = target ? target.buffer : own(ctx.pool.acquire(dims.N * dims.M * 4, storage, 'similarity result'));
      const encoder = ctx.createEncoder(what);
      await encodeSimilarity(ctx, encoder, { imageBuffer, imageOffset, captionBuffer, captionOffset }, dims, opts, { buffer: result, offset: targetOffset }, transient);
      if (target) {
        ctx.submit(encoder);
        return undefined;
      }
      return await ctx.readFloat32(result, 0, dims.N * dims.M, encoder);
    } finally {
      for (const buffer of transient) ctx.pool.release(buffer);
    }
  });
}

export interface SimilaritySources {
  imageBuffer: GPUBuffer; imageOffset: number; // bytes
  captionBuffer: GPUBuffer; captionOffset: number;
}

/**
 * Encodes a whole similarity computation (at most three dispatches per chunk pair, one compute
 * pass) into `encoder`, writing the N x M result at `out.offset` bytes of `out.buffer`.
 */
export async function encodeSimilarity(ctx: GpuContext, encoder: GPUCommandEncoder, src: SimilaritySources, dims: CheckedInputs,
  opts: ResolvedOptions, out: { buffer: GPUBuffer; offset: number }, transient: GPUBuffer[], wordTerms?: GPUBuffer): Promise<void> {
  opts = { ...opts, tile: resolveTile(ctx, opts.tile, opts.method, opts.precision, dims.R, dims.L, dims.D) };
  if (opts.precision !== 'f32') return encodeSimilarityInt8(ctx, encoder, src, dims, opts, out, transient, wordTerms);
  const { N, R, D, M, L } = dims;
  const config = chooseScoreConfig(R, L, ctx.limits.maxComputeWorkgroupStorageSize, opts.tile);
  const chunks = planChunks(ctx, dims, opts);
  const needsWordGram = opts.method !== 'naaf' || opts.intra;
  const [gramPipe, wordPipe, scorePipe] = await Promise.all([
    regionGramPipeline(ctx, R),
    wordGramPipeline(ctx, opts.method === 'naaf'),
    scorePipeline(ctx, opts.method, config, { intra: opts.intra, lse: opts.lse, wordTerms: !!wordTerms }),
  ]);
  const own = (buffer: GPUBuffer) => (transient.push(buffer), buffer);
  const lengths = own(ctx.upload(dims.lengths, 'lengths'));
  const regionGram = own(ctx.pool.acquire(chunks.imagesPerChunk * R * R * 4, GPUBufferUsage.STORAGE, 'region gram'));
  const wordGram = own(ctx.pool.acquire(needsWordGram ? chunks.captionsPerChunk * L * L * 4 : 4, GPUBufferUsage.STORAGE, 'word gram'));
  const terms = opts.method !== 'naaf' ? undefined : wordTerms ?? own(ctx.pool.acquire(16, GPUBufferUsage.STORAGE, 'no word terms'));
  const pass = encoder.beginComputePass({ label: 'similarity' });
  for (let m0 = 0; m0 < M; m0 += chunks.captionsPerChunk) {
    const numCaptions = Math.min(chunks.captionsPerChunk, M - m0);
    const capWindow = window(ctx, src.captionBuffer, src.captionOffset, m0 * L * D, numCaptions * L * D);
    if (needsWordGram) {
      encodeWordGram(ctx, pass, wordPipe, {
        captions: capWindow.binding, captionBase: capWindow.base, captionChunkStart: m0, numCaptions,
        maxWords: L, dim: D, lengths, lambdaIntra: opts.lambdaIntra, wordGram,
      }, transient);
    }
    const tileList = packCaptionTiles(dims.lengths, m0, numCaptions, config.ROWS, config.CAPS);
    const tiles = own(ctx.upload(tileList, 'caption tiles'));
    for (let n0 = 0; n0 < N; n0 += chunks.imagesPerChunk) {
      const numImages = Math.min(chunks.imagesPerChunk, N - n0);
      const imgWindow = window(ctx, src.imageBuffer, src.imageOffset, n0 * R * D, numImages * R * D);
      encodeRegionGram(ctx, pass, gramPipe, { images: imgWindow.binding, imageBase: imgWindow.base, numImages, dim: D, gram: regionGram }, transient);
      const outWindow = window(ctx, out.buffer, out.offset, n0 * M, numImages * M);
      encodeScore(ctx, pass, scorePipe, {
        images: imgWindow.binding, imageBase: imgWindow.base, numImages,
        captions: capWindow.binding, captionBase: capWindow.base, captionChunkStart: m0,
        tiles, numTiles: tileList.length / 2, lengths, regionGram, wordGram,
        out: outWindow.binding, outBase: outWindow.base, outStride: M,
        dim: D, maxWords: L, threshold: opts.threshold, lambdaSoftmax: opts.lambdaSoftmax, lambdaLse: opts.lambdaLse,
        imageStart: n0, imagesPerGroup: config.IMGS, wordTerms: terms,
      }, transient);
    }
  }
  pass.end();
}
