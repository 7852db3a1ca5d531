// The score backward's arguments, their checks and the tile configuration, shared by the
// fused launcher (scoreBackward.ts) and the split one (scoreBackwardSplit.ts).
import relevanceNormWgsl from '../../kernels/common/relevance_norm.wgsl';
import scoreBwdTileWgsl from '../../kernels/common/score_bwd_tile.wgsl';
import tileRowsWgsl from '../../kernels/common/tile_rows.wgsl';
import type { BufferBinding, GpuContext } from '../gpu/context.js';
import type { WgslPart } from '../gpu/shader.js';
import { packCaptionTiles, preferredRows } from './score.js';
import { backwardNames, methodOfBackward, type BackwardMethod } from '../methods/index.js';

export type { BackwardMethod } from '../methods/index.js';

export interface ScoreBackwardArgs {
  method: BackwardMethod;
  N: number; R: number; M: number; L: number; D: number;
  images: GPUBuffer; // [N, R, D]
  captions: GPUBuffer; // [M, L, D], zero padded
  lengths: Uint32Array | Int32Array; // CPU copy, [M]
  thresholds?: GPUBuffer; // naaf-train: [M] f32, the threshold each caption was scored with
  lambdaSoftmax: number;
  lse?: boolean; // scan: LogSumExp aggregation (default, as the forward) or mean
  lambdaLse?: number; // scan: t2i 6, i2t 5
  gradScores: GPUBuffer; // [N * M], image-major
  gradImages: GPUBuffer; // [N, R, D], overwritten
  gradCaptions: GPUBuffer; // [M, L, D], overwritten, 0 at padding
  /**
   * Groups each side's loop is split into (default: enough for ~256 workgroups on a GPU, 1 on a
   * CPU driver; capped at 8 and by memory). The split path groups its epilogue's one owner side:
   * `images` for NAAF and SCAN t2i (image owners), `captions` for SCAN i2t (caption-tile owners).
   */
  groups?: { captions?: number; images?: number };
  /** Threads per workgroup, 64 or 256 (default: 256 on a GPU, 64 on a CPU driver). */
  workgroupSize?: number;
  /**
   * Loops over regions (and over each thread's S entries) bounded by a uniform instead of a
   * constant (default: on a CPU driver). Same results; lavapipe JIT-compiles the unrolled kernels
   * for tens of seconds (NAAF, R = 10: 38 s of a cold first training step; SCAN t2i 16 s), the
   * rolled ones in a few.
   */
  runtimeRegions?: boolean;
  /**
   * 'split' (default): S by a GEMM, dS by an epilogue kernel, dU = dS V and dV = dS^T U by GEMMs,
   * over passes of images whose S fits maxScratchBytes. 'fused': S recomputed per (caption tile,
   * image) on each side, nothing stored (the fallback, and a candidate where S does not fit).
   */
  kernel?: 'split' | 'fused';
  /** Split: bytes of S (and dS) per pass of images (default 64 MiB, capped by the binding limit). */
  maxScratchBytes?: number;
}

export const DEFAULT_BACKWARD_SCRATCH_BYTES = 64 * 2 ** 20;

export interface ScoreBackwardConfig {
  WG: number; R: number; ROWS: number; CAPS: number; KC: number; PER_THREAD: number;
  SMEM_MAIN: number; CAPS_R: number; ROWS_R: number; V_CHUNK: number; U_CHUNK: number;
}

// Threads per workgroup: 256 on a GPU; 64 on a CPU driver, where each barrier switches between
// every group of 8 invocations and the tiles are small (lavapipe: a training step 27-40% faster).
export const GPU_WG = 256;
export const CPU_WG = 64;
const STORAGE_BINDINGS = 8;

/** Workgroup bytes of one backward tile (every workgroup array of score_bwd_tile.wgsl, +16 for vec2u and padding). */
export function scoreBackwardSharedBytes(c: { R: number; ROWS: number; CAPS: number; KC: number }): number {
  const main = Math.max(c.ROWS * c.R, (c.ROWS + c.R) * c.KC);
  return 4 * (main + c.ROWS * c.R + 2 * c.CAPS * c.R + 6 * c.ROWS + 2 * c.CAPS) + 16;
}

/**
 * The largest tile that fits the device's workgroup memory: ROWS >= the longest caption
 * (whole captions per tile), preferring more rows, then more captions per tile, then deeper
 * staging. Throws when even one caption cannot fit.
 */
export function chooseScoreBackwardConfig(regions: number, maxWords: number, sharedBytesLimit: number, WG = GPU_WG): ScoreBackwardConfig {
  const minRows = Math.ceil(maxWords / 4) * 4;
  const rowCandidates = [...new Set([preferredRows(maxWords), minRows])].filter((r) => r >= minRows);
  for (const ROWS of rowCandidates) {
    for (const CAPS of [32, 16, 8, 4, 2, 1].filter((c) => c <= ROWS)) {
      for (const KC of [16, 8, 4]) {
        if (scoreBackwardSharedBytes({ R: regions, ROWS, CAPS, KC }) <= sharedBytesLimit) {
          const SMEM_MAIN = Math.max(ROWS * regions, (ROWS + regions) * KC);
          return {
            WG, R: regions, ROWS, CAPS, KC, PER_THREAD: Math.ceil((ROWS * regions) / WG), SMEM_MAIN,
            CAPS_R: CAPS * regions, ROWS_R: ROWS * regions,
            V_CHUNK: Math.floor(SMEM_MAIN / regions), U_CHUNK: Math.floor(SMEM_MAIN / ROWS),
          };
        }
      }
    }
  }
  const needed = scoreBackwardSharedBytes({ R: regions, ROWS: minRows, CAPS: 1, KC: 4 });
  throw new Error(
    `scoreBackward: regions R=${regions} with captions of up to L=${maxWords} words need ${needed} bytes of workgroup memory ` +
    `for one tile, more than this device's maxComputeWorkgroupStorageSize ${sharedBytesLimit}`,
  );
}

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new Error(`scoreBackward: args.${name} must be an integer >= 1, got ${String(value)}`);
  }
  return value;
}

function finiteNumber(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`scoreBackward: args.${name} must be a finite number, got ${String(value)}`);
  return value;
}

function checkBuffer(ctx: GpuContext, name: string, buffer: GPUBuffer | undefined, floats: number, what: string): BufferBinding {
  if (!buffer || typeof buffer !== 'object' || typeof buffer.size !== 'number') {
    throw new Error(`scoreBackward: args.${name} must be a GPUBuffer holding ${what}, got ${String(buffer)}`);
  }
  if ((buffer.usage & GPUBufferUsage.STORAGE) === 0) {
    throw new Error(`scoreBackward: args.${name} must have usage STORAGE, got usage flags ${buffer.usage}`);
  }
  const bytes = floats * 4;
  if (buffer.size < bytes) throw new Error(`scoreBackward: args.${name} holds ${buffer.size} bytes, expected at least ${bytes} (${what} float32)`);
  const limit = ctx.limits.maxStorageBufferBindingSize;
  if (bytes > limit) throw new Error(`scoreBackward: args.${name} needs ${bytes} bytes (${what}), more than this device's maxStorageBufferBindingSize ${limit}`);
  return { buffer, offset: 0, size: bytes };
}

export interface CheckedScoreBackwardArgs {
  lengths: Uint32Array; maxWords: number; lse: boolean; lambdaLse: number;
  kernel: 'split' | 'fused'; workgroupSize: number; runtimeRegions: boolean; maxScratchBytes: number;
  bindings: Record<'images' | 'captions' | 'gradScores' | 'gradImages' | 'gradCaptions', BufferBinding>;
  thresholds: BufferBinding | null;
}

export function checkScoreBackwardArgs(ctx: GpuContext, args: ScoreBackwardArgs): CheckedScoreBackwardArgs {
  if (!args || typeof args !== 'object') throw new Error(`scoreBackward: args must be an object, got ${String(args)}`);
  const { method } = args;
  if (!backwardNames().includes(method)) methodOfBackward(method); // throws, listing the registered methods
  const N = positiveInteger('N', args.N);
  const R = positiveInteger('R', args.R);
  const M = positiveInteger('M', args.M);
  const L = positiveInteger('L', args.L);
  const D = positiveInteger('D', args.D);
  if (!args.lengths || args.lengths.length !== M) throw new Error(`scoreBackward: args.lengths must hold M = ${M} caption lengths, got ${args.lengths?.length ?? String(args.lengths)}`);
  const lengths = new Uint32Array(M);
  let maxWords = 1;
  for (let m = 0; m < M; m++) {
    const len = args.lengths[m];
    if (!Number.isInteger(len) || len < 1 || len > L) throw new Error(`scoreBackward: args.lengths[${m}] must be an integer in [1, L = ${L}], got ${len}`);
    lengths[m] = len;
    maxWords = Math.max(maxWords, len);
  }
  if (!(finiteNumber('lambdaSoftmax', args.lambdaSoftmax) > 0)) throw new Error(`scoreBackward: args.lambdaSoftmax must be > 0, got ${args.lambdaSoftmax}`);
  const spec = methodOfBackward(method);
  const lse = spec.backwardTerms.aggregation && (args.lse ?? true);
  const lambdaLse = args.lambdaLse ?? spec.training.lambdaLse;
  if (lse && !(finiteNumber('lambdaLse', lambdaLse) > 0)) throw new Error(`scoreBackward: args.lambdaLse must be > 0, got ${lambdaLse}`);
  const bindings = {
    images: checkBuffer(ctx, 'images', args.images, N * R * D, `[N, R, D] = [${N}, ${R}, ${D}]`),
    captions: checkBuffer(ctx, 'captions', args.captions, M * L * D, `[M, L, D] = [${M}, ${L}, ${D}]`),
    gradScores: checkBuffer(ctx, 'gradScores', args.gradScores, N * M, `[N * M] = [${N * M}]`),
    gradImages: checkBuffer(ctx, 'gradImages', args.gradImages, N * R * D, `[N, R, D] = [${N}, ${R}, ${D}]`),
    gradCaptions: checkBuffer(ctx, 'gradCaptions', args.gradCaptions, M * L * D, `[M, L, D] = [${M}, ${L}, ${D}]`),
  };
  const thresholds = spec.backwardTerms.input === 'thresholds' ? checkBuffer(ctx, 'thresholds', args.thresholds, M, `[M] = [${M}]`) : null;
  const inputs = [args.images, args.captions, args.gradScores, args.thresholds];
  for (const name of ['gradImages', 'gradCaptions'] as const) {
    if (inputs.includes(args[name])) throw new Error(`scoreBackward: args.${name} must be a buffer of its own (it is written), got one of the input buffers`);
  }
  if (args.gradImages === args.gradCaptions) throw new Error('scoreBackward: args.gradImages and args.gradCaptions must be different buffers, got the same one');
  if (ctx.limits.maxStorageBuffersPerShaderStage < STORAGE_BINDINGS) {
    throw new Error(`scoreBackward: needs ${STORAGE_BINDINGS} storage buffers per shader stage, this device's maxStorageBuffersPerShaderStage is ${ctx.limits.maxStorageBuffersPerShaderStage}`);
  }
  const maxGroups = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (N > maxGroups || M > maxGroups) throw new Error(`scoreBackward: N = ${N} and M = ${M} must be at most this device's maxComputeWorkgroupsPerDimension ${maxGroups}`);
  if (args.workgroupSize !== undefined && args.workgroupSize !== CPU_WG && args.workgroupSize !== GPU_WG) {
    throw new Error(`scoreBackward: args.workgroupSize must be ${CPU_WG} or ${GPU_WG}, got ${args.workgroupSize}`);
  }
  for (const side of ['captions', 'images'] as const) {
    const value = args.groups?.[side];
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) throw new Error(`scoreBackward: args.groups.${side} must be an integer >= 1, got ${value}`);
  }
  const kernel = args.kernel ?? 'split';
  if (kernel !== 'split' && kernel !== 'fused') throw new Error(`scoreBackward: args.kernel must be 'split' or 'fused', got ${JSON.stringify(args.kernel)}`);
  const maxScratchBytes = args.maxScratchBytes === undefined ? DEFAULT_BACKWARD_SCRATCH_BYTES : positiveInteger('maxScratchBytes', args.maxScratchBytes);
  const software = ctx.info.architecture === 'software';
  return {
    lengths, maxWords, lse, lambdaLse, bindings, thresholds, kernel, maxScratchBytes,
    workgroupSize: args.workgroupSize ?? (software ? CPU_WG : GPU_WG), runtimeRegions: args.runtimeRegions ?? software,
  };
}


/** Both backward launchers' tile tables: (first caption, count) per tile, then the lengths [M] at `lengthsBase`. */
export interface BackwardTables { buffer: GPUBuffer; numTiles: number; lengthsBase: number }

/** Packs the caption tiles and uploads them with the lengths (the buffer goes to `transient`). */
export function uploadBackwardTables(ctx: GpuContext, lengths: Uint32Array, config: ScoreBackwardConfig, transient: GPUBuffer[]): BackwardTables {
  const tiles = packCaptionTiles(lengths, 0, lengths.length, config.ROWS, config.CAPS);
  const data = new Uint32Array(tiles.length + lengths.length);
  data.set(tiles);
  data.set(lengths, tiles.length);
  const buffer = ctx.upload(data, 'score backward layout');
  transient.push(buffer);
  return { buffer, numTiles: tiles.length / 2, lengthsBase: tiles.length };
}

/** The WGSL parts every backward kernel of `method` starts with: the norm helpers, the tile, the method file. */
export function backwardMethodParts(method: BackwardMethod): WgslPart[] {
  return [
    { name: 'kernels/common/relevance_norm.wgsl', code: relevanceNormWgsl },
    { name: 'kernels/common/tile_rows.wgsl', code: tileRowsWgsl },
    { name: 'kernels/common/score_bwd_tile.wgsl', code: scoreBwdTileWgsl },
    methodOfBackward(method).kernels.backward,
  ];
}
