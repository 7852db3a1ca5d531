// The two sides of a score computation, ready for the kernels. An image chunk is a run of
// images in one data buffer (f32 embeddings, or packed f16 / int8 rows with their scales) and
// one Gram buffer, either prepared for one call from the caller's embeddings or resident in a
// gallery (src/similarity/gallery.ts). A caption chunk is a run of whole captions with its
// tile tables, its word operand (f32 rows looked up in the caption window, or packed rows) and
// its word Grams. Preparation is encoded into a CommandStream, each step reserved with its
// work estimate so that no submission grows past the device's budget.
import type { BufferBinding, GpuContext } from '../gpu/context.js';
import type { CommandStream } from '../gpu/submit.js';
import { encodeRegionGram, encodeWordGram, regionGramPipeline, wordGramPipeline } from '../ops/gram.js';
import { encodeQuantize, packedLayout, quantizePipeline } from '../ops/quantize.js';
import { packCaptionTiles } from '../ops/score.js';
import { splitLayout } from '../ops/splitEpilogue.js';

/** Zero rows after a buffer's last packed image: a 16-region block of the last image may run past R (subgroup matrices). */
export const IMAGE_PAD_ROWS = 16;

export type OperandFormat = 'f32' | 'f16' | 'int8';

/** A binding window over `count` floats from float index `start` of a buffer region at `byteOffset`. */
export function window(ctx: GpuContext, buffer: GPUBuffer, byteOffset: number, start: number, count: number): { binding: BufferBinding; base: number } {
  const first = byteOffset + start * 4;
  const align = ctx.limits.minStorageBufferOffsetAlignment;
  const aligned = Math.floor(first / align) * align;
  return { binding: { buffer, offset: aligned, size: first - aligned + count * 4 }, base: (first - aligned) / 4 };
}

/** The buffer a binding refers to, and where it starts. */
export function bindingBuffer(binding: BufferBinding): { buffer: GPUBuffer; offset: number; size: number } {
  return 'offset' in binding ? binding : { buffer: binding, offset: 0, size: binding.size };
}

export interface ImageChunk {
  /** The chunk's first image in the numbering of the call's output (a block's, a gallery's). */
  n0: number;
  count: number;
  format: OperandFormat;
  /** f32: the embeddings; f16 / int8: packed rows, then (int8) their scales. At most one binding's size. */
  data: BufferBinding;
  /** f32: element offset of the chunk's first image in `data`; packed: its first row. */
  base: number;
  /** int8: u32 index in `data` of the scale of its row 0 (256-byte aligned from the binding's start). */
  scaleBase: number;
  /** Rows (packed) the data binding holds, with padding: the scales window's length. */
  rows: number;
  /** [images, R, R] from image gramBase. */
  gram: BufferBinding;
  gramBase: number;
}

/** The chunk's images [first, first + count) as a chunk of their own (same buffers, offsets moved). */
export function subChunk(chunk: ImageChunk, first: number, count: number, R: number, D: number): ImageChunk {
  return {
    ...chunk, n0: chunk.n0 + first, count,
    base: chunk.base + (chunk.format === 'f32' ? first * R * D : first * R),
    gramBase: chunk.gramBase + first,
  };
}

/** The int8 scales of a chunk's data as a binding of their own (for the split GEMM). */
export function scalesBinding(chunk: ImageChunk): BufferBinding {
  const { buffer, offset } = bindingBuffer(chunk.data);
  return { buffer, offset: offset + chunk.scaleBase * 4, size: Math.ceil(chunk.rows / 4) * 16 };
}

/** Work units (about FLOPs) of preparing `count` images: the Gram's dot products and, at low precision, the quantisation. */
export function imagePrepUnits(count: number, R: number, D: number, format: OperandFormat): number {
  return count * R * (R + 1) * D + (format === 'f32' ? 0 : 8 * count * R * D);
}

/** Bytes of the buffers prepareImages allocates for `count` images (besides the f32 source). */
export function imagePrepBytes(count: number, R: number, D: number, format: OperandFormat): number {
  const gram = count * R * R * 4;
  if (format === 'f32') return gram;
  return gram + packedLayout(format, D, count * R + IMAGE_PAD_ROWS).bytes + count * R * D * 4; // packed rows, and the f32 values the Gram reads
}

/** Bytes one image keeps resident in a format: the data (packed rows and scales) and its Gram. */
export function residentImageBytes(R: number, D: number, format: OperandFormat): number {
  const data = format === 'f32' ? R * D * 4 : format === 'f16' ? R * packedLayout('f16', D, 1).rowWords * 4 : R * (packedLayout('int8', D, 1).rowWords * 4 + 4);
  return data + R * R * 4;
}

export interface PrepareImagesArgs {
  /** The f32 embeddings of the images (base: element offset of the first one). */
  source: { binding: BufferBinding; base: number };
  count: number;
  R: number; D: number;
  format: OperandFormat;
  /** Where the chunk goes: low precision: `packed` (>= packedLayout(rows).bytes; rows written from packedRow); the Gram buffer and its first image. */
  packed?: { binding: BufferBinding; firstRow: number; layout: { rowWords: number; scaleBase: number }; rows: number };
  gram: BufferBinding; gramBase: number;
  /** The chunk's n0 in the output's numbering. */
  n0: number;
}

/**
 * Encodes the preparation of `count` images (low-precision rows and Grams) in pieces of at most
 * 65535 images and the stream's budget; returns them as one chunk.
 */
export async function prepareImages(ctx: GpuContext, stream: CommandStream, a: PrepareImagesArgs): Promise<ImageChunk> {
  const { R, D, format, count } = a;
  const [gramPipe, quantPipe] = await Promise.all([regionGramPipeline(ctx, R), format === 'f32' ? null : quantizePipeline(ctx, format)]);
  const perImage = imagePrepUnits(1, R, D, format);
  const step = Math.max(1, Math.min(65535, Math.floor(stream.budget('images') / perImage)));
  for (let i = 0; i < count; i += step) {
    const n = Math.min(step, count - i);
    await stream.reserve(n * perImage, 'images');
    let gramSource = { binding: a.source.binding, base: a.source.base + i * R * D };
    if (format !== 'f32') {
      const packed = a.packed!;
      // The f32 values the low precision keeps, for the Gram: the kernels must see what S sees.
      const values = ctx.pool.acquire(Math.max(16, n * R * D * 4), GPUBufferUsage.STORAGE, `${format} images as f32`);
      stream.transient.push(values);
      // The zero rows after the last image are written too (a pooled buffer may hold old rows).
      const last = i + n === count;
      const outRows = n * R + (last ? Math.min(IMAGE_PAD_ROWS, packed.rows - (packed.firstRow + count * R)) : 0);
      encodeQuantize(ctx, stream.pass, quantPipe!, {
        format, src: gramSource.binding, srcBase: gramSource.base, dim: D, rows: n * R, outRows,
        packed: packed.binding, packedRow: packed.firstRow + i * R, scaleBase: packed.layout.scaleBase, dequantized: values,
      }, stream.transient);
      gramSource = { binding: values, base: 0 };
    }
    encodeRegionGram(ctx, stream.pass, gramPipe, { images: gramSource.binding, imageBase: gramSource.base, numImages: n, dim: D, gram: a.gram, gramBase: a.gramBase + i }, stream.transient);
  }
  if (format === 'f32') {
    return { n0: a.n0, count, format, data: a.source.binding, base: a.source.base, scaleBase: 0, rows: 0, gram: a.gram, gramBase: a.gramBase };
  }
  const packed = a.packed!;
  return { n0: a.n0, count, format, data: packed.binding, base: packed.firstRow, scaleBase: packed.layout.scaleBase, rows: packed.rows, gram: a.gram, gramBase: a.gramBase };
}

export interface CaptionChunk {
  /** The chunk's first caption in the block (lengths index, output column), and its captions. */
  m0: number;
  count: number;
  /** Packed word rows (no padding) and their stride rounded up to 4. */
  words: number;
  wordStride: number;
  /** Block lengths from 0, then the chunk's tables (fused: tiles at tileBase, tile rows at tileRowBase; split: splitLayout's). */
  tables: GPUBuffer;
  tileBase: number; tileRowBase: number;
  numTiles: number;
  /** f32: the caption window and the element offsets of the packed rows in it; packed: the chunk's rows (then scales). */
  f32?: { binding: BufferBinding; base: number; wordRows: GPUBuffer };
  packed?: { binding: BufferBinding; scaleBase: number; rows: number };
  wordGram: GPUBuffer;
}

/** Packed word rows of captions start..start+count-1: source row (caption * L + word, chunk-local) of each, and each tile's first packed row. */
export function packWords(lengths: ArrayLike<number>, start: number, count: number, L: number, tiles: Uint32Array): { sourceRows: Uint32Array; tileRows: Uint32Array } {
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

export interface PrepareCaptionsArgs {
  /** The chunk's f32 captions [count, L, D] (base: element offset of its first caption), and the block's lengths. */
  source: { binding: BufferBinding; base: number };
  lengths: Uint32Array;
  m0: number; count: number;
  L: number; D: number;
  format: OperandFormat;
  rowsPerTile: number; capsPerTile: number;
  /** Extra zero rows after the packed words (the fused int8 tile reads ROWS rows from a tile's first). */
  padRows: number;
  /** Word Grams: NAAF's intra-text weights (softmax, lambdaIntra), SCAN's plain Grams, or none. */
  wordGram: { softmax: boolean; lambdaIntra: number } | null;
}

/** Work units of preparing a caption chunk: its word Grams and quantisation. */
export function captionPrepUnits(count: number, L: number, D: number, words: number, format: OperandFormat): number {
  return 2 * count * L * L * D + (format === 'f32' ? 0 : 8 * words * D);
}

/** Encodes a caption chunk's preparation (one piece); its buffers go into `holder` (released by the caller after their last use). */
export async function prepareCaptions(ctx: GpuContext, stream: CommandStream, a: PrepareCaptionsArgs, holder: GPUBuffer[]): Promise<CaptionChunk> {
  const { L, D, m0, count, format } = a;
  const tileList = packCaptionTiles(a.lengths, m0, count, a.rowsPerTile, a.capsPerTile);
  const { sourceRows, tileRows } = packWords(a.lengths, m0, count, L, tileList);
  const words = sourceRows.length;
  const held = (buffer: GPUBuffer) => (holder.push(buffer), buffer);
  // Both kernels read the block's lengths from 0, then the tiles, then each tile's first packed row.
  const layout = splitLayout(a.lengths, tileList, tileRows);
  const tables = held(ctx.upload(layout.data, 'caption tables'));
  const window = a.source;
  const [wordPipe, quantPipe] = await Promise.all([
    a.wordGram ? wordGramPipeline(ctx, a.wordGram.softmax) : null, format === 'f32' ? null : quantizePipeline(ctx, format),
  ]);
  await stream.reserve(captionPrepUnits(count, L, D, words, format), 'captions');
  const wordGram = held(ctx.pool.acquire(a.wordGram ? count * L * L * 4 : 16, GPUBufferUsage.STORAGE, 'word gram'));
  const chunk: CaptionChunk = {
    m0, count, words, wordStride: Math.ceil(words / 4) * 4, tables, tileBase: layout.offsets[0], tileRowBase: layout.offsets[1],
    numTiles: tileList.length / 2, wordGram,
  };
  let gramSource = window;
  if (format === 'f32') {
    chunk.f32 = { ...window, wordRows: held(ctx.upload(sourceRows.map((row) => row * D), 'word rows')) };
  } else {
    const rows = words + Math.max(a.padRows, 4);
    const packedShape = packedLayout(format, D, rows);
    const packed = held(ctx.pool.acquire(packedShape.bytes, GPUBufferUsage.STORAGE, `${format} words`));
    const binding = { buffer: packed, offset: 0, size: packedShape.bytes };
    const values = a.wordGram ? ctx.pool.acquire(count * L * D * 4, GPUBufferUsage.STORAGE, `${format} captions as f32`) : undefined;
    if (values) stream.transient.push(values);
    encodeQuantize(ctx, stream.pass, quantPipe!, {
      format, src: window.binding, srcBase: window.base, dim: D, rows: words, outRows: rows,
      sourceRows: held(ctx.upload(sourceRows, 'word source rows')), packed: binding, scaleBase: packedShape.scaleBase,
      dequantized: values && { buffer: values, offset: 0, size: count * L * D * 4 },
    }, stream.transient);
    chunk.packed = { binding, scaleBase: packedShape.scaleBase, rows };
    // The word Gram reads the low-precision values, in the source layout (zero past each caption's words is never read).
    if (values) gramSource = { binding: { buffer: values, offset: 0, size: count * L * D * 4 }, base: 0 };
  }
  if (a.wordGram) {
    encodeWordGram(ctx, stream.pass, wordPipe!, {
      captions: gramSource.binding, captionBase: gramSource.base, captionChunkStart: m0, numCaptions: count,
      maxWords: L, dim: D, lengths: tables, lambdaIntra: a.wordGram.lambdaIntra, wordGram,
    }, stream.transient);
  }
  return chunk;
}
