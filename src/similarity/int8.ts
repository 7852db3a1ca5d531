// The opt-in int8 similarity path: per chunk, quantise the images and the packed caption words
// (kernels/quantize_rows.wgsl, which also writes the dequantised embeddings the Gram kernels
// read), then run the int8 score kernels (src/ops/scoreI8.ts). The result is the method
// applied to the dequantised embeddings.
import type { BufferBinding, GpuContext } from '../gpu/context.js';
import { encodeRegionGram, encodeWordGram, regionGramPipeline, wordGramPipeline } from '../ops/gram.js';
import { encodeQuantize, packedRowBytes, quantizePipeline } from '../ops/quantize.js';
import { encodeScore, packCaptionTiles } from '../ops/score.js';
import { Int8Kernel, chooseI8Config, i8ScorePipeline } from '../ops/scoreI8.js';
import type { SimilaritySources } from './run.js';
import { planChunks, window } from './run.js';
import type { CheckedInputs, ResolvedOptions } from './validate.js';

const IMAGE_PAD_ROWS = 16; // a 16-region block of the last image may run past R

/** The int8 kernel for `precision` on this device, or a clear error. */
export async function resolveInt8Kernel(ctx: GpuContext, precision: ResolvedOptions['precision']): Promise<Int8Kernel> {
  const available = await ctx.int8Product();
  if (!available) {
    throw new Error(`similarity: options.precision '${precision}' needs dot4I8Packed (WGSL packed_4x8_integer_dot_product), which this runtime does not compile`);
  }
  if (precision === 'int8-subgroup-matrix' && available !== 'subgroup-matrix') {
    throw new Error(
      "similarity: options.precision 'int8-subgroup-matrix' needs the device feature chromium-experimental-subgroup-matrix " +
      'with i8 M16 N16 K32 configs and one subgroup size (in Node: NaafEngine.create({ dawnFlags: [\'enable-dawn-features=allow_unsafe_apis\'] }) ' +
      `on a GPU that has them); this device has ${available} only`,
    );
  }
  return precision === 'int8-dot4' ? 'dot4' : available;
}

/** Source row (caption * L + word, chunk-local) of each packed word, and each tile's first packed row. */
function packWords(lengths: Uint32Array, m0: number, count: number, L: number, tiles: Uint32Array): { sourceRows: Uint32Array; tileRows: Uint32Array } {
  const starts = new Uint32Array(count + 1);
  for (let m = 0; m < count; m++) starts[m + 1] = starts[m] + lengths[m0 + m];
  const sourceRows = new Uint32Array(Math.max(1, starts[count]));
  for (let m = 0; m < count; m++) {
    for (let w = 0; w < lengths[m0 + m]; w++) sourceRows[starts[m] + w] = m * L + w;
  }
  const tileRows = new Uint32Array(tiles.length / 2);
  for (let t = 0; t < tileRows.length; t++) tileRows[t] = starts[tiles[2 * t]];
  return { sourceRows, tileRows };
}

export async function encodeSimilarityInt8(ctx: GpuContext, encoder: GPUCommandEncoder, src: SimilaritySources, dims: CheckedInputs,
  opts: ResolvedOptions, out: { buffer: GPUBuffer; offset: number }, transient: GPUBuffer[], wordTerms?: GPUBuffer): Promise<void> {
  const { N, R, D, M, L } = dims;
  const kernel = await resolveInt8Kernel(ctx, opts.precision);
  const config = chooseI8Config(kernel, R, L, ctx.limits.maxComputeWorkgroupStorageSize, ctx.info.subgroupMaxSize, opts.tile);
  const chunks = planChunks(ctx, dims, { ...opts, tile: { ...opts.tile, images: config.IMGS } });
  const DP = packedRowBytes(D);
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  if ((chunks.captionsPerChunk * L + config.ROWS) * DP > maxBinding) {
    throw new Error(`similarity: precision int8 packs ${chunks.captionsPerChunk} captions into more than maxStorageBufferBindingSize ${maxBinding} bytes; set options.maxCaptionsPerChunk lower`);
  }
  const needsWordGram = opts.method !== 'naaf' || opts.intra;
  const [quantPipe, gramPipe, wordPipe, scorePipe] = await Promise.all([
    quantizePipeline(ctx),
    regionGramPipeline(ctx, R),
    wordGramPipeline(ctx, opts.method === 'naaf'),
    i8ScorePipeline(ctx, opts.method, config, { intra: opts.intra, lse: opts.lse, wordTerms: !!wordTerms }),
  ]);
  const own = (buffer: GPUBuffer) => (transient.push(buffer), buffer);
  const storage = (bytes: number, label: string) => own(ctx.pool.acquire(Math.max(16, bytes), GPUBufferUsage.STORAGE, label));
  // Pool buffers are rounded up to a size class: bind exactly what is used, so a binding never
  // exceeds maxStorageBufferBindingSize because of the rounding.
  const exact = (bytes: number, label: string) => ({ buffer: storage(bytes, label), offset: 0, size: Math.max(16, Math.ceil(bytes / 4) * 4) });
  const lengths = own(ctx.upload(dims.lengths, 'lengths'));
  const regionGram = storage(chunks.imagesPerChunk * R * R * 4, 'region gram');
  const wordGram = storage(needsWordGram ? chunks.captionsPerChunk * L * L * 4 : 4, 'word gram');
  const terms = opts.method !== 'naaf' ? undefined : wordTerms ?? storage(16, 'no word terms');
  const pass = encoder.beginComputePass({ label: 'similarity int8' });

  // Every image chunk is quantised once, before the caption loop.
  const imageChunks: { n0: number; numImages: number; packed: BufferBinding; scales: BufferBinding; dequantized: BufferBinding }[] = [];
  for (let n0 = 0; n0 < N; n0 += chunks.imagesPerChunk) {
    const numImages = Math.min(chunks.imagesPerChunk, N - n0);
    const rows = numImages * R;
    const imgWindow = window(ctx, src.imageBuffer, src.imageOffset, n0 * R * D, rows * D);
    const chunk = {
      n0, numImages,
      packed: exact((rows + IMAGE_PAD_ROWS) * DP, 'int8 images'),
      scales: exact((rows + IMAGE_PAD_ROWS) * 4, 'image scales'),
      dequantized: exact(rows * D * 4, 'dequantized images'),
    };
    encodeQuantize(ctx, pass, quantPipe, {
      src: imgWindow.binding, srcBase: imgWindow.base, dim: D, rows, outRows: rows + IMAGE_PAD_ROWS,
      packed: chunk.packed, scales: chunk.scales, dequantized: chunk.dequantized,
    }, transient);
    imageChunks.push(chunk);
  }

  for (let m0 = 0; m0 < M; m0 += chunks.captionsPerChunk) {
    const numCaptions = Math.min(chunks.captionsPerChunk, M - m0);
    const capWindow = window(ctx, src.captionBuffer, src.captionOffset, m0 * L * D, numCaptions * L * D);
    const tileList = packCaptionTiles(dims.lengths, m0, numCaptions, config.ROWS, config.CAPS);
    const { sourceRows, tileRows } = packWords(dims.lengths, m0, numCaptions, L, tileList);
    const words = sourceRows.length;
    const packedCaptions = exact((words + config.ROWS) * DP, 'int8 words');
    const wordScales = exact((words + config.ROWS) * 4, 'word scales');
    const dequantized = needsWordGram ? exact(numCaptions * L * D * 4, 'dequantized captions') : undefined;
    encodeQuantize(ctx, pass, quantPipe, {
      src: capWindow.binding, srcBase: capWindow.base, dim: D, rows: words, outRows: words + config.ROWS,
      sourceRows: own(ctx.upload(sourceRows, 'word source rows')), packed: packedCaptions, scales: wordScales, dequantized,
    }, transient);
    if (dequantized) {
      encodeWordGram(ctx, pass, wordPipe, {
        captions: dequantized, captionBase: 0, captionChunkStart: m0, numCaptions,
        maxWords: L, dim: D, lengths, lambdaIntra: opts.lambdaIntra, wordGram,
      }, transient);
    }
    const tiles = own(ctx.upload(tileList, 'caption tiles'));
    const tileRowsBuffer = own(ctx.upload(tileRows, 'tile rows'));
    for (const chunk of imageChunks) {
      encodeRegionGram(ctx, pass, gramPipe, { images: chunk.dequantized, imageBase: 0, numImages: chunk.numImages, dim: D, gram: regionGram }, transient);
      const outWindow = window(ctx, out.buffer, out.offset, chunk.n0 * M, chunk.numImages * M);
      encodeScore(ctx, pass, scorePipe, {
        images: chunk.packed, imageBase: 0, numImages: chunk.numImages,
        captions: packedCaptions, captionBase: 0, captionChunkStart: m0,
        tiles, numTiles: tileList.length / 2, lengths, regionGram, wordGram,
        out: outWindow.binding, outBase: outWindow.base, outStride: M,
        dim: DP, maxWords: L, threshold: opts.threshold, lambdaSoftmax: opts.lambdaSoftmax, lambdaLse: opts.lambdaLse,
        imageStart: chunk.n0, imagesPerGroup: config.IMGS, wordTerms: terms,
        int8: { regionScales: chunk.scales, wordScales, tileRows: tileRowsBuffer },
      }, transient);
    }
  }
  pass.end();
}
