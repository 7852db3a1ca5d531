// One plan per similarity call: which kernel (fused or split), which product (f32, f16, int8
// dot4 or subgroup matrices) and which tiles, resolved once from the call's options, the
// device and the tuned choices; and how a block of images and captions is cut into chunks
// that fit every binding and dispatch limit. The launchers run the plan they are given.
import type { KernelChoice, Product, ScoreKernel } from './choice.js';
import type { GpuContext } from '../gpu/context.js';
import { MAX_GROUPS, scratchBytesLimit } from '../gpu/limits.js';
import { GemmConfig, GemmFormat, gemmSharedBytes, makeGemmConfig, makeMmaGemmConfig, verifyMmaGemm } from '../ops/gemm.js';
import { packedLayout } from '../ops/quantize.js';
import { I8ScoreConfig, Int8Kernel, chooseI8Config } from '../ops/scoreI8.js';
import { ScoreConfig, ScoreFlags, ScoreMethod, TileRequest, checkTileRequest, chooseScoreConfig } from '../ops/score.js';
import { SplitEpilogueConfig, chooseSplitEpilogue } from '../ops/splitEpilogue.js';
import type { Precision } from '../types.js';
import { IMAGE_PAD_ROWS, OperandFormat } from './operands.js';
import { verifyFusedMma } from './selfCheck.js';
import { tunedChoice } from './tune.js';
import { methodSpec } from '../methods/index.js';
import type { ResolvedOptions } from './validate.js';

export type { KernelChoice, Product, ScoreKernel } from './choice.js';

/** The default scratch budget of the split path's S^T (per call; see SimilarityOptions.maxScratchBytes). */
export const DEFAULT_SCRATCH_BYTES = 256 * 2 ** 20;


/** The shape a plan is resolved for: regions, dimension, the longest caption. */
export interface PlanShape { R: number; D: number; L: number }

export interface FusedPlan {
  /** f32 product (score_f32.wgsl) or the int8 one (score_i8_*.wgsl). */
  f32?: ScoreConfig;
  int8?: I8ScoreConfig;
  ROWS: number; CAPS: number; IMGS: number;
}

export interface SplitPlan {
  /**
   * The GEMM tile for a chunk of `wordStride` packed word rows (narrow tiles waste less for a few
   * captions). Pair mode, `spanning`: its GEMM problems span many images' regions (a shortlist
   * of one caption), so the dense mode's tall narrow tiles fit them.
   */
  gemmFor: (wordStride: number, spanning?: boolean) => GemmConfig;
  /** The widest GEMM tile (engine.plan() reports it). */
  gemm: GemmConfig;
  epilogue: SplitEpilogueConfig;
  /** The most bytes of S^T one image pass may use. */
  scratchBytes: number;
}

export interface ScorePlan {
  method: ScoreMethod;
  flags: ScoreFlags;
  product: Product;
  format: OperandFormat;
  choice: KernelChoice;
  vec4: boolean;
  fused?: FusedPlan;
  split?: SplitPlan;
}

export function gemmFormat(product: Product): GemmFormat {
  return product === 'f32' ? 'f32' : product === 'f16' ? 'f16' : 'int8';
}

/**
 * The product for `precision` on this device, or a clear error. 'int8' is dot4 unless the
 * tensor-core product passed its self-check here and engine.tune() measured it faster for this
 * shape (`tuned`): one measurement on an H200 had it slower, so it is never assumed.
 */
export async function resolveProduct(ctx: GpuContext, precision: Precision, tuned?: Product): Promise<Product> {
  if (precision === 'f32' || precision === 'f16') return precision;
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
  if (precision === 'int8-subgroup-matrix') return precision;
  if (precision === 'int8' && tuned === 'int8-subgroup-matrix' && available === 'subgroup-matrix') return tuned;
  return 'int8-dot4';
}

/**
 * The kernel when neither the call nor the tuner chose one: the split kernel (on lavapipe it
 * ran NAAF in about half the fused kernel's time from D = 16 to 256; f16 runs on it only).
 */
export function defaultKernel(): ScoreKernel {
  return 'split';
}

/** The call's pinned kernel and tile, else the tuned choice for this shape, else the default. */
export function chooseKernel(ctx: GpuContext, shape: PlanShape, opts: ResolvedOptions): KernelChoice {
  const pinnedTile = Object.keys(opts.tile).length > 0;
  if (opts.kernel !== undefined || pinnedTile) {
    // A tile with one kernel's own keys implies that kernel.
    const has = (keys: (keyof TileRequest)[]) => keys.some((key) => opts.tile[key] !== undefined);
    const implied = has(['images', 'rowBlocks', 'blocksPerJob']) ? 'fused' : has(['gemmRows', 'gemmCols']) ? 'split' : defaultKernel();
    return { kernel: opts.kernel ?? implied, tile: opts.tile };
  }
  return tunedChoice(ctx, opts.method, opts.precision, shape.R, shape.L, shape.D) ?? { kernel: defaultKernel(), tile: {} };
}

/** Bytes of one image's operand rows in a format (packed rows with their scales for int8). */
export function imageDataBytes(R: number, D: number, format: OperandFormat): number {
  if (format === 'f32') return R * D * 4;
  const layout = packedLayout(format, D, 1);
  return R * (layout.rowWords * 4 + (format === 'int8' ? 4 : 0));
}

/** Most images one chunk (one data and one Gram binding, one dispatch row) may hold. */
export function maxImagesPerChunk(ctx: GpuContext, R: number, D: number, format: OperandFormat, imagesPerGroup = 1): number {
  const binding = ctx.limits.maxStorageBufferBindingSize - ctx.limits.minStorageBufferOffsetAlignment; // a window's start is aligned down
  const padding = format === 'f32' ? 0 : IMAGE_PAD_ROWS * imageDataBytes(1, D, format) + 256; // zero rows and the scales' alignment
  const groups = Math.min(MAX_GROUPS, ctx.limits.maxComputeWorkgroupsPerDimension);
  return Math.min(groups * imagesPerGroup, Math.floor((binding - padding) / imageDataBytes(R, D, format)), Math.floor(binding / (R * R * 4)));
}

/** Most captions one chunk may hold (a caption window, its word Grams, one tile per dispatch column). */
export function maxCaptionsPerChunk(ctx: GpuContext, L: number, D: number): number {
  const binding = ctx.limits.maxStorageBufferBindingSize - ctx.limits.minStorageBufferOffsetAlignment;
  const groups = Math.min(MAX_GROUPS, ctx.limits.maxComputeWorkgroupsPerDimension);
  return Math.min(groups, Math.floor(binding / (L * D * 4)), Math.floor(binding / (L * L * 4)));
}

/** The first of the tiles (rows x cols x depth) that fits the device's workgroup memory and invocations, or null. */
function firstFitting(ctx: GpuContext, format: GemmFormat, vec4: boolean, shapes: [number, number, number][], pairs = false): GemmConfig | null {
  const limit = ctx.limits.maxComputeWorkgroupStorageSize;
  const invocations = ctx.limits.maxComputeInvocationsPerWorkgroup;
  for (const [bm, bn, kt] of shapes) {
    let config: GemmConfig;
    try {
      config = makeGemmConfig(format, vec4, bm, bn, kt, pairs);
    } catch {
      continue;
    }
    if (gemmSharedBytes(config) <= limit && config.WG <= invocations) return config;
  }
  return null;
}

const WIDE_TILES: [number, number, number][] = [[128, 128, 16], [128, 128, 8], [64, 64, 16], [64, 64, 8]];
// Narrow tiles for few word rows (a search's single captions): a CPU driver pays for the
// padding columns of a 128-wide tile in full.
const NARROW_TILES: [number, [number, number, number][]][] = [
  [16, [[256, 16, 16], [128, 16, 8]]],
  [32, [[128, 32, 16], [128, 32, 8]]],
  [64, [[128, 64, 16], [128, 64, 8], [64, 64, 16]]],
];

/** Whether the call pins the GEMM tile (then no narrow tile replaces it). */
const gemmPinned = (tile: TileRequest) => tile.gemmRows !== undefined || tile.gemmCols !== undefined || tile.depth !== undefined;

/** The narrow tile for a chunk of `wordStride` word rows (the first fitting of NARROW_TILES' widths), or null past them or where none fits. */
function narrowTiles(ctx: GpuContext, format: GemmFormat, vec4: boolean, pairs = false): (wordStride: number) => GemmConfig | null {
  const fitting = new Map<number, GemmConfig>();
  for (const [width, shapes] of NARROW_TILES) {
    const config = firstFitting(ctx, format, vec4, shapes, pairs);
    if (config) fitting.set(width, config);
  }
  return (wordStride) => {
    for (const [width] of NARROW_TILES) if (wordStride <= width && fitting.has(width)) return fitting.get(width)!;
    return null;
  };
}

/** What a plan serves: dense scores, dense scores with their word terms, or scores of chosen pairs. */
export type PlanMode = 'scores' | 'word-terms' | 'pairs';

/**
 * The split tile: GEMM BM x BN x depth and the epilogue's word rows. Unpinned, the GEMM tile is
 * the first of 128 x 128 x 16, 128 x 128 x 8, 64 x 64 x 16, 64 x 64 x 8 that fits the device,
 * narrower for a chunk of at most 16, 32 or 64 word rows.
 */
function splitConfigs(ctx: GpuContext, shape: PlanShape, method: ScoreMethod, product: Product, tile: TileRequest, vec4: boolean, mode: PlanMode, what: string): { gemm: GemmConfig; gemmFor: (words: number) => GemmConfig; epilogue: SplitEpilogueConfig } {
  const limit = ctx.limits.maxComputeWorkgroupStorageSize;
  const invocations = ctx.limits.maxComputeInvocationsPerWorkgroup;
  for (const key of ['images', 'rowBlocks', 'blocksPerJob'] as const) {
    if (tile[key] !== undefined) throw new Error(`${what}: options.tile.${key} is a fused-kernel option; the split kernel takes rows, depth, gemmRows and gemmCols`);
  }
  if (mode === 'pairs') return pairConfigs(ctx, shape, method, tile, vec4, what);
  const format = gemmFormat(product);
  const pinned = gemmPinned(tile);
  const matches = ([bm, bn, kt]: [number, number, number]) => (tile.gemmRows ?? bm) === bm && (tile.gemmCols ?? bn) === bn && (tile.depth ?? kt) === kt;
  const candidates = WIDE_TILES.filter(matches);
  if (candidates.length === 0) candidates.push([tile.gemmRows ?? 128, tile.gemmCols ?? 128, tile.depth ?? 16]);
  const gemm = firstFitting(ctx, format, vec4, candidates);
  if (!gemm) {
    const needed = Math.min(...candidates.map(([bm, bn, kt]) => {
      try { return gemmSharedBytes(makeGemmConfig(format, vec4, bm, bn, kt)); } catch { return Infinity; }
    }));
    if (!Number.isFinite(needed)) makeGemmConfig(format, vec4, candidates[0][0], candidates[0][1], candidates[0][2]); // throws the tile's own error
    throw new Error(`similarity: the split kernel's GEMM tile ${JSON.stringify(tile)} needs ${needed} bytes of workgroup memory (and up to 256 invocations); ` +
      `this device has maxComputeWorkgroupStorageSize ${limit}, maxComputeInvocationsPerWorkgroup ${invocations}`);
  }
  const narrow = pinned ? null : narrowTiles(ctx, format, vec4);
  const gemmFor = (wordStride: number) => narrow?.(wordStride) ?? gemm;
  return { gemm, gemmFor, epilogue: chooseSplitEpilogue(method, shape.R, shape.L, limit, tile.rows) };
}

/**
 * The pair mode's tiles. A GEMM job is a run of images' regions (one image, or adjacent images on
 * the same captions) against one group of their pairs' words: 64 rows waste less than 128 for
 * R <= 64 where a run is one image, and 64 columns less than 128 where a group has at most 64
 * words (an image on several captions' lists sums their words): on a CPU driver the wasted part
 * is paid in full (1.6x at 1000 pairs). Spanning problems (every image on the same captions: one
 * caption's shortlist) take the dense mode's tall narrow tiles instead. The tuner's dense choices
 * do not apply; a pinned tile does.
 */
function pairConfigs(ctx: GpuContext, shape: PlanShape, method: ScoreMethod, tile: TileRequest, vec4: boolean, what: string): { gemm: GemmConfig; gemmFor: SplitPlan['gemmFor']; epilogue: SplitEpilogueConfig } {
  const limit = ctx.limits.maxComputeWorkgroupStorageSize;
  const rows = tile.gemmRows ?? (shape.R <= 64 ? 64 : 128);
  const tileOf = (cols: number) => {
    const depths = tile.depth !== undefined ? [tile.depth] : [16, 8];
    const config = firstFitting(ctx, 'f32', vec4, depths.map((kt) => [rows, tile.gemmCols ?? cols, kt]), true);
    if (config) return config;
    const probe = makeGemmConfig('f32', vec4, rows, tile.gemmCols ?? cols, depths[depths.length - 1], true); // throws the tile's own error
    throw new Error(`${what}: the pair GEMM tile ${probe.BM} x ${probe.BN} x ${probe.KT} needs ${gemmSharedBytes(probe)} bytes of workgroup memory and ${probe.WG} invocations; ` +
      `this device has maxComputeWorkgroupStorageSize ${limit}, maxComputeInvocationsPerWorkgroup ${ctx.limits.maxComputeInvocationsPerWorkgroup}`);
  };
  const narrow = tileOf(64);
  const gemm = tile.gemmCols !== undefined ? narrow : tileOf(128);
  // Problems that span images (one caption's shortlist): the dense mode's narrow tiles, 256 x 16
  // for a caption of at most 16 words (a 64 x 64 tile pays for 52 padding columns of a 12-word caption).
  const spanningTiles = gemmPinned(tile) ? null : narrowTiles(ctx, 'f32', vec4, true);
  const gemmFor = (words: number, spanning = false) => (spanning ? spanningTiles?.(words) : null) ?? (words <= 64 ? narrow : gemm);
  return { gemm, gemmFor, epilogue: chooseSplitEpilogue(method, shape.R, shape.L, limit, tile.rows, true) };
}

/**
 * Resolves everything a call needs before any GPU work; throws (naming the limit) for a shape
 * or option this device cannot run. `mode` 'pairs' plans the split kernel's pair mode (exact
 * f32 scores of chosen pairs); `what` names the call in that mode's errors.
 */
export async function resolvePlan(ctx: GpuContext, shape: PlanShape, opts: ResolvedOptions, vec4Aligned: boolean, mode: PlanMode = 'scores', what = 'similarity'): Promise<ScorePlan> {
  checkTileRequest(opts.tile);
  if (mode === 'pairs') {
    if (opts.precision !== 'f32') throw new Error(`${what}: options.precision must be 'f32' (exact scores), got '${opts.precision}'`);
    if (opts.kernel === 'fused') throw new Error(`${what}: pairs are scored by the split kernel; drop options.kernel 'fused'`);
  }
  const choice = mode === 'pairs' ? { kernel: 'split' as const, tile: opts.tile } : { ...chooseKernel(ctx, shape, opts) }; // a copy: a tuned choice is shared
  const hasFused = methodSpec(opts.method).kernels.fused !== undefined;
  if (choice.kernel === 'fused' && !hasFused) {
    if (opts.kernel === 'fused' || Object.keys(opts.tile).length > 0) throw new Error(`similarity: method '${opts.method}' has no fused kernel; drop options.kernel 'fused' (and fused tile keys)`);
    choice.kernel = 'split';
  }
  const product = await resolveProduct(ctx, opts.precision, choice.product);
  const flags: ScoreFlags = { intra: opts.intra, lse: opts.lse, wordTerms: mode === 'word-terms' };
  const plan: ScorePlan = { method: opts.method, flags, product, format: gemmFormat(product), choice: { kernel: choice.kernel, tile: choice.tile }, vec4: vec4Aligned && shape.D % 4 === 0 };
  if (choice.kernel === 'split') {
    try {
      return await resolveSplit(ctx, shape, opts, plan, mode, what);
    } catch (error) {
      // The default kernel does not fit this device (workgroup memory): the fused one may.
      const pinned = opts.kernel !== undefined || Object.keys(opts.tile).length > 0;
      if (pinned || mode === 'pairs' || !hasFused || product === 'f16' || !/workgroup memory/.test((error as Error).message)) throw error;
      plan.choice = { kernel: 'fused', tile: {} };
    }
  }
  return resolveFused(ctx, shape, opts, plan);
}

async function resolveFused(ctx: GpuContext, shape: PlanShape, opts: ResolvedOptions, plan: ScorePlan): Promise<ScorePlan> {
  const { product, choice } = plan;
  const limit = ctx.limits.maxComputeWorkgroupStorageSize;
  if (product === 'f16') throw new Error("similarity: options.precision 'f16' runs on the split kernel only; drop options.kernel 'fused'");
  for (const key of ['gemmRows', 'gemmCols'] as const) {
    if (choice.tile[key] !== undefined) throw new Error(`similarity: options.tile.${key} is a split-kernel option; the fused kernel takes rows, images, rowBlocks, depth and blocksPerJob`);
  }
  if (product === 'f32') {
    const config = chooseScoreConfig(shape.R, shape.L, limit, choice.tile);
    plan.fused = { f32: config, ROWS: config.ROWS, CAPS: config.CAPS, IMGS: config.IMGS };
    return plan;
  }
  let kernel: Int8Kernel = product === 'int8-dot4' ? 'dot4' : 'subgroup-matrix';
  if (kernel === 'subgroup-matrix' && !(await verifyFusedMma(ctx))) {
    // The tensor-core product did not compile or did not match dot4 here: never used unchecked.
    if (opts.precision === 'int8-subgroup-matrix') {
      throw new Error("similarity: the fused kernel's tensor-core int8 product must compile and give the dot4 product's scores (to 1e-5) on this device's self-check; " +
        "it did not. Use precision 'int8' (dot4 here) or kernel 'split'");
    }
    kernel = 'dot4';
    plan.product = 'int8-dot4';
  }
  const config = chooseI8Config(kernel, shape.R, shape.L, limit, ctx.info.subgroupMaxSize, choice.tile);
  plan.fused = { int8: config, ROWS: config.ROWS, CAPS: config.CAPS, IMGS: config.IMGS };
  return plan;
}

async function resolveSplit(ctx: GpuContext, shape: PlanShape, opts: ResolvedOptions, plan: ScorePlan, mode: PlanMode, what: string): Promise<ScorePlan> {
  const { product, choice } = plan;
  const configs = splitConfigs(ctx, shape, opts.method, product, choice.tile, plan.vec4, mode, what);
  let { gemm, gemmFor } = configs;
  if (product === 'int8-subgroup-matrix') {
    // The tensor-core GEMM, once it has matched the dot4 one on this device; else dot4.
    if (await verifyMmaGemm(ctx)) {
      gemm = makeMmaGemmConfig(ctx.info.subgroupMaxSize);
      gemmFor = () => gemm;
    } else if (opts.precision === 'int8-subgroup-matrix') {
      throw new Error("similarity: the split kernel's tensor-core int8 GEMM needs 19456 bytes of workgroup memory and 4 subgroups per workgroup, and must compile " +
        `and match the dot4 GEMM on this device (maxComputeWorkgroupStorageSize ${ctx.limits.maxComputeWorkgroupStorageSize}, ` +
        `maxComputeInvocationsPerWorkgroup ${ctx.limits.maxComputeInvocationsPerWorkgroup}); it did not. Use precision 'int8' (dot4 here) or kernel 'fused'`);
    } else {
      plan.product = 'int8-dot4';
    }
  }
  const scratchBytes = scratchBytesLimit(ctx.limits, opts.maxScratchBytes);
  const rowBytes = 4 * shape.R;
  if (Math.floor(scratchBytes / rowBytes) - 3 < shape.L) {
    throw new Error(`${what}: the split kernel's scratch (options.maxScratchBytes = ${opts.maxScratchBytes}, capped at ${scratchBytes} by the device) ` +
      `cannot hold one caption of L = ${shape.L} words against one image of R = ${shape.R} regions (${rowBytes * (shape.L + 3)} bytes); raise it${mode === 'pairs' ? '' : " or use kernel 'fused'"}`);
  }
  plan.split = { gemm, gemmFor, epilogue: configs.epilogue, scratchBytes };
  return plan;
}

/** How a block of N images and M captions is cut into chunks under a plan. */
export interface ChunkLimits {
  imagesPerChunk: number;
  captionsPerChunk: number;
  /** Packed word rows per caption chunk at most (split: a pass then holds min(N, 64) images in the scratch). */
  wordsPerChunk: number;
}

export function chunkLimits(ctx: GpuContext, plan: ScorePlan, shape: PlanShape & { N: number; M: number }, opts: Pick<ResolvedOptions, 'maxImagesPerChunk' | 'maxCaptionsPerChunk'>): ChunkLimits {
  const { N, M, R, D, L } = shape;
  const imagesPerChunk = Math.min(N, opts.maxImagesPerChunk, maxImagesPerChunk(ctx, R, D, plan.format, plan.fused?.IMGS ?? 1));
  const captionsPerChunk = Math.min(M, opts.maxCaptionsPerChunk, maxCaptionsPerChunk(ctx, L, D));
  if (imagesPerChunk < 1 || captionsPerChunk < 1) {
    const binding = ctx.limits.maxStorageBufferBindingSize;
    throw new Error(
      `similarity: inputs cannot fit this device even when tiled: one image [R=${R}, D=${D}] needs ${imageDataBytes(R, D, plan.format)} bytes ` +
      `(and its Gram ${R * R * 4}), one caption [L=${L}, D=${D}] needs ${L * D * 4} bytes, but maxStorageBufferBindingSize is ${binding}`,
    );
  }
  let wordsPerChunk = Infinity;
  if (plan.split) {
    const rowBytes = 4 * R;
    wordsPerChunk = Math.floor(plan.split.scratchBytes / (rowBytes * Math.min(N, 64))) - 3;
    if (wordsPerChunk < L) wordsPerChunk = Math.floor(plan.split.scratchBytes / rowBytes) - 3;
    wordsPerChunk = Math.min(wordsPerChunk, MAX_GROUPS * 16 - 3);
  }
  return { imagesPerChunk, captionsPerChunk, wordsPerChunk };
}

/** Consecutive caption ranges [start, count] of at most maxCaptions captions and maxWords words. */
export function captionRanges(lengths: ArrayLike<number>, maxCaptions: number, maxWords: number, start = 0, end = lengths.length): [number, number][] {
  const ranges: [number, number][] = [];
  let first = start;
  let words = 0;
  for (let m = start; m < end; m++) {
    const count = m - first;
    if (count > 0 && (count >= maxCaptions || words + lengths[m] > maxWords)) {
      ranges.push([first, count]);
      first = m;
      words = 0;
    }
    words += lengths[m];
  }
  if (end > first) ranges.push([first, end - first]);
  return ranges;
}

/** What a call runs, for people and benchmarks: engine.plan(). */
export interface PlanSummary {
  kernel: ScoreKernel;
  product: Product;
  /** The tile the call pinned or the tuner chose ({} = chosen from the device's limits). */
  tile: TileRequest;
  fused?: { rows: number; captionsPerTile: number; imagesPerWorkgroup: number; imagesPerChunk: number; captionsPerChunk: number };
  split?: {
    gemm: { rows: number; cols: number; depth: number; threads: number; tensorCores: boolean; vec4: boolean };
    epilogue: { rows: number; captionsPerTile: number; threads: number; sInWorkgroupMemory: boolean; gramInWorkgroupMemory: boolean };
    scratchBytes: number; imagesPerChunk: number; captionsPerChunk: number; wordsPerChunk: number;
  };
}

export function summarizePlan(plan: ScorePlan, chunks: ChunkLimits): PlanSummary {
  const summary: PlanSummary = { kernel: plan.choice.kernel, product: plan.product, tile: { ...plan.choice.tile } };
  if (plan.fused) {
    const f = plan.fused;
    summary.fused = { rows: f.ROWS, captionsPerTile: f.CAPS, imagesPerWorkgroup: f.IMGS, imagesPerChunk: chunks.imagesPerChunk, captionsPerChunk: chunks.captionsPerChunk };
  }
  if (plan.split) {
    const { gemm, epilogue } = plan.split;
    summary.split = {
      gemm: { rows: gemm.BM, cols: gemm.BN, depth: gemm.KT, threads: gemm.WG, tensorCores: !!gemm.mmaSubgroup, vec4: gemm.vec4 },
      epilogue: { rows: epilogue.ROWS, captionsPerTile: epilogue.CAPS, threads: epilogue.WG, sInWorkgroupMemory: epilogue.S_SHARED, gramInWorkgroupMemory: epilogue.GRAM_SHARED },
      scratchBytes: plan.split.scratchBytes, imagesPerChunk: chunks.imagesPerChunk, captionsPerChunk: chunks.captionsPerChunk, wordsPerChunk: chunks.wordsPerChunk,
    };
  }
  return summary;
}
