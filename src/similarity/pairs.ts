// Scores of chosen (image, caption) pairs, for re-ranking a shortlist exactly (topK's exact
// mode, a vector store's candidates): the split kernel in its pair mode. Pairs are grouped by
// image; one GEMM job list computes each image's regions against the words of its captions
// only, one epilogue job list scores them. A pair's score is bit for bit the one the dense
// split kernel gives it (same per-element sums, whatever the grouping). Only the images and
// captions the pairs name reach the GPU, gathered per pass (or read in place from a resident
// f32 gallery), so the inputs may be any size; passes are bounded by every binding and
// dispatch limit, the scratch and the submission budget.
import { methodSpec } from '../methods/index.js';
import type { GpuContext } from '../gpu/context.js';
import { CommandStream } from '../gpu/submit.js';
import { GemmConfig, encodeGemm, gemmPipeline } from '../ops/gemm.js';
import { encodeWordGram, wordGramPipeline } from '../ops/gram.js';
import { packCaptionTiles } from '../ops/score.js';
import { SplitEpilogueConfig, encodeSplitEpilogue, splitEpiloguePipeline, splitLayout } from '../ops/splitEpilogue.js';
import { NpyReader } from '../io/npy.js';
import type { CaptionInput, SimilarityOptions } from '../types.js';
import { ImageChunk, prepareImages, window } from './operands.js';
import { MAX_GROUPS } from '../gpu/limits.js';
import { maxCaptionsPerChunk, maxImagesPerChunk, resolvePlan } from './plan.js';
import { vec4Aligned } from './run.js';
import type { ImageRowsInput } from './sources.js';
import { checkCaptions, checkFiniteRows, checkImages, checkSameD, resolveOptions } from './validate.js';

/** Pair i is (images[i], captions[i]): indices into the call's images and captions. */
export interface PairList {
  images: ArrayLike<number>;
  captions: ArrayLike<number>;
}

/** Where a pass's images come from: gathered from the caller's rows, or a resident gallery's f32 shards. */
export interface PairImages {
  N: number; R: number; D: number;
  /** Byte offset of a pass's rows in their buffer, for the vec4 check (0: gathered or resident). */
  offset: number;
  /** Passes never mix images of different keys (a resident gallery: its shards). */
  passKey: (n: number) => number;
  /** Most distinct images of one pass. */
  maxPerPass: number;
  /** The f32 rows and Grams of these distinct images (ascending), as one chunk; local(n) is image n's index in it. */
  gather: (stream: CommandStream, ids: number[], holder: GPUBuffer[]) => Promise<{ chunk: ImageChunk; local: (n: number) => number }>;
}

export function checkPairs(what: string, pairs: PairList, N: number, M: number): number {
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

/** Consecutive runs [first, count, position of first in ids] of ascending ids, none crossing a change of `key`. */
export function runsOf(ids: number[], key: (id: number) => number = () => 0): [number, number, number][] {
  const runs: [number, number, number][] = [];
  ids.forEach((id, i) => {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === id && key(id) === key(last[0])) last[1]++;
    else runs.push([id, 1, i]);
  });
  return runs;
}

/** GPU inputs are gathered with buffer copies: they need COPY_SRC besides STORAGE. */
export function checkCopySource(what: string, name: string, input: ImageRowsInput | CaptionInput): void {
  const buffer = (input as { buffer?: GPUBuffer }).buffer;
  if (!buffer || ('data' in input && input.data)) return;
  if ((buffer.usage & GPUBufferUsage.COPY_SRC) === 0) {
    throw new Error(`${what}: ${name}.buffer is read by buffer copies here (only the rows it needs are gathered), so it needs usage STORAGE | COPY_SRC; got usage flags ${buffer.usage}`);
  }
}

/** Most images of a gathered pass: its rows and their Grams stay within one binding and a quarter of the default call budget. */
export function gatheredPassImages(ctx: GpuContext, R: number, D: number): number {
  return Math.max(1, Math.min(maxImagesPerChunk(ctx, R, D, 'f32'), Math.floor(256 * 2 ** 20 / (R * D * 4 + R * R * 4))));
}

/** The caller's images (CPU rows, a file's rows, or a GPU buffer), gathered per pass and their Grams computed. */
export function gatheredImages(ctx: GpuContext, images: ImageRowsInput, N: number, R: number, D: number, what = 'scorePairs'): PairImages {
  checkCopySource(what, 'images', images);
  const rowFloats = R * D;
  const gather = async (stream: CommandStream, ids: number[], holder: GPUBuffer[]) => {
    const bytes = Math.max(16, ids.length * rowFloats * 4);
    const buffer = ctx.pool.acquire(bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'pair images', true);
    holder.push(buffer);
    let at = 0;
    for (const [first, count] of runsOf(ids)) {
      if (images instanceof NpyReader) {
        const rows = await images.readRows(first, count);
        checkFiniteRows(`images (${images.path})`, rows, first, R, D, what);
        await ctx.writeInSlices(buffer, at * rowFloats * 4, rows);
      } else if ('data' in images && images.data) {
        await ctx.writeInSlices(buffer, at * rowFloats * 4, images.data.subarray(first * rowFloats, (first + count) * rowFloats));
      } else {
        const gpu = images as { buffer: GPUBuffer; offset?: number };
        stream.commandEncoder().copyBufferToBuffer(gpu.buffer, (gpu.offset ?? 0) + first * rowFloats * 4, buffer, at * rowFloats * 4, count * rowFloats * 4);
      }
      at += count;
    }
    const gram = ctx.pool.acquire(Math.max(16, ids.length * R * R * 4), GPUBufferUsage.STORAGE, 'pair region gram', true);
    holder.push(gram);
    const chunk = await prepareImages(ctx, stream, {
      source: { binding: { buffer, offset: 0, size: ids.length * rowFloats * 4 }, base: 0 }, count: ids.length, R, D, format: 'f32',
      gram: { buffer: gram, offset: 0, size: ids.length * R * R * 4 }, gramBase: 0, n0: 0,
    });
    const index = new Map(ids.map((id, i) => [id, i]));
    return { chunk, local: (n: number) => index.get(n)! };
  };
  return { N, R, D, offset: 0, passKey: () => 0, maxPerPass: gatheredPassImages(ctx, R, D), gather }; // gathered rows start at 0
}

/** A group's captions, as a key: adjacent images with the same key share GEMM problems. */
function captionsKey(group: PairGroup, order: Uint32Array, captionOf: Int32Array): string {
  return Array.from({ length: group.count }, (_, c) => captionOf[order[group.start + c]]).join(',');
}

/** A run of one image's pairs (consecutive in image order) small enough for the scratch. */
interface PairGroup {
  image: number;
  start: number; // first entry in image order
  count: number;
  words: number;
}

export async function scorePairs(ctx: GpuContext, images: ImageRowsInput, captions: CaptionInput, pairs: PairList, options: SimilarityOptions): Promise<Float32Array> {
  const what = 'scorePairs';
  ctx.checkUsable(what);
  const [N, R, D] = checkImages(images, what);
  return scorePairsOf(ctx, what, gatheredImages(ctx, images, N, R, D, what), captions, pairs, options);
}

export async function scorePairsOf(ctx: GpuContext, what: string, images: PairImages, captions: CaptionInput, pairs: PairList, options: SimilarityOptions): Promise<Float32Array> {
  ctx.checkUsable(what);
  const opts = resolveOptions(options);
  const { shape: [M, L, D], lengths } = checkCaptions(captions, what);
  const { N, R } = images;
  checkSameD(what, D, images.D);
  checkCopySource(what, 'captions', captions);
  const P = checkPairs(what, pairs, N, M);
  const wordGram = methodSpec(opts.method).wordGram(opts);
  const needsWordGram = wordGram !== null;
  // The plan's pair mode: its tiles, its scratch and its option errors are the plan's.
  const plan = await resolvePlan(ctx, { R, D, L }, opts, vec4Aligned(images.offset, 0, D), 'pairs', what);
  const { epilogue, scratchBytes } = plan.split!;
  const maxWords = Math.floor(scratchBytes / (4 * R)) - 3;
  const maxCaptions = Math.min(maxCaptionsPerChunk(ctx, L, D), Math.floor(256 * 2 ** 20 / (L * D * 4 + L * L * 4)));

  // Image order (stable), then runs of one image's pairs whose S^T fits the scratch.
  const imageOf = Int32Array.from(pairs.images as ArrayLike<number>);
  const captionOf = Int32Array.from(pairs.captions as ArrayLike<number>);
  const order = Uint32Array.from({ length: P }, (_, i) => i).sort((a, b) => imageOf[a] - imageOf[b] || a - b);
  const groups: PairGroup[] = [];
  for (let i = 0; i < P; i++) {
    const n = imageOf[order[i]];
    const words = lengths[captionOf[order[i]]];
    const last = groups[groups.length - 1];
    if (last && last.image === n && last.words + words <= maxWords) {
      last.count++;
      last.words += words;
    } else {
      groups.push({ image: n, start: i, count: 1, words });
    }
  }

  const widest = groups.reduce((most, group) => Math.max(most, Math.ceil(group.words / 4) * 4), 0);
  // Every image on the same captions (one caption's shortlist): the pass's images form GEMM
  // problems spanning many images (encodePairPassInto), so tall narrow tiles fit them.
  const firstCaptions = groups.length > 0 ? captionsKey(groups[0], order, captionOf) : '';
  const spanning = groups.length > 1 && groups.every((group) => group.count === groups[0].count && captionsKey(group, order, captionOf) === firstCaptions);
  const gemm = plan.split!.gemmFor(widest, spanning);

  return ctx.scoped(what, async () => {
    const stream = new CommandStream(ctx, what, opts.signal);
    const result = ctx.pool.acquire(P * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'pair scores');
    stream.held.push(result);
    try {
      const [wordPipe, gemmPipe, epiloguePipe] = await Promise.all([
        wordGramPipeline(ctx, wordGram === 'softmax'), gemmPipeline(ctx, gemm), splitEpiloguePipeline(ctx, opts.method, epilogue, { intra: opts.intra, lse: opts.lse }),
      ]);
      let g = 0;
      while (g < groups.length) {
        // A pass: whole groups while their distinct images and captions fit, their S^T fits the
        // scratch, their job lists fit a dispatch and their work the submission budget.
        const key = images.passKey(groups[g].image);
        const passImages = new Set<number>();
        const passCaptions = new Set<number>();
        let scratchFloats = 0;
        let gemmJobs = 0;
        let epilogueJobs = 0;
        let units = 0;
        const first = g;
        for (; g < groups.length; g++) {
          const group = groups[g];
          const stride = Math.ceil(group.words / 4) * 4;
          const gemmCount = Math.ceil(R / gemm.BM) * Math.ceil(stride / gemm.BN);
          // Spanning problems pay for an image's R rows, not a whole BM-row tile each.
          const gemmRows = spanning ? R : Math.ceil(R / gemm.BM) * gemm.BM;
          const tiles = Math.ceil(group.count / epilogue.CAPS) + group.words / epilogue.ROWS + 1; // an upper bound of packCaptionTiles
          const newCaptions = new Set<number>();
          for (let c = 0; c < group.count; c++) { const m = captionOf[order[group.start + c]]; if (!passCaptions.has(m)) newCaptions.add(m); }
          const groupUnits = 2 * gemmRows * Math.ceil(stride / gemm.BN) * gemm.BN * D + group.words * (2 * R * R + 24 * R);
          const full = images.passKey(group.image) !== key || (passImages.size + (passImages.has(group.image) ? 0 : 1)) > images.maxPerPass ||
            passCaptions.size + newCaptions.size > maxCaptions || (scratchFloats + R * stride) * 4 > scratchBytes ||
            gemmJobs + gemmCount > MAX_GROUPS || epilogueJobs + tiles > MAX_GROUPS || units + groupUnits > stream.budget('pairs');
          if (full && g > first) break;
          passImages.add(group.image);
          for (const m of newCaptions) passCaptions.add(m);
          scratchFloats += R * stride;
          gemmJobs += gemmCount;
          epilogueJobs += tiles;
          units += groupUnits;
        }
        await encodePairPass(ctx, stream, {
          images, groups: groups.slice(first, g), imageIds: [...passImages].sort((a, b) => a - b), captionIds: [...passCaptions].sort((a, b) => a - b),
          captions, lengths, L, D, R, order, captionOf, gemm, gemmPipe, epilogue, epiloguePipe, wordPipe: needsWordGram ? wordPipe : null,
          opts, result, units,
        });
      }
      const scores = await stream.read(result, 0, P);
      await stream.finish(false);
      return scores;
    } catch (error) {
      await stream.abandon();
      throw error;
    }
  });
}

interface PairPass {
  images: PairImages;
  groups: PairGroup[];
  imageIds: number[];
  captionIds: number[];
  captions: CaptionInput; lengths: Uint32Array;
  L: number; D: number; R: number;
  order: Uint32Array; captionOf: Int32Array;
  gemm: GemmConfig; gemmPipe: GPUComputePipeline;
  epilogue: SplitEpilogueConfig; epiloguePipe: GPUComputePipeline;
  wordPipe: GPUComputePipeline | null;
  opts: ReturnType<typeof resolveOptions>;
  result: GPUBuffer;
  units: number;
}

/** One pass: gathers its images and captions, then one GEMM job list and one epilogue job list. */
async function encodePairPass(ctx: GpuContext, stream: CommandStream, p: PairPass): Promise<void> {
  const holder: GPUBuffer[] = [];
  try {
    await encodePairPassInto(ctx, stream, p, holder);
  } finally {
    stream.retire(holder); // released once the pass's work is submitted (or with the stream, if it failed)
  }
}

async function encodePairPassInto(ctx: GpuContext, stream: CommandStream, p: PairPass, holder: GPUBuffer[]): Promise<void> {
  const { R, L, D, gemm, epilogue, order, captionOf } = p;
  const { chunk, local } = await p.images.gather(stream, p.imageIds, holder);
  // The pass's captions, gathered: [C, L, D] with their lengths and word Grams.
  const C = p.captionIds.length;
  const captionLocal = new Map(p.captionIds.map((m, i) => [m, i]));
  const captionBuffer = ctx.pool.acquire(Math.max(16, C * L * D * 4), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'pair captions', true);
  holder.push(captionBuffer);
  let at = 0;
  for (const [first, count] of runsOf(p.captionIds)) {
    if ('data' in p.captions && p.captions.data) {
      const rows = p.captions.data.subarray(first * L * D, (first + count) * L * D);
      await ctx.writeInSlices(captionBuffer, at * L * D * 4, rows);
    } else {
      const gpu = p.captions as { buffer: GPUBuffer; offset?: number };
      stream.commandEncoder().copyBufferToBuffer(gpu.buffer, (gpu.offset ?? 0) + first * L * D * 4, captionBuffer, at * L * D * 4, count * L * D * 4);
    }
    at += count;
  }
  const passLengths = Uint32Array.from(p.captionIds, (m) => p.lengths[m]);
  const captionWindow = window(ctx, captionBuffer, 0, 0, C * L * D);
  const wordGram = ctx.pool.acquire(p.wordPipe ? C * L * L * 4 : 16, GPUBufferUsage.STORAGE, 'pair word gram', true);
  holder.push(wordGram);

  const gemmJobs: number[] = [];
  const epilogueJobs: number[] = [];
  const wordRows: number[] = [];
  const entryCaption: number[] = []; // each list entry's local caption
  const entryResult: number[] = []; // and its pair index
  let scratchFloats = 0;
  let run: { image: number; images: number; captions: string; base: number; stride: number; words: number; wordStart: number } | null = null;
  const pushRun = (r: NonNullable<typeof run>) => {
    const rows = r.images * R;
    for (let row0 = 0; row0 < rows; row0 += gemm.BM) {
      for (let col0 = 0; col0 < r.stride; col0 += gemm.BN) gemmJobs.push(chunk.base + r.image * R * D, rows, col0, r.words, r.wordStart, r.base, r.stride, row0);
    }
  };
  for (const group of p.groups) {
    const stride = Math.ceil(group.words / 4) * 4;
    const lengthsOfGroup = Uint32Array.from({ length: group.count }, (_, c) => p.lengths[captionOf[order[group.start + c]]]);
    const tileList = packCaptionTiles(lengthsOfGroup, 0, group.count, epilogue.ROWS, epilogue.CAPS);
    const base = scratchFloats;
    const wordStart = wordRows.length;
    const firstRow: number[] = [];
    const entry0 = entryCaption.length;
    for (let c = 0; c < group.count; c++) {
      const pair = order[group.start + c];
      const m = captionLocal.get(captionOf[pair])!;
      firstRow.push(wordRows.length - wordStart);
      entryCaption.push(m);
      entryResult.push(pair);
      for (let w = 0; w < passLengths[m]; w++) wordRows.push((m * L + w) * D);
    }
    const image = local(group.image);
    const captionsOfGroup = captionsKey(group, order, captionOf);
    // An image next to the previous one in the pass with the same captions extends its GEMM
    // problem (its S^T block follows in the scratch at the same stride), so a shortlist of one
    // caption fills BM-row tiles with many images' regions instead of one image's R each.
    if (run && run.image + run.images === image && run.captions === captionsOfGroup && run.base + run.images * R * stride === base) run.images++;
    else {
      if (run) pushRun(run);
      run = { image, images: 1, captions: captionsOfGroup, base, stride, words: group.words, wordStart };
    }
    for (let t = 0; t < tileList.length; t += 2) {
      epilogueJobs.push(entry0 + tileList[t], tileList[t + 1], image, firstRow[tileList[t]], base, stride, 0, 0);
    }
    scratchFloats += R * stride;
  }
  if (run) pushRun(run);
  const scratch = ctx.pool.acquire(Math.max(16, scratchFloats * 4), GPUBufferUsage.STORAGE, 'pair scratch S^T');
  holder.push(scratch);
  const upload = (data: Uint32Array, label: string) => {
    const buffer = ctx.upload(data, label);
    holder.push(buffer);
    return buffer;
  };
  await stream.reserve(p.units + (p.wordPipe ? 2 * C * L * L * D : 0), 'pairs');
  if (p.wordPipe) {
    encodeWordGram(ctx, stream.pass, p.wordPipe, {
      captions: captionWindow.binding, captionBase: captionWindow.base, captionChunkStart: 0, numCaptions: C,
      maxWords: L, dim: D, lengths: upload(passLengths, 'pair lengths'), lambdaIntra: p.opts.lambdaIntra, wordGram,
    }, stream.transient);
  }
  encodeGemm(ctx, stream.pass, p.gemmPipe, gemm, {
    regions: chunk.data, regionBase: 0, words: captionWindow.binding, wordBase: captionWindow.base,
    wordRows: upload(Uint32Array.from(wordRows), 'pair word rows'),
    rows: R, wordCount: 0, wordStride: 4, dim: D, scratch: { buffer: scratch, offset: 0, size: Math.max(16, scratchFloats * 4) },
    jobs: { buffer: upload(Uint32Array.from(gemmJobs), 'gemm jobs'), count: gemmJobs.length / 8 },
  }, stream.transient);
  const layout = splitLayout(passLengths, epilogueJobs, entryCaption, entryResult);
  encodeSplitEpilogue(ctx, stream.pass, p.epiloguePipe, p.opts.method, {
    scratch: { buffer: scratch, offset: 0, size: Math.max(16, scratchFloats * 4) }, wordStride: 4,
    layout: upload(layout.data, 'pair layout'), tileBase: layout.offsets[0], rowBase: layout.offsets[1], resultBase: layout.offsets[2],
    numTiles: epilogueJobs.length / 8, captionChunkStart: 0, regionGram: chunk.gram, gramBase: chunk.gramBase, wordGram, out: p.result, outBase: 0, outStride: 0, maxWords: L,
    numImages: 1, imageStart: 0, threshold: p.opts.threshold, lambdaSoftmax: p.opts.lambdaSoftmax, lambdaLse: p.opts.lambdaLse, pairs: true,
  }, stream.transient);
}
