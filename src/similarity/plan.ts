// One plan per similarity call: which kernel (fused or split), which product (f32, f16, int8
// dot4 or subgroup matrices), which tile and which chunks, resolved once from the call's
// options, the device and the tuned choices. The launchers run the plan they are given.
import type { GpuContext } from '../gpu/context.js';
import { GemmConfig, GemmFormat, gemmSharedBytes, makeGemmConfig, makeMmaGemmConfig, verifyMmaGemm } from '../ops/gemm.js';
import { packedRowBytes } from '../ops/quantize.js';
import { I8ScoreConfig, Int8Kernel, chooseI8Config } from '../ops/scoreI8.js';
import { ScoreConfig, ScoreFlags, ScoreMethod, TileRequest, checkTileRequest, chooseScoreConfig } from '../ops/score.js';
import { SplitEpilogueConfig, chooseSplitEpilogue } from '../ops/splitEpilogue.js';
import type { Precision } from '../types.js';
import { tunedChoice } from './tune.js';
import type { CheckedInputs, ResolvedOptions } from './validate.js';

export type ScoreKernel = 'fused' | 'split';

/** What computes S: f32 FMAs, f16 operands widened to f32, or int8 with dot4I8Packed or tensor cores. */
export type Product = 'f32' | 'f16' | 'int8-dot4' | 'int8-subgroup-matrix';

/** A kernel and its tile: what engine.tune() chooses and a call may pin. */
export interface KernelChoice {
  kernel: ScoreKernel;
  tile: TileRequest;
}

/** The default scratch budget of the split path's S^T (per call; see SimilarityOptions.maxScratchBytes). */
export const DEFAULT_SCRATCH_BYTES = 256 * 2 ** 20;

const MAX_GROUPS = 65535;

export interface FusedPlan {
  /** f32 product (score_f32.wgsl) or the int8 one (score_i8_*.wgsl). */
  f32?: ScoreConfig;
  int8?: I8ScoreConfig;
  ROWS: number; CAPS: number; IMGS: number;
  imagesPerChunk: number;
  captionsPerChunk: number;
}

export interface SplitPlan {
  gemm: GemmConfig;
  epilogue: SplitEpilogueConfig;
  /** Bytes of S^T one (caption chunk, image pass) may use. */
  scratchBytes: number;
  imagesPerChunk: number; // images per pass at most (binding limits); the scratch may allow fewer
  captionsPerChunk: number;
  wordsPerChunk: number; // packed word rows per caption chunk at most
}

export interface ScorePlan {
  method: ScoreMethod;
  flags: ScoreFlags;
  product: Product;
  choice: KernelChoice;
  fused?: FusedPlan;
  split?: SplitPlan;
}

export function gemmFormat(product: Product): GemmFormat {
  return product === 'f32' ? 'f32' : product === 'f16' ? 'f16' : 'int8';
}

/** The product for `precision` on this device, or a clear error. */
export async function resolveProduct(ctx: GpuContext, precision: Precision): Promise<Product> {
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
  return precision === 'int8-dot4' || available === 'dot4' ? 'int8-dot4' : 'int8-subgroup-matrix';
}

/**
 * The kernel when neither the call nor the tuner chose one: the split kernel (on lavapipe it
 * ran NAAF in about half the fused kernel's time from D = 16 to 256; f16 runs on it only).
 */
export function defaultKernel(): ScoreKernel {
  return 'split';
}

/** The call's pinned kernel and tile, else the tuned choice for this shape, else the default. */
export function chooseKernel(ctx: GpuContext, dims: CheckedInputs, opts: ResolvedOptions, product: Product): KernelChoice {
  const pinnedTile = Object.keys(opts.tile).length > 0;
  if (opts.kernel !== undefined || pinnedTile) {
    // A tile with one kernel's own keys implies that kernel.
    const has = (keys: (keyof TileRequest)[]) => keys.some((key) => opts.tile[key] !== undefined);
    const implied = has(['images', 'rowBlocks', 'blocksPerJob']) ? 'fused' : has(['gemmRows', 'gemmCols']) ? 'split' : defaultKernel();
    return { kernel: opts.kernel ?? implied, tile: opts.tile };
  }
  return tunedChoice(ctx, opts.method, opts.precision, dims.R, dims.L, dims.D) ?? { kernel: defaultKernel(), tile: {} };
}

/** How many images and captions one fused dispatch may cover without exceeding a binding limit. */
export function planChunks(ctx: GpuContext, dims: CheckedInputs, opts: Pick<ResolvedOptions, 'maxImagesPerChunk' | 'maxCaptionsPerChunk'>, imagesPerGroup = 1): { imagesPerChunk: number; captionsPerChunk: number } {
  const { N, R, D, M, L } = dims;
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  const slack = ctx.limits.minStorageBufferOffsetAlignment; // a window's start is aligned down
  const maxGroups = Math.min(MAX_GROUPS, ctx.limits.maxComputeWorkgroupsPerDimension);
  const fit = (bytesPerItem: number) => Math.floor((maxBinding - slack) / bytesPerItem);
  const imagesPerChunk = Math.min(N, opts.maxImagesPerChunk, maxGroups * imagesPerGroup, fit(R * D * 4), fit(R * R * 4), fit(M * 4));
  // Each tile holds >= 1 caption, so captions per chunk also bounds the tile count.
  const captionsPerChunk = Math.min(M, opts.maxCaptionsPerChunk, maxGroups, fit(L * D * 4), fit(L * L * 4));
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

/**
 * The split tile: GEMM BM x BN x depth and the epilogue's word rows. Unpinned, the GEMM tile is
 * the first of 128 x 128 x 16, 128 x 128 x 8, 64 x 64 x 16, 64 x 64 x 8 that fits the device.
 */
function splitConfigs(ctx: GpuContext, dims: CheckedInputs, method: ScoreMethod, product: Product, tile: TileRequest, vec4: boolean): { gemm: GemmConfig; epilogue: SplitEpilogueConfig } {
  const limit = ctx.limits.maxComputeWorkgroupStorageSize;
  const invocations = ctx.limits.maxComputeInvocationsPerWorkgroup;
  for (const key of ['images', 'rowBlocks', 'blocksPerJob'] as const) {
    if (tile[key] !== undefined) throw new Error(`similarity: options.tile.${key} is a fused-kernel option; the split kernel takes rows, depth, gemmRows and gemmCols`);
  }
  const shapes: [number, number, number][] = [[128, 128, 16], [128, 128, 8], [64, 64, 16], [64, 64, 8]];
  const candidates = shapes
    .filter(([bm, bn, kt]) => (tile.gemmRows ?? bm) === bm && (tile.gemmCols ?? bn) === bn && (tile.depth ?? kt) === kt)
    .map(([bm, bn, kt]) => [bm, bn, kt] as [number, number, number]);
  if (candidates.length === 0) candidates.push([tile.gemmRows ?? 128, tile.gemmCols ?? 128, tile.depth ?? 16]);
  let gemm: GemmConfig | null = null;
  let needed = Infinity;
  for (const [bm, bn, kt] of candidates) {
    const config = makeGemmConfig(gemmFormat(product), vec4, bm, bn, kt);
    needed = Math.min(needed, gemmSharedBytes(config));
    if (gemmSharedBytes(config) <= limit && config.WG <= invocations) {
      gemm = config;
      break;
    }
  }
  if (!gemm) {
    throw new Error(`similarity: the split kernel's GEMM tile ${JSON.stringify(tile)} needs ${needed} bytes of workgroup memory (and up to 256 invocations); ` +
      `this device has maxComputeWorkgroupStorageSize ${limit}, maxComputeInvocationsPerWorkgroup ${invocations}`);
  }
  return { gemm, epilogue: chooseSplitEpilogue(method, dims.R, dims.L, limit, tile.rows) };
}

/**
 * Resolves everything a call needs before any GPU work; throws (naming the limit) for a shape
 * or option this device cannot run.
 */
export async function resolvePlan(ctx: GpuContext, dims: CheckedInputs, opts: ResolvedOptions, vec4Aligned: boolean, wordTerms = false): Promise<ScorePlan> {
  checkTileRequest(opts.tile);
  const product = await resolveProduct(ctx, opts.precision);
  const choice = chooseKernel(ctx, dims, opts, product);
  const flags: ScoreFlags = { intra: opts.intra, lse: opts.lse, wordTerms };
  const plan: ScorePlan = { method: opts.method, flags, product, choice };
  if (choice.kernel === 'split') {
    try {
      return await resolveSplit(ctx, dims, opts, plan, vec4Aligned);
    } catch (error) {
      // The default kernel does not fit this device (workgroup memory): the fused one may.
      const pinned = opts.kernel !== undefined || Object.keys(opts.tile).length > 0;
      if (pinned || product === 'f16' || !/workgroup memory/.test((error as Error).message)) throw error;
      plan.choice = { kernel: 'fused', tile: {} };
    }
  }
  return resolveFused(ctx, dims, opts, plan);
}

function resolveFused(ctx: GpuContext, dims: CheckedInputs, opts: ResolvedOptions, plan: ScorePlan): ScorePlan {
  const { product, choice } = plan;
  const limit = ctx.limits.maxComputeWorkgroupStorageSize;
  if (product === 'f16') throw new Error("similarity: options.precision 'f16' runs on the split kernel only; drop options.kernel 'fused'");
  for (const key of ['gemmRows', 'gemmCols'] as const) {
    if (choice.tile[key] !== undefined) throw new Error(`similarity: options.tile.${key} is a split-kernel option; the fused kernel takes rows, images, rowBlocks, depth and blocksPerJob`);
  }
  if (product === 'f32') {
    const config = chooseScoreConfig(dims.R, dims.L, limit, choice.tile);
    plan.fused = { f32: config, ROWS: config.ROWS, CAPS: config.CAPS, IMGS: config.IMGS, ...planChunks(ctx, dims, opts, config.IMGS) };
    return plan;
  }
  const kernel: Int8Kernel = product === 'int8-dot4' ? 'dot4' : 'subgroup-matrix';
  const config = chooseI8Config(kernel, dims.R, dims.L, limit, ctx.info.subgroupMaxSize, choice.tile);
  const chunks = planChunks(ctx, dims, opts, config.IMGS);
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  if ((chunks.captionsPerChunk * dims.L + config.ROWS) * packedRowBytes(dims.D) > maxBinding) {
    throw new Error(`similarity: precision int8 packs ${chunks.captionsPerChunk} captions into more than maxStorageBufferBindingSize ${maxBinding} bytes; set options.maxCaptionsPerChunk lower`);
  }
  plan.fused = { int8: config, ROWS: config.ROWS, CAPS: config.CAPS, IMGS: config.IMGS, ...chunks };
  return plan;
}

async function resolveSplit(ctx: GpuContext, dims: CheckedInputs, opts: ResolvedOptions, plan: ScorePlan, vec4Aligned: boolean): Promise<ScorePlan> {
  const { product, choice } = plan;
  let { gemm, epilogue } = splitConfigs(ctx, dims, opts.method, product, choice.tile, vec4Aligned);
  if (product === 'int8-subgroup-matrix') {
    // The tensor-core GEMM, once it has matched the dot4 one on this device; else dot4.
    if (await verifyMmaGemm(ctx)) {
      gemm = makeMmaGemmConfig(ctx.info.subgroupMaxSize);
    } else if (opts.precision === 'int8-subgroup-matrix') {
      throw new Error("similarity: the split kernel's tensor-core int8 GEMM needs 19456 bytes of workgroup memory and 4 subgroups per workgroup, and must compile " +
        `and match the dot4 GEMM on this device (maxComputeWorkgroupStorageSize ${ctx.limits.maxComputeWorkgroupStorageSize}, ` +
        `maxComputeInvocationsPerWorkgroup ${ctx.limits.maxComputeInvocationsPerWorkgroup}); it did not. Use precision 'int8' (dot4 here) or kernel 'fused'`);
    } else {
      plan.product = 'int8-dot4';
    }
  }
  const chunks = planChunks(ctx, dims, opts);
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  const scratchBytes = Math.min(opts.maxScratchBytes, maxBinding, ctx.limits.maxBufferSize);
  // Caption chunks small enough that a pass holds min(N, 64) images, else at least one.
  const rowBytes = 4 * dims.R;
  let wordsPerChunk = Math.floor(scratchBytes / (rowBytes * Math.min(dims.N, 64))) - 3;
  if (wordsPerChunk < dims.L) wordsPerChunk = Math.floor(scratchBytes / rowBytes) - 3;
  if (wordsPerChunk < dims.L) {
    throw new Error(`similarity: the split kernel's scratch (options.maxScratchBytes = ${opts.maxScratchBytes}, capped at ${scratchBytes} by the device) ` +
      `cannot hold one caption of L = ${dims.L} words against one image of R = ${dims.R} regions (${rowBytes * (dims.L + 3)} bytes); raise it or use kernel 'fused'`);
  }
  wordsPerChunk = Math.min(wordsPerChunk, MAX_GROUPS * gemm.BN - 3);
  plan.split = { gemm, epilogue, scratchBytes, imagesPerChunk: chunks.imagesPerChunk, captionsPerChunk: chunks.captionsPerChunk, wordsPerChunk };
  return plan;
}

/** Consecutive caption ranges [start, count] of at most maxCaptions captions and maxWords words. */
export function captionRanges(lengths: ArrayLike<number>, maxCaptions: number, maxWords: number): [number, number][] {
  const ranges: [number, number][] = [];
  let start = 0;
  let words = 0;
  for (let m = 0; m < lengths.length; m++) {
    const count = m - start;
    if (count > 0 && (count >= maxCaptions || words + lengths[m] > maxWords)) {
      ranges.push([start, count]);
      start = m;
      words = 0;
    }
    words += lengths[m];
  }
  if (lengths.length > start) ranges.push([start, lengths.length - start]);
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

export function summarizePlan(plan: ScorePlan): PlanSummary {
  const summary: PlanSummary = { kernel: plan.choice.kernel, product: plan.product, tile: { ...plan.choice.tile } };
  if (plan.fused) {
    const f = plan.fused;
    summary.fused = { rows: f.ROWS, captionsPerTile: f.CAPS, imagesPerWorkgroup: f.IMGS, imagesPerChunk: f.imagesPerChunk, captionsPerChunk: f.captionsPerChunk };
  }
  if (plan.split) {
    const { gemm, epilogue } = plan.split;
    summary.split = {
      gemm: { rows: gemm.BM, cols: gemm.BN, depth: gemm.KT, threads: gemm.WG, tensorCores: !!gemm.mmaSubgroup, vec4: gemm.vec4 },
      epilogue: { rows: epilogue.ROWS, captionsPerTile: epilogue.CAPS, threads: epilogue.WG, sInWorkgroupMemory: epilogue.S_SHARED, gramInWorkgroupMemory: epilogue.GRAM_SHARED },
      scratchBytes: plan.split.scratchBytes, imagesPerChunk: plan.split.imagesPerChunk, captionsPerChunk: plan.split.captionsPerChunk, wordsPerChunk: plan.split.wordsPerChunk,
    };
  }
  return summary;
}
