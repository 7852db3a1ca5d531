// Launcher of the fused score backward (kernels/common/score_bwd_tile.wgsl + one method file +
// kernels/score.bwd.wgsl): the region and word Grams, then two dispatches that recompute the
// word-region similarities per (caption tile, image): one writes dU (workgroups per caption
// tile), one writes dV (workgroups per image). On a GPU each owner's loop is split over a few
// groups of workgroups writing partials that kernels/score_reduce.bwd.wgsl adds up (a batch of
// 128 would otherwise occupy only about 64 + 128 workgroups). No B x B x L x R tensor is stored.
import relevanceNormWgsl from '../../kernels/common/relevance_norm.wgsl';
import scoreBwdTileWgsl from '../../kernels/common/score_bwd_tile.wgsl';
import naafScoreBwdWgsl from '../../kernels/naaf_score.bwd.wgsl';
import scoreBwdWgsl from '../../kernels/score.bwd.wgsl';
import scoreReduceBwdWgsl from '../../kernels/score_reduce.bwd.wgsl';
import scanI2tScoreBwdWgsl from '../../kernels/scan_i2t_score.bwd.wgsl';
import scanT2iScoreBwdWgsl from '../../kernels/scan_t2i_score.bwd.wgsl';
import type { BufferBinding, GpuContext } from '../gpu/context.js';
import { encodeRegionGram, encodeWordGram, regionGramPipeline, wordGramPipeline } from './gram.js';
import { packCaptionTiles, preferredRows } from './score.js';

export type BackwardMethod = 'naaf-train' | 'scan-t2i' | 'scan-i2t';

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
  /** Groups each side's loop is split into (default: enough for ~256 workgroups on a GPU, 1 on a CPU driver; capped at 8 and by memory). */
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
}

export interface ScoreBackwardConfig {
  WG: number; R: number; ROWS: number; CAPS: number; KC: number; PER_THREAD: number;
  SMEM_MAIN: number; CAPS_R: number; ROWS_R: number; V_CHUNK: number; U_CHUNK: number;
}

// Threads per workgroup: 256 on a GPU; 64 on a CPU driver, where each barrier switches between
// every group of 8 invocations and the tiles are small (lavapipe: a training step 27-40% faster).
const GPU_WG = 256;
const CPU_WG = 64;
const REDUCE_WG = 64;
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

const METHOD_KERNELS: Record<BackwardMethod, { name: string; code: string }> = {
  'naaf-train': { name: 'kernels/naaf_score.bwd.wgsl', code: naafScoreBwdWgsl },
  'scan-t2i': { name: 'kernels/scan_t2i_score.bwd.wgsl', code: scanT2iScoreBwdWgsl },
  'scan-i2t': { name: 'kernels/scan_i2t_score.bwd.wgsl', code: scanI2tScoreBwdWgsl },
};

export function scoreBackwardPipeline(ctx: GpuContext, method: BackwardMethod, config: ScoreBackwardConfig,
  imageSide: boolean, lse: boolean, runtimeRegions = false): Promise<GPUComputePipeline> {
  const parts = [
    { name: 'kernels/common/relevance_norm.wgsl', code: relevanceNormWgsl },
    { name: 'kernels/common/score_bwd_tile.wgsl', code: scoreBwdTileWgsl },
    METHOD_KERNELS[method],
    { name: 'kernels/score.bwd.wgsl', code: scoreBwdWgsl },
  ];
  const constants = { ...config, IMAGE_SIDE: imageSide, RUNTIME_R: runtimeRegions, ...(method === 'naaf-train' ? {} : { LSE: lse }) };
  return ctx.pipeline(`${method} score backward (${imageSide ? 'images' : 'captions'})`, parts, constants);
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

interface Checked {
  lengths: Uint32Array; maxWords: number; lse: boolean; lambdaLse: number;
  bindings: Record<'images' | 'captions' | 'gradScores' | 'gradImages' | 'gradCaptions', BufferBinding>;
  thresholds: BufferBinding | null;
}

function checkArgs(ctx: GpuContext, args: ScoreBackwardArgs): Checked {
  if (!args || typeof args !== 'object') throw new Error(`scoreBackward: args must be an object, got ${String(args)}`);
  const { method } = args;
  if (!(method in METHOD_KERNELS)) throw new Error(`scoreBackward: args.method must be 'naaf-train', 'scan-t2i' or 'scan-i2t', got ${JSON.stringify(method)}`);
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
  const lse = method !== 'naaf-train' && (args.lse ?? true);
  const lambdaLse = args.lambdaLse ?? (method === 'scan-t2i' ? 6 : 5);
  if (lse && !(finiteNumber('lambdaLse', lambdaLse) > 0)) throw new Error(`scoreBackward: args.lambdaLse must be > 0, got ${lambdaLse}`);
  const bindings = {
    images: checkBuffer(ctx, 'images', args.images, N * R * D, `[N, R, D] = [${N}, ${R}, ${D}]`),
    captions: checkBuffer(ctx, 'captions', args.captions, M * L * D, `[M, L, D] = [${M}, ${L}, ${D}]`),
    gradScores: checkBuffer(ctx, 'gradScores', args.gradScores, N * M, `[N * M] = [${N * M}]`),
    gradImages: checkBuffer(ctx, 'gradImages', args.gradImages, N * R * D, `[N, R, D] = [${N}, ${R}, ${D}]`),
    gradCaptions: checkBuffer(ctx, 'gradCaptions', args.gradCaptions, M * L * D, `[M, L, D] = [${M}, ${L}, ${D}]`),
  };
  const thresholds = method === 'naaf-train' ? checkBuffer(ctx, 'thresholds', args.thresholds, M, `[M] = [${M}]`) : null;
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
  return { lengths, maxWords, lse, lambdaLse, bindings, thresholds };
}

/**
 * Encodes, into `encoder` (one compute pass), dV = d/dV and dU = d/dU of
 * sum_{n,m} gradScores[n, m] * score(n, m). Buffers it creates are pushed to `transient`
 * (release them to ctx.pool after the submit).
 */
export async function encodeScoreBackward(ctx: GpuContext, encoder: GPUCommandEncoder, args: ScoreBackwardArgs, transient: GPUBuffer[]): Promise<void> {
  ctx.checkUsable('scoreBackward');
  const { lengths, maxWords, lse, lambdaLse, bindings, thresholds } = checkArgs(ctx, args);
  const { method, N, R, M, L, D } = args;
  if (args.workgroupSize !== undefined && args.workgroupSize !== CPU_WG && args.workgroupSize !== GPU_WG) {
    throw new Error(`scoreBackward: args.workgroupSize must be ${CPU_WG} or ${GPU_WG}, got ${args.workgroupSize}`);
  }
  const software = ctx.info.architecture === 'software';
  const wg = args.workgroupSize ?? (software ? CPU_WG : GPU_WG);
  const runtimeRegions = args.runtimeRegions ?? software;
  const config = chooseScoreBackwardConfig(R, maxWords, ctx.limits.maxComputeWorkgroupStorageSize, wg);
  const scan = method !== 'naaf-train';
  const [gramPipe, wordPipe, captionPipe, imagePipe] = await Promise.all([
    regionGramPipeline(ctx, R),
    scan ? wordGramPipeline(ctx, false) : null,
    scoreBackwardPipeline(ctx, method, config, false, lse, runtimeRegions),
    scoreBackwardPipeline(ctx, method, config, true, lse, runtimeRegions),
  ]);

  const own = (buffer: GPUBuffer) => (transient.push(buffer), buffer);
  const tiles = packCaptionTiles(lengths, 0, M, config.ROWS, config.CAPS);
  const numTiles = tiles.length / 2;
  const layout = new Uint32Array(tiles.length + M);
  layout.set(tiles);
  layout.set(lengths, tiles.length);
  const layoutBuffer = own(ctx.upload(layout, 'score backward layout'));
  const regionGram = own(ctx.pool.acquire(N * R * R * 4, GPUBufferUsage.STORAGE, 'score backward region gram'));
  // Method binding 8: per-caption thresholds (NAAF) or the word Gram (SCAN).
  let methodBinding: BufferBinding;
  if (scan) {
    methodBinding = own(ctx.pool.acquire(M * L * L * 4, GPUBufferUsage.STORAGE, 'score backward word gram'));
  } else {
    methodBinding = thresholds!;
  }
  // Sum over images of dW_m (i2t, caption side) and over captions of dG_n (NAAF, t2i, image side).
  const captionScratch = own(ctx.pool.acquire(method === 'scan-i2t' ? M * L * L * 4 : 16, GPUBufferUsage.STORAGE, 'score backward dW'));
  const imageScratch = own(ctx.pool.acquire(method === 'scan-i2t' ? 16 : N * R * R * 4, GPUBufferUsage.STORAGE, 'score backward dG'));

  const pass = ctx.beginPass(encoder, 'score backward');
  encodeRegionGram(ctx, pass, gramPipe, { images: bindings.images, imageBase: 0, numImages: N, dim: D, gram: regionGram }, transient);
  if (scan) {
    const lengthsBuffer = own(ctx.upload(lengths, 'score backward lengths'));
    encodeWordGram(ctx, pass, wordPipe!, {
      captions: bindings.captions, captionBase: 0, captionChunkStart: 0, numCaptions: M, maxWords: L, dim: D,
      lengths: lengthsBuffer, lambdaIntra: 0, wordGram: methodBinding as GPUBuffer,
    }, transient);
  }
  // Groups per side: one on a CPU driver (it runs a few workgroups at a time; more would only
  // add the reduction), else enough for about 256 workgroups, at most 8 and within one binding.
  const cpu = software;
  const captionFloats = M * L * D;
  const imageFloats = N * R * D;
  const captionScratchFloats = method === 'scan-i2t' ? M * L * L : 0;
  const imageScratchFloats = method === 'scan-i2t' ? 0 : N * R * R;
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  const groupsOf = (pinned: number | undefined, owners: number, loop: number, floats: number, scratchFloats: number) => {
    const wanted = pinned ?? (cpu ? 1 : Math.ceil(256 / owners));
    const fit = Math.floor(maxBinding / (4 * Math.max(floats, scratchFloats, 1)));
    return Math.max(1, Math.min(wanted, 8, loop, fit));
  };
  for (const side of ['captions', 'images'] as const) {
    const value = args.groups?.[side];
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) throw new Error(`scoreBackward: args.groups.${side} must be an integer >= 1, got ${value}`);
  }
  const captionGroups = groupsOf(args.groups?.captions, numTiles, N, captionFloats, captionScratchFloats);
  const imageGroups = groupsOf(args.groups?.images, N, numTiles, imageFloats, imageScratchFloats);
  const sides = [
    { imageSide: false, groups: captionGroups, groupSize: Math.ceil(N / captionGroups), owners: numTiles, floats: captionFloats, scratchFloats: captionScratchFloats,
      pipe: captionPipe, out: bindings.gradCaptions, scratch: captionScratch, features: bindings.captions, rows: M, items: L, gram: method === 'scan-i2t' },
    { imageSide: true, groups: imageGroups, groupSize: Math.ceil(numTiles / imageGroups), owners: N, floats: imageFloats, scratchFloats: imageScratchFloats,
      pipe: imagePipe, out: bindings.gradImages, scratch: imageScratch, features: bindings.images, rows: N, items: R, gram: method !== 'scan-i2t' },
  ];
  for (const side of sides) {
    const params = own(ctx.uniforms([
      [D, 'u32'], [L, 'u32'], [N, 'u32'], [M, 'u32'], [numTiles, 'u32'], [tiles.length, 'u32'],
      [args.lambdaSoftmax, 'f32'], [lambdaLse, 'f32'], [side.groups, 'u32'], [side.groupSize, 'u32'], [side.floats, 'u32'], [side.scratchFloats, 'u32'],
      [R, 'u32'], [config.PER_THREAD, 'u32'],
    ], 'score backward params'));
    let out: BufferBinding = side.out;
    let scratch: BufferBinding = side.scratch;
    if (side.groups > 1) {
      // Bound at their exact size: the pool rounds up, possibly past the binding limit.
      const exact = (floats: number, label: string) => ({ buffer: own(ctx.pool.acquire(floats * 4, GPUBufferUsage.STORAGE, label)), offset: 0, size: floats * 4 });
      out = exact(side.groups * side.floats, 'score backward partial gradients');
      if (side.scratchFloats > 0) scratch = exact(side.groups * side.scratchFloats, 'score backward partial Gram gradients');
    }
    const group = ctx.bindGroup(side.pipe, [params, bindings.images, bindings.captions, layoutBuffer, bindings.gradScores, regionGram, out, scratch, methodBinding],
      `score backward ${side.imageSide ? 'images' : 'captions'}`);
    ctx.dispatch(pass, side.pipe, group, side.owners, side.groups);
    if (side.groups > 1) {
      const reducePipe = await ctx.pipeline('score backward reduce', [{ name: 'kernels/score_reduce.bwd.wgsl', code: scoreReduceBwdWgsl }],
        { WG: REDUCE_WG, IMAGE_SIDE: side.imageSide, GRAM: side.gram });
      const reduceParams = own(ctx.uniforms([
        [side.rows, 'u32'], [side.items, 'u32'], [D, 'u32'], [side.groups, 'u32'],
        [side.floats, 'u32'], [side.scratchFloats, 'u32'], [tiles.length, 'u32'], [0, 'u32'],
      ], 'score backward reduce params'));
      const workgroups = Math.ceil(side.floats / REDUCE_WG);
      const x = Math.min(workgroups, ctx.limits.maxComputeWorkgroupsPerDimension);
      ctx.dispatch(pass, reducePipe, ctx.bindGroup(reducePipe, [reduceParams, side.features, out, scratch, layoutBuffer, side.out], 'score backward reduce'),
        x, Math.ceil(workgroups / x));
    }
  }
  pass.end();
}
