// Scores of any number of images against any number of captions, a block at a time. One side
// (the "outer": a topK call's queries) is uploaded and prepared once per outer block, the other
// is streamed past it in inner blocks; both are cut so that what the call holds on the GPU stays
// under maxGpuBytes and every buffer, binding and dispatch limit, and each block's scores (at
// most BLOCK_RESULT_BYTES) are read back while the next block is encoded. Images may be the
// caller's f32 rows on the CPU (a Float32Array, or rows read from a file), a GPU buffer, or a
// resident gallery (already prepared: nothing is uploaded). The work is submitted in bounded
// pieces (src/gpu/submit.ts); a cancelled or failed call releases everything it took.
import { methodSpec } from '../methods/index.js';
import type { GpuContext } from '../gpu/context.js';
import { CommandStream } from '../gpu/submit.js';
import { packedLayout } from '../ops/quantize.js';
import {
  CaptionChunk, IMAGE_PAD_ROWS, ImageChunk, OperandFormat, imagePrepBytes, prepareCaptions, prepareImages, window,
} from './operands.js';
import { ChunkLimits, ScorePlan, captionRanges, chunkLimits } from './plan.js';
import { Scratch, ScoreOutput, encodeChunkScores } from './scoreChunks.js';
import type { ResolvedOptions } from './validate.js';

/** The default of options.maxGpuBytes: what one call may hold on the GPU at once. */
export const DEFAULT_MAX_GPU_BYTES = 1024 * 2 ** 20;
/** A block's scores are read back in pieces of at most this many bytes. */
export const BLOCK_RESULT_BYTES = 64 * 2 ** 20;

/** Images as a call reads them. */
export type ImageSource =
  | { kind: 'cpu'; N: number; R: number; D: number; read: (start: number, count: number) => Promise<Float32Array> | Float32Array }
  | { kind: 'gpu'; N: number; R: number; D: number; buffer: GPUBuffer; offset: number }
  | { kind: 'resident'; N: number; R: number; D: number; format: OperandFormat; chunks: (start: number, count: number) => ImageChunk[] };

export type CaptionSource =
  | { kind: 'cpu'; M: number; L: number; D: number; data: Float32Array; lengths: Uint32Array }
  | { kind: 'gpu'; M: number; L: number; D: number; buffer: GPUBuffer; offset: number; lengths: Uint32Array };

export interface BlockScores {
  /** The block's first image and caption, its sizes, and its scores [images, captions] image-major. */
  n0: number; images: number;
  m0: number; captions: number;
  scores: Float32Array;
}

/** Copies a block's scores to their place in a dense N x M (image-major) result. */
export function copyBlockInto(result: Float32Array, M: number, block: BlockScores): void {
  for (let n = 0; n < block.images; n++) {
    result.set(block.scores.subarray(n * block.captions, (n + 1) * block.captions), (block.n0 + n) * M + block.m0);
  }
}

export interface RunBlocksArgs {
  what: string;
  plan: ScorePlan;
  opts: ResolvedOptions;
  images: ImageSource;
  captions: CaptionSource;
  /**
   * The side prepared once per outer block (a topK's queries): 'captions' (t2i) or 'images'
   * (i2t); 'auto': the side that fits one block, captions if both or neither do.
   */
  outer: 'images' | 'captions' | 'auto';
  /** Refuse (rather than cut) a call that needs more than one block (word terms are indexed by the whole call). */
  singleBlock?: boolean;
  /** Use this stream (a training step's encoder) instead of a new one; the caller finishes it. */
  stream?: CommandStream;
  maxGpuBytes: number;
  signal?: AbortSignal;
  /** Scores are read back block by block (onBlock), or written into a caller's [N, M] buffer (no readback). */
  onBlock?: (block: BlockScores) => void;
  target?: { buffer: GPUBuffer; offset: number };
  /** NAAF only: word terms [N, M, L] written too (one block only). */
  wordTerms?: GPUBuffer;
  /** At most this many candidates (the inner side) per block (topK's blockSize). */
  maxInnerBlock?: number;
  /** Called after each inner block with the share of the work done. */
  onProgress?: (done: number) => void;
}

interface Blocks { images: number; captions: number; scratch: number; outer: 'images' | 'captions' }

/** Bytes held per image and per caption of a block, besides the scores. */
function perItemBytes(plan: ScorePlan, images: ImageSource, captions: CaptionSource): { image: number; caption: number } {
  const { R, D } = images;
  const image = images.kind === 'resident' ? 0 : (images.kind === 'cpu' ? R * D * 4 : 0) + imagePrepBytes(1, R, D, plan.format);
  const L = captions.L;
  const low = plan.format !== 'f32';
  // Upload, word Grams, tables; at low precision the packed rows and the f32 values the Grams read.
  const caption = (captions.kind === 'cpu' ? L * D * 4 : 0) + L * L * 4 + 8 + 4 * L + (low ? packedLayout(plan.format as 'f16' | 'int8', D, L).bytes + L * D * 4 : 0);
  return { image, caption };
}

/** Block sizes within the budget: the outer side takes up to half, an inner block a quarter (the next may be uploaded meanwhile), the scratch and scores the rest. */
function blockSizes(ctx: GpuContext, a: RunBlocksArgs): Blocks {
  const { images, captions, plan } = a;
  const per = perItemBytes(plan, images, captions);
  const budget = a.maxGpuBytes;
  const fixed = 4096; // uniforms and small tables of a piece
  const share = (outer: boolean) => Math.max(0, outer ? budget / 2 : budget / 4) - fixed;
  const count = (perItem: number, outer: boolean, total: number, what: string) => {
    if (perItem === 0) return total;
    const n = Math.floor(share(outer) / perItem);
    if (n < 1) {
      throw new Error(`${a.what}: options.maxGpuBytes = ${budget} is too small: one ${what} needs ${perItem} bytes on the GPU and gets ${Math.floor(share(outer))} of the budget (${outer ? 'half' : 'a quarter'}; raise maxGpuBytes to at least ${Math.ceil((perItem + fixed) * (outer ? 2 : 4))})`);
    }
    return Math.min(total, n);
  };
  let outer = a.outer;
  if (outer === 'auto') {
    const fits = (perItem: number, total: number) => perItem * total <= share(true);
    outer = !fits(per.caption, captions.M) && fits(per.image, images.N) ? 'images' : 'captions';
  }
  const outerImages = outer === 'images';
  let blockImages = count(per.image, outerImages, images.N, `image [R=${images.R}, D=${images.D}]`);
  let blockCaptions = count(per.caption, !outerImages, captions.M, `caption [L=${captions.L}, D=${captions.D}]`);
  // A CPU image block is one upload.
  if (images.kind === 'cpu') blockImages = Math.min(blockImages, Math.floor(ctx.limits.maxBufferSize / (images.R * images.D * 4)));
  if (captions.kind === 'cpu') blockCaptions = Math.min(blockCaptions, Math.floor(ctx.limits.maxBufferSize / (captions.L * captions.D * 4)));
  // Scores of a block: within a readback piece and a binding (the target's rows are M wide).
  if (!a.target) {
    const resultBytes = Math.min(BLOCK_RESULT_BYTES, budget / 8, ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
    const fit = () => Math.floor(resultBytes / (4 * blockCaptions));
    if (fit() < 1) blockCaptions = Math.max(1, Math.floor(resultBytes / 4));
    blockImages = Math.max(1, Math.min(blockImages, fit()));
  }
  const scratch = Math.max(4 * images.R * (captions.L + 3), Math.min(plan.split?.scratchBytes ?? 0, budget / 8));
  if (a.maxInnerBlock !== undefined) {
    if (outerImages) blockCaptions = Math.min(blockCaptions, a.maxInnerBlock);
    else blockImages = Math.min(blockImages, a.maxInnerBlock);
  }
  if (a.singleBlock && (blockImages < images.N || blockCaptions < captions.M)) {
    throw new Error(`${a.what}: ${images.N} images x ${captions.M} captions do not fit one pass on this device (at most ${blockImages} x ${blockCaptions}); use fewer at a time`);
  }
  return { images: blockImages, captions: blockCaptions, scratch, outer };
}

/** A block of images ready for the kernels, and what to release when it is done. */
interface PreparedImages { chunks: ImageChunk[]; buffers: GPUBuffer[] }

async function prepareImageBlock(ctx: GpuContext, stream: CommandStream, a: RunBlocksArgs, n0: number, count: number,
  capacity: number, data: Float32Array | null, limits: ChunkLimits, buffers: GPUBuffer[]): Promise<PreparedImages> {
  const { images, plan } = a;
  const { R, D } = images;
  if (images.kind === 'resident') {
    return { chunks: images.chunks(n0, count).map((chunk) => ({ ...chunk, n0: chunk.n0 - n0 })), buffers };
  }
  const acquire = (bytes: number, label: string, usage = GPUBufferUsage.STORAGE) => {
    const buffer = ctx.pool.acquire(bytes, usage, label, true);
    buffers.push(buffer);
    return buffer;
  };
  let buffer: GPUBuffer;
  let offset: number;
  if (images.kind === 'cpu') {
    buffer = acquire(capacity * R * D * 4, 'images', GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    await ctx.writeInSlices(buffer, 0, data!);
    offset = 0;
  } else {
    buffer = images.buffer;
    offset = images.offset + n0 * R * D * 4;
  }
  // Chunks of the block: each a window of the rows within one binding, with its own Grams (and packed rows).
  const perChunk = Math.min(capacity, limits.imagesPerChunk);
  const chunks: ImageChunk[] = [];
  for (let c0 = 0; c0 < count; c0 += perChunk) {
    const n = Math.min(perChunk, count - c0);
    const source = window(ctx, buffer, offset, c0 * R * D, n * R * D);
    const gram = acquire(perChunk * R * R * 4, 'region gram');
    let packed: Parameters<typeof prepareImages>[2]['packed'];
    if (plan.format !== 'f32') {
      const rows = n * R + IMAGE_PAD_ROWS;
      const layout = packedLayout(plan.format, D, rows);
      const data = acquire(packedLayout(plan.format, D, perChunk * R + IMAGE_PAD_ROWS).bytes, `${plan.format} images`);
      packed = { binding: { buffer: data, offset: 0, size: layout.bytes }, firstRow: 0, layout, rows };
    }
    chunks.push(await prepareImages(ctx, stream, { source, count: n, R, D, format: plan.format, packed, gram: { buffer: gram, offset: 0, size: n * R * R * 4 }, gramBase: 0, n0: c0 }));
  }
  return { chunks, buffers };
}

interface PreparedCaptions { chunks: CaptionChunk[]; buffers: GPUBuffer[] }

async function prepareCaptionBlock(ctx: GpuContext, stream: CommandStream, a: RunBlocksArgs, m0: number, count: number, capacity: number,
  limits: ChunkLimits, buffers: GPUBuffer[]): Promise<PreparedCaptions> {
  const { captions, plan, opts } = a;
  const { L, D } = captions;
  let buffer: GPUBuffer;
  let offset: number; // bytes of the block's first caption in `buffer`
  if (captions.kind === 'cpu') {
    buffer = ctx.pool.acquire(capacity * L * D * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'captions', true);
    buffers.push(buffer);
    const data = captions.data.subarray(m0 * L * D, (m0 + count) * L * D);
    await ctx.writeInSlices(buffer, 0, data);
    offset = 0;
  } else {
    buffer = captions.buffer;
    offset = captions.offset + m0 * L * D * 4;
  }
  const lengths = captions.lengths.subarray(m0, m0 + count);
  const wordGram = methodSpec(opts.method).wordGram(opts);
  const common = {
    lengths, L, D, format: plan.format,
    rowsPerTile: plan.fused?.ROWS ?? plan.split!.epilogue.ROWS, capsPerTile: plan.fused?.CAPS ?? plan.split!.epilogue.CAPS,
    padRows: plan.fused?.ROWS ?? 0, wordGram: wordGram ? { softmax: wordGram === 'softmax', lambdaIntra: opts.lambdaIntra } : null,
  };
  const chunks: CaptionChunk[] = [];
  // Each chunk's tables hold the block's lengths from 0 (its first caption is c0 in them).
  for (const [c0, n] of captionRanges(lengths, limits.captionsPerChunk, Math.min(limits.wordsPerChunk, wordsForFullPasses(stream, a)))) {
    const source = window(ctx, buffer, offset, c0 * L * D, n * L * D);
    chunks.push(await prepareCaptions(ctx, stream, { ...common, source, m0: c0, count: n }, buffers));
  }
  return { chunks, buffers };
}

/** Image rows one split pass should reach: a GEMM tile is 128 rows, and a pass of few images pays for the padding of its last tile. */
const PASS_ROWS = 512;

/**
 * Most word rows of a caption chunk such that an image pass of PASS_ROWS region rows (or every
 * image) against them stays within one submission's budget: many captions at once are cut into
 * chunks rather than letting the passes shrink to an image or two.
 */
function wordsForFullPasses(stream: CommandStream, a: RunBlocksArgs): number {
  if (!a.plan.split) return Infinity;
  const { R, D, N } = a.images;
  const images = Math.min(N, Math.ceil(PASS_ROWS / R));
  const words = Math.floor(stream.budget('split') / (2 * R * D * images));
  // Down to a GEMM tile's width (16, 32, 64, then multiples of 128), so the last tile is not mostly padding.
  const width = words >= 128 ? Math.floor(words / 128) * 128 : [64, 32, 16].find((w) => w <= words) ?? words;
  return Math.max(a.captions.L, width);
}

/** Runs the whole computation; resolves when every block's scores were delivered (or written to the target). */
export async function runBlocks(ctx: GpuContext, a: RunBlocksArgs): Promise<void> {
  const { images, captions, plan } = a;
  const { R, D } = images;
  const L = captions.L;
  const limits = chunkLimits(ctx, plan, { N: images.N, M: captions.M, R, D, L }, a.opts);
  const sizes = blockSizes(ctx, a);
  // A training step's blocks live in its own stream and budget; every other call queues for the engine's working memory.
  const release = a.stream ? () => {} : await ctx.memory.reserve(workingBytes(a, sizes), a.what, a.signal);
  try {
    await runBlocksWithin(ctx, a, limits, sizes);
  } finally {
    release();
  }
}

/**
 * What a call may hold at once, an upper bound: the outer block, two inner blocks (one being
 * prepared while the last one's piece runs), two result blocks and the scratch, doubled for the
 * pool's rounding of small buffers to powers of two.
 */
function workingBytes(a: RunBlocksArgs, sizes: Blocks): number {
  const per = perItemBytes(a.plan, a.images, a.captions);
  const [outerPer, innerPer, outerCount, innerCount] = sizes.outer === 'images'
    ? [per.image, per.caption, sizes.images, sizes.captions] : [per.caption, per.image, sizes.captions, sizes.images];
  const result = a.target ? 0 : sizes.images * sizes.captions * 4;
  // A pass's S^T scratch is at most the limit, and at most a whole block's region-word products.
  const scratch = Math.min(sizes.scratch, sizes.images * a.images.R * sizes.captions * a.captions.L * 4);
  return 2 * (outerPer * outerCount + 2 * innerPer * innerCount + 2 * result + 2 * scratch + 64 * 1024);
}

async function runBlocksWithin(ctx: GpuContext, a: RunBlocksArgs, limits: ChunkLimits, sizes: Blocks): Promise<void> {
  const { images, captions, plan } = a;
  const { R, D } = images;
  const L = captions.L;
  const stream = a.stream ?? new CommandStream(ctx, a.what, a.signal);
  const scratch = new Scratch(ctx, stream, sizes.scratch);
  const outerImages = sizes.outer === 'images';
  const [outerTotal, innerTotal] = outerImages ? [images.N, captions.M] : [captions.M, images.N];
  const [outerStep, innerStep] = outerImages ? [sizes.images, sizes.captions] : [sizes.captions, sizes.images];
  const totalBlocks = Math.ceil(outerTotal / outerStep) * Math.ceil(innerTotal / innerStep);
  let doneBlocks = 0;
  type Pending = { block: Omit<BlockScores, 'scores'>; scores: Promise<Float32Array>; buffer: GPUBuffer };
  let pending: Pending | null = null;
  // Hands a block's scores over once read; its buffer goes back to the pool either way.
  const deliver = async (item: Pending | null) => {
    if (!item) return;
    try {
      a.onBlock!({ ...item.block, scores: await item.scores });
    } finally {
      ctx.pool.release(item.buffer);
    }
  };
  // Images read from the CPU ahead of time, so a file read overlaps the GPU work.
  const readImages = (n0: number, count: number) => {
    const read = images.kind === 'cpu' ? Promise.resolve().then(() => images.read(n0, count)) : Promise.resolve(null);
    read.catch(() => {}); // a read ahead that fails is reported when awaited (or not at all, if the call failed first)
    return read;
  };
  // Every prepared block's buffers, released with the stream's if the call fails.
  const prepared: GPUBuffer[][] = [];
  try {
    for (let o0 = 0; o0 < outerTotal; o0 += outerStep) {
      const oCount = Math.min(outerStep, outerTotal - o0);
      const outerHolder: GPUBuffer[] = [];
      prepared.push(outerHolder);
      const outer = outerImages
        ? await prepareImageBlock(ctx, stream, a, o0, oCount, outerStep, await readImages(o0, oCount), limits, outerHolder)
        : await prepareCaptionBlock(ctx, stream, a, o0, oCount, outerStep, limits, outerHolder);
      let next = outerImages ? null : readImages(0, Math.min(innerStep, innerTotal));
      for (let i0 = 0; i0 < innerTotal; i0 += innerStep) {
        const iCount = Math.min(innerStep, innerTotal - i0);
        const data = next ? await next : null;
        if (!outerImages && i0 + innerStep < innerTotal) next = readImages(i0 + innerStep, Math.min(innerStep, innerTotal - i0 - innerStep));
        const innerHolder: GPUBuffer[] = [];
        prepared.push(innerHolder);
        const inner = outerImages
          ? await prepareCaptionBlock(ctx, stream, a, i0, iCount, innerStep, limits, innerHolder)
          : await prepareImageBlock(ctx, stream, a, i0, iCount, innerStep, data, limits, innerHolder);
        const imageBlock = (outerImages ? outer : inner) as PreparedImages;
        const captionBlock = (outerImages ? inner : outer) as PreparedCaptions;
        const [n0, nCount, m0, mCount] = outerImages ? [o0, oCount, i0, iCount] : [i0, iCount, o0, oCount];
        let out: ScoreOutput;
        let result: GPUBuffer | null = null;
        if (a.target) {
          out = { buffer: a.target.buffer, offset: a.target.offset + n0 * captions.M * 4, stride: captions.M, column: m0 };
        } else {
          result = ctx.pool.acquire(Math.max(16, nCount * mCount * 4), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'similarity block', true);
          out = { buffer: result, offset: 0, stride: mCount, column: 0 };
        }
        try {
          for (const captionChunk of captionBlock.chunks) {
            for (const imageChunk of imageBlock.chunks) {
              await encodeChunkScores(ctx, stream, { plan, opts: a.opts, R, D, L, images: imageChunk, captions: captionChunk, out, scratch, wordTerms: a.wordTerms });
            }
          }
        } catch (error) {
          if (result) ctx.pool.release(result);
          throw error;
        }
        stream.retire(inner.buffers);
        if (result) {
          const scores = stream.readLater(result, 0, nCount * mCount);
          scores.catch(() => {});
          const previous = pending;
          pending = { block: { n0, images: nCount, m0, captions: mCount }, scores, buffer: result };
          await deliver(previous);
        }
        stream.check();
        a.onProgress?.(++doneBlocks / totalBlocks);
      }
      stream.retire(outer.buffers);
    }
    const last = pending;
    pending = null;
    await deliver(last);
    stream.check();
    if (!a.stream) await stream.finish();
  } catch (error) {
    const left = pending as Pending | null;
    if (left) {
      await left.scores.catch(() => {});
      ctx.pool.release(left.buffer);
    }
    for (const buffers of prepared) stream.retire(buffers);
    if (!a.stream) await stream.abandon();
    throw error;
  }
}
