// Launchers of the CPU score kernels (kernels/wasm/score.h, prep.c and each method's epilogue
// file): images made ready in WASM memory (rows in their format, int8 scales, region Grams),
// captions made ready (word Grams, whole captions packed side by side into tiles of GEMM panels),
// and scoring jobs (images x a tile) run on the thread pool. The method's registry entry names
// its kernel (MethodSpec.kernels.wasm).
import { methodSpec } from '../methods/index.js';
import type { ResolvedOptions } from '../similarity/validate.js';
import type { WasmHeap } from './heap.js';
import type { WasmRuntime } from './runtime.js';
import type { Field } from './structs.js';

export type WasmFormat = 'f32' | 'f16' | 'int8';
const FORMAT_CODE: Record<WasmFormat, number> = { f32: 0, f16: 1, int8: 2 };

/** Words a tile packs at most (more for one longer caption): S^T [R][64] stays in L1. */
export const TILE_WORDS = 64;

/** Where a kernel's blocks come from: a call's scope, or a gallery shard's own. */
export interface HeapAllocator {
  readonly heap: WasmHeap;
  alloc(bytes: number, what: string): number;
  copy(data: Float32Array | Int32Array | Uint32Array, what: string): number;
  struct(fields: readonly Field[], what: string): number;
}

/** int8 rows hold D values padded to DP (a multiple of 8: the GEMM takes k in pairs). */
export function int8RowLength(D: number): number {
  return Math.ceil(D / 8) * 8;
}

/** Images ready for the score kernels, in one heap. */
export interface WasmImages {
  heap: WasmHeap;
  format: WasmFormat;
  count: number;
  R: number; D: number; DP: number;
  rows: number;
  scales: number;
  grams: number;
}

/** Bytes one image takes ready in a format: rows (and int8 scales) and its Gram. */
export function imageBytes(R: number, D: number, format: WasmFormat): number {
  const rows = format === 'f32' ? R * D * 4 : format === 'f16' ? R * D * 2 : R * (int8RowLength(D) + 4);
  return rows + R * R * 4;
}

/** Items per chunk of a prep kernel: about `target` work units each. */
function chunkOf(unitsPerItem: number, target = 2e6): number {
  return Math.max(1, Math.floor(target / Math.max(1, unitsPerItem)));
}

/** Where images made ready go: rows, int8 scales and Grams of `capacity` images, the first `at` of them already written. */
export interface ImageBlocks { rows: number; scales: number; grams: number }

/** Allocates room for `capacity` images at `format` in `into`. */
export function allocImages(into: HeapAllocator, capacity: number, R: number, D: number, format: WasmFormat): ImageBlocks {
  const n = Math.max(1, capacity);
  const rows = into.alloc(format === 'f32' ? n * R * D * 4 : format === 'f16' ? n * R * D * 2 : n * R * int8RowLength(D), `images (${format})`);
  const scales = format === 'int8' ? into.alloc(n * R * 4, 'image scales') : 0;
  return { rows, scales, grams: into.alloc(n * R * R * 4, 'region grams') };
}

/**
 * `count` images of f32 rows (already checked finite) made ready at `format` into `dest` from
 * image `at` on: f32 copied, f16 rounded to float16 bits, int8 quantised per row; then their
 * Grams (from the values kept: the rounded or dequantised ones). `temp` holds what passes.
 */
export async function writeImages(rt: WasmRuntime, temp: HeapAllocator, data: Float32Array, count: number, R: number, D: number,
  format: WasmFormat, dest: ImageBlocks, at: number): Promise<void> {
  const heap = temp.heap;
  const DP = int8RowLength(D);
  const rowsCount = count * R;
  const rowBytes = format === 'f32' ? R * D * 4 : format === 'f16' ? R * D * 2 : R * DP;
  const rows = dest.rows + at * rowBytes;
  const scales = dest.scales ? dest.scales + at * R * 4 : 0;
  if (format === 'f32') {
    heap.f32(rows, rowsCount * D).set(data);
  } else {
    const source = temp.copy(data, 'images (f32)');
    if (format === 'f16') await runPrep(rt, temp, 'to_f16', { rows: source, out: rows, D, format: 1 }, rowsCount, D);
    else await runPrep(rt, temp, 'quantize_rows', { rows: source, out: rows, outScales: scales, D, DP }, rowsCount, D);
  }
  await runPrep(rt, temp, 'region_grams', { rows, scales, out: dest.grams + at * R * R * 4, R, D, DP, format: FORMAT_CODE[format] }, count, R * R * D / 2, R * D * 4);
}

/** `count` images made ready at `format` in blocks of `into` (a call's own). */
export async function prepareImages(rt: WasmRuntime, into: HeapAllocator, data: Float32Array, count: number, R: number, D: number,
  format: WasmFormat, temp: HeapAllocator): Promise<WasmImages> {
  const dest = allocImages(into, count, R, D, format);
  await writeImages(rt, temp, data, count, R, D, format, dest, 0);
  return { heap: into.heap, format, count, R, D, DP: int8RowLength(D), ...dest };
}

interface PrepFields {
  rows?: number; scales?: number; out?: number; outScales?: number;
  R?: number; D?: number; DP?: number; format?: number; lengths?: number; L?: number; lambdaIntra?: number; softmax?: boolean;
}

/** A prep.c kernel over `items` (PrepArgs). */
async function runPrep(rt: WasmRuntime, scope: HeapAllocator, kernel: string, f: PrepFields, items: number, unitsPerItem: number, scratchBytes = 0): Promise<void> {
  const args = scope.struct([
    f.rows ?? 0, f.scales ?? 0, f.out ?? 0, f.outScales ?? 0, f.R ?? 0, f.D ?? 0, f.DP ?? 0, f.format ?? 0,
    f.lengths ?? 0, f.L ?? 0, { f32: f.lambdaIntra ?? 0 }, f.softmax ? 1 : 0,
  ], kernel);
  await rt.run(scope.heap, kernel, args, items, chunkOf(unitsPerItem), Math.max(scratchBytes, 4 * (f.D ?? 0) + 64));
}

/**
 * Captions packed into tiles: [tiles][4] (first packed word, padded words, first slot, slots) and
 * [slots][4] (caption, first word, length, output column); `pack` lists the tiles whose words
 * are packed (tiles of the same captions share their packed words, whatever their columns).
 */
export interface TilePlan {
  tiles: Int32Array;
  slots: Int32Array;
  pack: Int32Array;
  /** Packed words in all (a multiple of 8), and the widest tile's. */
  words: number;
  maxWords: number;
}

/** Builds a TilePlan, group by group (a pair call's images each get tiles of their own captions). */
export class TilePlanner {
  private readonly tiles: number[] = [];
  private readonly slots: number[] = [];
  private readonly pack: number[] = [];
  private readonly packed = new Map<string, number>();
  private words = 0;
  private maxWords = 8;

  /**
   * Tiles of these captions in order (whole captions, at most TILE_WORDS words a tile, a longer
   * caption alone), caption i's score written to columns[i]; returns the new tiles' indices.
   */
  add(captions: ArrayLike<number>, lengths: ArrayLike<number>, columns: ArrayLike<number>): number[] {
    const added: number[] = [];
    let i = 0;
    while (i < captions.length) {
      const start = i;
      let used = 0;
      while (i < captions.length && (i === start || used + lengths[i] <= TILE_WORDS)) used += lengths[i++];
      const key = Array.from({ length: i - start }, (_, c) => captions[start + c]).join(',');
      const W = Math.ceil(used / 8) * 8;
      let first = this.packed.get(key);
      const firstSlot = this.slots.length / 4;
      let at = 0;
      for (let c = start; c < i; c++) {
        this.slots.push(captions[c], at, lengths[c], columns[c]);
        at += lengths[c];
      }
      if (first === undefined) {
        first = this.words;
        this.packed.set(key, first);
        this.pack.push(first, W, firstSlot, i - start);
        this.words += W;
      }
      this.maxWords = Math.max(this.maxWords, W);
      added.push(this.tiles.length / 4);
      this.tiles.push(first, W, firstSlot, i - start);
    }
    return added;
  }

  plan(): TilePlan {
    return { tiles: Int32Array.from(this.tiles), slots: Int32Array.from(this.slots), pack: Int32Array.from(this.pack), words: this.words, maxWords: this.maxWords };
  }
}

/** Every caption 0..M in order, caption m's score in column m: a dense call's tiles. */
export function denseTiles(lengths: ArrayLike<number>): TilePlan {
  const planner = new TilePlanner();
  const ids = Int32Array.from({ length: lengths.length }, (_, i) => i);
  planner.add(ids, lengths, ids);
  return planner.plan();
}

/** Captions ready for the score kernels. */
export interface WasmCaptions {
  count: number; L: number; D: number;
  plan: TilePlan;
  tiles: number; slots: number;
  panels: number; wordScales: number;
  wordGram: number;
}

/**
 * `count` captions [count][L][D] (f32, checked) with their lengths, made ready at `format` for
 * `method` (its word Gram) and packed by `plan` (whose slots name these captions 0..count).
 */
export async function prepareCaptions(rt: WasmRuntime, scope: HeapAllocator, data: Float32Array, lengths: Uint32Array | Int32Array,
  count: number, L: number, D: number, format: WasmFormat, opts: ResolvedOptions, plan: TilePlan): Promise<WasmCaptions> {
  const rows = scope.copy(data, 'captions');
  if (format !== 'f32') {
    // f16 and int8 score the rounded or dequantised words; f16 rounds them here, int8 when packing.
    if (format === 'f16') await runPrep(rt, scope, 'to_f16', { rows, out: rows, D, format: 0 }, count * L, D);
  }
  const kind = methodSpec(opts.method).wordGram(opts);
  let wordGram = 0;
  const lengthsPtr = scope.copy(Int32Array.from(lengths), 'caption lengths');
  if (kind) {
    wordGram = scope.alloc(count * L * L * 4, 'word grams');
    const source = format === 'int8' ? await dequantizedRows(rt, scope, rows, count * L, D) : rows;
    await runPrep(rt, scope, 'word_grams', { rows: source, out: wordGram, D, L, lengths: lengthsPtr, lambdaIntra: opts.lambdaIntra, softmax: kind === 'softmax' }, count, L * L * D / 2);
  }
  const DP = int8RowLength(D);
  const tiles = scope.copy(plan.tiles, 'tiles');
  const slots = scope.copy(plan.slots, 'tile slots');
  const panels = scope.alloc(Math.max(64, plan.words * (format === 'int8' ? DP * 2 : D * 4)), 'caption panels');
  const wordScales = format === 'int8' ? scope.alloc(Math.max(4, plan.words * 4), 'word scales') : 0;
  const args = scope.struct([rows, scope.copy(plan.pack, 'packed tiles'), slots, panels, wordScales, L, D, DP, format === 'int8' ? 2 : 0], 'pack_tiles');
  await rt.run(scope.heap, 'pack_tiles', args, plan.pack.length / 4, chunkOf(TILE_WORDS * D), 4 * D + DP + 64);
  return { count, L, D, plan, tiles, slots, panels, wordScales, wordGram };
}

/** int8: the words the word Grams see are the dequantised ones (as the GPU's int8 path). */
async function dequantizedRows(rt: WasmRuntime, scope: HeapAllocator, rows: number, count: number, D: number): Promise<number> {
  const DP = int8RowLength(D);
  const q = scope.alloc(count * DP, 'word rows (int8)');
  const scales = scope.alloc(count * 4, 'word scales');
  await runPrep(rt, scope, 'quantize_rows', { rows, out: q, outScales: scales, D, DP }, count, D);
  const values = scope.alloc(count * D * 4, 'word rows (dequantised)');
  await runPrep(rt, scope, 'dequantize_rows', { rows: q, scales, out: values, D, DP }, count, D);
  return values;
}

/** Bytes of scratch one thread needs for a score job (score.h: SCORE_SCRATCH_FLOATS). */
export function scoreScratchBytes(R: number, D: number, maxWords: number): number {
  return 4 * (R * maxWords * 4 + 16 * maxWords + 64 * R + R * (D + 8) + 256);
}

export interface ScoreTarget {
  /** out[(n - image0) * stride + column]: a scores block in the heap. */
  out: number;
  stride: number;
  image0: number;
  /** NAAF: 4 floats per (row, column, word), or 0. */
  wordTerms?: number;
}

/**
 * Runs the method's score kernel over `jobs` ([jobs][4]: first image, images, tile, column offset), writing
 * into `target`. Images and captions must be in the same heap.
 */
export async function runScore(rt: WasmRuntime, scope: HeapAllocator, opts: ResolvedOptions, images: WasmImages, captions: WasmCaptions,
  jobs: Int32Array, target: ScoreTarget): Promise<void> {
  const kernel = methodSpec(opts.method).kernels.wasm.score;
  const flags = (opts.intra ? 1 : 0) | (opts.lse ? 2 : 0);
  const args = scope.struct([
    images.rows, images.scales, images.grams, images.R, images.D, images.DP, FORMAT_CODE[images.format],
    captions.panels, captions.wordScales, captions.tiles, captions.slots, captions.wordGram, captions.L,
    scope.copy(jobs, 'score jobs'), target.out, target.stride, target.image0, target.wordTerms ?? 0,
    { f32: opts.threshold }, { f32: opts.lambdaSoftmax }, { f32: opts.lambdaLse }, { f32: opts.lambdaIntra }, flags, captions.plan.maxWords,
  ], kernel);
  await rt.run(scope.heap, kernel, args, jobs.length / 4, 1, scoreScratchBytes(images.R, images.D, captions.plan.maxWords));
}

/**
 * Dense jobs: every tile against images [first, first + count), the images cut so that each
 * job is about a millisecond of work and every thread gets several.
 */
export function denseJobs(plan: TilePlan, first: number, count: number, R: number, D: number, threads: number): Int32Array {
  const tileCount = plan.tiles.length / 4;
  const perImage = 2 * R * D * Math.max(8, plan.words / Math.max(1, tileCount));
  const byWork = Math.max(1, Math.ceil(3e7 / perImage));
  const byThreads = Math.max(1, Math.ceil((count * tileCount) / (4 * threads)));
  const step = Math.max(1, Math.min(byWork, byThreads, count));
  const jobs: number[] = [];
  for (let t = 0; t < tileCount; t++) {
    for (let n = 0; n < count; n += step) jobs.push(first + n, Math.min(step, count - n), t, 0);
  }
  return Int32Array.from(jobs);
}
