// Scores of chosen (image, caption) pairs, for re-ranking a shortlist exactly (topK's exact
// mode, a vector store's candidates): the split kernel in its pair mode. Pairs are grouped by
// image; one GEMM job list computes each image's regions against the words of its captions
// only, one epilogue job list scores them. A pair's score is bit for bit the one the dense
// split kernel gives it (same per-element sums, whatever the grouping).
import type { GpuContext } from '../gpu/context.js';
import { encodeGemm, gemmPipeline, makeGemmConfig } from '../ops/gemm.js';
import { encodeRegionGram, encodeWordGram, regionGramPipeline, wordGramPipeline } from '../ops/gram.js';
import { packCaptionTiles } from '../ops/score.js';
import { chooseSplitEpilogue, encodeSplitEpilogue, splitEpiloguePipeline, splitLayout } from '../ops/splitEpilogue.js';
import type { CaptionInput, ImageInput, SimilarityOptions } from '../types.js';
import { vec4Aligned, window } from './encode.js';
import { checkInputs, resolveOptions } from './validate.js';

/** Pair i is (images[i], captions[i]): indices into the call's images and captions. */
export interface PairList {
  images: ArrayLike<number>;
  captions: ArrayLike<number>;
}

const MAX_GROUPS = 65535;

/** A run of one image's pairs (consecutive in image order) small enough for the scratch. */
interface PairGroup {
  image: number;
  start: number; // first entry in image order
  count: number;
  words: number;
}

function checkPairs(pairs: PairList, N: number, M: number): number {
  const what = 'scorePairs';
  if (!pairs || typeof pairs !== 'object' || !pairs.images || !pairs.captions) {
    throw new Error(`${what}: pairs must be { images, captions }, two arrays of indices of the same length`);
  }
  const P = pairs.images.length;
  if (pairs.captions.length !== P) throw new Error(`${what}: pairs.images has ${P} entries but pairs.captions has ${pairs.captions.length}; they must match`);
  if (P === 0) throw new Error(`${what}: pairs is empty: give at least one (image, caption) pair`);
  for (let i = 0; i < P; i++) {
    const n = pairs.images[i];
    const m = pairs.captions[i];
    if (!Number.isInteger(n) || n < 0 || n >= N) throw new Error(`${what}: pairs.images[${i}] must be an image index in [0, ${N}), got ${n}`);
    if (!Number.isInteger(m) || m < 0 || m >= M) throw new Error(`${what}: pairs.captions[${i}] must be a caption index in [0, ${M}), got ${m}`);
  }
  return P;
}

export async function scorePairs(ctx: GpuContext, images: ImageInput, captions: CaptionInput, pairs: PairList, options: SimilarityOptions): Promise<Float32Array> {
  const what = 'scorePairs';
  ctx.checkUsable(what);
  const opts = resolveOptions(options);
  if (opts.precision !== 'f32') throw new Error(`${what}: options.precision must be 'f32' (exact scores), got '${opts.precision}'`);
  if (opts.kernel === 'fused') throw new Error(`${what}: pairs are scored by the split kernel; drop options.kernel 'fused'`);
  const dims = checkInputs(images, captions);
  const { N, R, D, M, L } = dims;
  const P = checkPairs(pairs, N, M);
  const needsWordGram = opts.method !== 'naaf' || opts.intra;
  const maxBinding = ctx.limits.maxStorageBufferBindingSize - ctx.limits.minStorageBufferOffsetAlignment;
  const fits: [string, number][] = [
    [`images [${N}, ${R}, ${D}]`, N * R * D * 4], [`captions [${M}, ${L}, ${D}]`, M * L * D * 4], [`the region Grams [${N}, ${R}, ${R}]`, N * R * R * 4],
    [`the word Grams [${M}, ${L}, ${L}]`, needsWordGram ? M * L * L * 4 : 0], [`the ${P} scores`, P * 4],
  ];
  for (const [name, bytes] of fits) {
    if (bytes > maxBinding) throw new Error(`${what}: ${name} need ${bytes} bytes in one binding, more than this device allows (${maxBinding}); score fewer images or captions per call`);
  }
  if (N > MAX_GROUPS || M > MAX_GROUPS) throw new Error(`${what}: at most ${MAX_GROUPS} images and ${MAX_GROUPS} captions per call, got ${N} and ${M}`);
  const tile = opts.tile;
  for (const key of ['images', 'rowBlocks', 'blocksPerJob'] as const) {
    if (tile[key] !== undefined) throw new Error(`${what}: options.tile.${key} is a fused-kernel option; pairs run on the split kernel`);
  }
  const limit = ctx.limits.maxComputeWorkgroupStorageSize;
  const imageOffset = 'data' in images ? 0 : images.offset ?? 0;
  const captionOffset = 'data' in captions ? 0 : captions.offset ?? 0;
  const epilogue = chooseSplitEpilogue(opts.method, R, L, limit, tile.rows, true);
  const scratchBytes = Math.min(opts.maxScratchBytes, ctx.limits.maxStorageBufferBindingSize);
  const maxWords = Math.floor(scratchBytes / (4 * R)) - 3;
  if (maxWords < L) throw new Error(`${what}: options.maxScratchBytes = ${opts.maxScratchBytes} cannot hold one caption of L = ${L} words against one image of R = ${R} regions`);

  // Image order (stable), then runs of one image's pairs whose S^T fits the scratch.
  const imageOf = Int32Array.from(pairs.images as ArrayLike<number>);
  const captionOf = Int32Array.from(pairs.captions as ArrayLike<number>);
  const order = Uint32Array.from({ length: P }, (_, i) => i).sort((a, b) => imageOf[a] - imageOf[b] || a - b);
  const groups: PairGroup[] = [];
  for (let i = 0; i < P; i++) {
    const n = imageOf[order[i]];
    const words = dims.lengths[captionOf[order[i]]];
    const last = groups[groups.length - 1];
    if (last && last.image === n && last.words + words <= maxWords) {
      last.count++;
      last.words += words;
    } else {
      groups.push({ image: n, start: i, count: 1, words });
    }
  }

  // A tile holds one image's R regions against one group's words: 64 rows waste less than 128
  // for R <= 64, and 64 columns less than 128 where every group has at most 64 words (a search
  // caption against its candidates; an image on several captions' lists sums their words):
  // on a CPU driver the wasted half is paid in full (1.6x at 1000 pairs).
  const widest = groups.reduce((most, group) => Math.max(most, Math.ceil(group.words / 4) * 4), 0);
  const gemm = makeGemmConfig('f32', vec4Aligned({ imageOffset, captionOffset }, D), tile.gemmRows ?? (R <= 64 ? 64 : 128), tile.gemmCols ?? (widest <= 64 ? 64 : 128), tile.depth ?? 16, true);

  return ctx.scoped(what, async () => {
    const transient: GPUBuffer[] = [];
    const own = (buffer: GPUBuffer) => (transient.push(buffer), buffer);
    try {
      const imageBuffer = 'data' in images ? own(ctx.upload(images.data, 'images')) : images.buffer;
      const captionBuffer = 'data' in captions ? own(ctx.upload(captions.data, 'captions')) : captions.buffer;
      const imageWindow = window(ctx, imageBuffer, imageOffset, 0, N * R * D);
      const captionWindow = window(ctx, captionBuffer, captionOffset, 0, M * L * D);
      const [gramPipe, wordPipe, gemmPipe, epiloguePipe] = await Promise.all([
        regionGramPipeline(ctx, R), wordGramPipeline(ctx, opts.method === 'naaf'), gemmPipeline(ctx, gemm), splitEpiloguePipeline(ctx, opts.method, epilogue, { intra: opts.intra, lse: opts.lse }),
      ]);
      const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
      const result = own(ctx.pool.acquire(P * 4, storage, 'pair scores'));
      const lengths = own(ctx.upload(dims.lengths, 'lengths'));
      const regionGram = own(ctx.pool.acquire(N * R * R * 4, GPUBufferUsage.STORAGE, 'region gram'));
      const wordGram = own(ctx.pool.acquire(needsWordGram ? M * L * L * 4 : 4, GPUBufferUsage.STORAGE, 'word gram'));
      const encoder = ctx.createEncoder(what);
      const pass = ctx.beginPass(encoder, what);
      encodeRegionGram(ctx, pass, gramPipe, { images: imageWindow.binding, imageBase: imageWindow.base, numImages: N, dim: D, gram: regionGram }, transient);
      if (needsWordGram) {
        encodeWordGram(ctx, pass, wordPipe, {
          captions: captionWindow.binding, captionBase: captionWindow.base, captionChunkStart: 0, numCaptions: M,
          maxWords: L, dim: D, lengths, lambdaIntra: opts.lambdaIntra, wordGram,
        }, transient);
      }
      const captionList = Uint32Array.from(order, (i) => captionOf[i]);
      // Passes of whole groups: the scratch holds every group's S^T block, the job lists fit a
      // dispatch. One scratch serves every pass (they run in order), grown only when a pass needs more.
      let scratch = { buffer: null as unknown as GPUBuffer, size: 0 };
      let g = 0;
      while (g < groups.length) {
        const gemmJobs: number[] = [];
        const epilogueJobs: number[] = [];
        const wordRows: number[] = [];
        let scratchFloats = 0;
        for (; g < groups.length; g++) {
          const group = groups[g];
          const stride = Math.ceil(group.words / 4) * 4;
          const gemmCount = Math.ceil(R / gemm.BM) * Math.ceil(stride / gemm.BN);
          const lengthsOfGroup = Uint32Array.from({ length: group.count }, (_, c) => dims.lengths[captionOf[order[group.start + c]]]);
          const tileList = packCaptionTiles(lengthsOfGroup, 0, group.count, epilogue.ROWS, epilogue.CAPS);
          const full = (scratchFloats + R * stride) * 4 > scratchBytes || gemmJobs.length / 8 + gemmCount > MAX_GROUPS || epilogueJobs.length / 8 + tileList.length / 2 > MAX_GROUPS;
          if (full && gemmJobs.length > 0) break;
          const base = scratchFloats;
          const wordStart = wordRows.length;
          const firstRow: number[] = [];
          for (let c = 0; c < group.count; c++) {
            const m = captionOf[order[group.start + c]];
            firstRow.push(wordRows.length - wordStart);
            for (let w = 0; w < dims.lengths[m]; w++) wordRows.push((m * L + w) * D);
          }
          for (let row0 = 0; row0 < R; row0 += gemm.BM) {
            for (let col0 = 0; col0 < stride; col0 += gemm.BN) {
              gemmJobs.push(imageWindow.base + group.image * R * D, R, col0, group.words, wordStart, base, stride, row0);
            }
          }
          for (let t = 0; t < tileList.length; t += 2) {
            epilogueJobs.push(group.start + tileList[t], tileList[t + 1], group.image, firstRow[tileList[t]], base, stride, 0, 0);
          }
          scratchFloats += R * stride;
        }
        if (scratch.size < scratchFloats * 4) scratch = { buffer: own(ctx.pool.acquire(scratchFloats * 4, GPUBufferUsage.STORAGE, 'pair scratch S^T')), size: scratchFloats * 4 };
        encodeGemm(ctx, pass, gemmPipe, gemm, {
          regions: imageWindow.binding, regionBase: 0, words: captionWindow.binding, wordBase: captionWindow.base,
          wordRows: own(ctx.upload(Uint32Array.from(wordRows), 'pair word rows')),
          rows: R, wordCount: 0, wordStride: 4, dim: D, scratch: { buffer: scratch.buffer, offset: 0, size: scratchFloats * 4 },
          jobs: { buffer: own(ctx.upload(Uint32Array.from(gemmJobs), 'gemm jobs')), count: gemmJobs.length / 8 },
        }, transient);
        const layout = splitLayout(dims.lengths, epilogueJobs, captionList, order);
        encodeSplitEpilogue(ctx, pass, epiloguePipe, opts.method, {
          scratch: { buffer: scratch.buffer, offset: 0, size: scratchFloats * 4 }, wordStride: 4,
          layout: own(ctx.upload(layout.data, 'pair layout')), tileBase: layout.offsets[0], rowBase: layout.offsets[1], resultBase: layout.offsets[2],
          numTiles: epilogueJobs.length / 8, captionChunkStart: 0, regionGram, gramBase: 0, wordGram, out: result, outBase: 0, outStride: 0, maxWords: L,
          numImages: 1, imageStart: 0, threshold: opts.threshold, lambdaSoftmax: opts.lambdaSoftmax, lambdaLse: opts.lambdaLse, pairs: true,
        }, transient);
      }
      pass.end();
      return await ctx.readFloat32(result, 0, P, encoder);
    } finally {
      for (const buffer of transient) ctx.pool.release(buffer);
    }
  });
}
