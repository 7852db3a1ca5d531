// Launcher of NAAF's training-path similarity with Discriminative Mismatch Mining (spec 3.2 +
// 3.3): per caption, in batch order, one scoring dispatch (one workgroup per image, threshold
// read from the state buffer) and one single-workgroup update (kernels/dmm_update.wgsl).
// Everything is encoded into one pass of one submit: the threshold never visits the CPU between
// captions. The scoring is split by default: S^T of the whole batch by one GEMM (the threshold
// does not enter it), then per caption the epilogue kernels/naaf_train_split.wgsl; 'fused'
// (kernels/naaf_train_score.wgsl) recomputes each caption's S in its dispatch.
import dmmUpdateWgsl from '../../kernels/dmm_update.wgsl';
import scoreF32Wgsl from '../../kernels/common/score_f32.wgsl';
import naafTrainScoreWgsl from '../../kernels/naaf_train_score.wgsl';
import naafTrainSplitWgsl from '../../kernels/naaf_train_split.wgsl';
import type { GpuContext } from '../gpu/context.js';
import { scratchBytesLimit } from '../gpu/limits.js';
import { DEFAULT_SCRATCH_BYTES, resolvePlan } from '../similarity/plan.js';
import { checkSameD, resolveOptions } from '../similarity/validate.js';
import { encodeGemm, gemmPipeline } from './gemm.js';
import { NAAF_SPLIT_ROW } from '../methods/naaf.js';
import { SPLIT_TILE_PARTS, SplitEpilogueConfig, chooseSplitEpilogue, splitEpilogueParams, splitLayout } from './splitEpilogue.js';
import { encodeRegionGram, regionGramPipeline } from './gram.js';
import type { GpuPass } from '../gpu/pass.js';
import { SCORE_TILE_PARTS, ScoreConfig, makeScoreConfig, scoreSharedBytes, scoreTileParams } from './score.js';

/** The DMM state the original keeps on `opt` (thres, thres_safe, mean_pos, stnd_pos, mean_neg, stnd_neg). */
export interface DmmState { thres: number; thresSafe: number; meanPos: number; stdPos: number; meanNeg: number; stdNeg: number }

export interface NaafTrainOptions {
  alpha?: number; // 2: weight of the mismatched tail in the closed-form threshold
  lambdaSoftmax?: number; // 20
  minWords?: number; // 200: sampled words needed before the thresholds are estimated
  /**
   * 'split' (default where S^T of the batch fits one binding and the epilogue tile fits): one
   * GEMM, then per-caption epilogues; 'fused': each caption's dispatch recomputes its S.
   */
  kernel?: 'split' | 'fused';
}

/** GPU inputs of one batch: caption i pairs with image i. */
export interface NaafTrainArgs {
  images: GPUBuffer; // [B, R, D] f32 from offset 0
  captions: GPUBuffer; // [B, L, D] f32 from offset 0, zero-padded
  lengths: ArrayLike<number>; // [B], each in [1, L]
  B: number; R: number; L: number; D: number;
}

export interface NaafTrainBuffers {
  sims: GPUBuffer; // [B * B] f32, image-major: sims[n * B + i]
  state: GPUBuffer; // 6 f32 in DmmState order, after the batch
  thresholdsUsed: GPUBuffer; // [B] f32: the threshold caption i was scored with
}

export const DMM_STATE_KEYS = ['thres', 'thresSafe', 'meanPos', 'stdPos', 'meanNeg', 'stdNeg'] as const;
const DMM_WG = 256;
const STATE_BYTES = DMM_STATE_KEYS.length * 4;

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.join(', ')}]`;
  return String(value);
}

/**
 * One caption per tile (the threshold may differ between captions): rows = the batch's longest
 * caption rounded up to 8 (4 where 8 does not fit), so batches of similar lengths share one
 * pipeline (each new one is a compile: seconds on a CPU driver).
 */
export function trainScoreConfig(regions: number, maxWords: number, sharedBytesLimit: number, what: string): ScoreConfig {
  // Rounded to 8 where that fits, else to 4 (the smallest tile).
  for (const ROWS of [...new Set([Math.ceil(maxWords / 8) * 8, Math.ceil(maxWords / 4) * 4])]) {
    for (const KC of [16, 8, 4]) {
      const shape = { R: regions, ROWS, CAPS: 1, KC };
      if (scoreSharedBytes(shape) <= sharedBytesLimit) return makeScoreConfig(shape);
    }
  }
  const ROWS = Math.ceil(maxWords / 4) * 4;
  const needed = scoreSharedBytes({ R: regions, ROWS, CAPS: 1, KC: 4 });
  throw new Error(`${what}: regions R=${regions} with captions of up to L=${maxWords} words need ${needed} bytes of workgroup memory, ` +
    `more than this device's maxComputeWorkgroupStorageSize ${sharedBytesLimit}`);
}

export function resolveTrainOptions(what: string, options: NaafTrainOptions | undefined): Required<Omit<NaafTrainOptions, 'kernel'>> & Pick<NaafTrainOptions, 'kernel'> {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object') throw new Error(`${what}: options must be an object, got ${describeValue(options)}`);
  const allowed = ['alpha', 'lambdaSoftmax', 'minWords', 'kernel'];
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) throw new Error(`${what}: unknown option "${key}" (allowed: ${allowed.join(', ')})`);
  }
  const positive = (name: 'alpha' | 'lambdaSoftmax', fallback: number) => {
    const value = options[name];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new Error(`${what}: options.${name} must be a finite number > 0, got ${describeValue(value)}`);
    }
    return value;
  };
  const minWords = options.minWords ?? 200;
  if (!Number.isInteger(minWords) || minWords < 1 || minWords > 0xffffffff) {
    throw new Error(`${what}: options.minWords must be an integer >= 1, got ${describeValue(minWords)}`);
  }
  const kernel = options.kernel;
  if (kernel !== undefined && kernel !== 'split' && kernel !== 'fused') throw new Error(`${what}: options.kernel must be 'split' or 'fused', got ${describeValue(kernel)}`);
  return { alpha: positive('alpha', 2), lambdaSoftmax: positive('lambdaSoftmax', 20), minWords, kernel };
}

export function checkDmmState(what: string, state: DmmState): Float32Array {
  if (!state || typeof state !== 'object') {
    throw new Error(`${what}: state must be { ${DMM_STATE_KEYS.join(', ')} } (finite numbers), got ${describeValue(state)}`);
  }
  return Float32Array.from(DMM_STATE_KEYS, (key) => {
    const value = state[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`${what}: state.${key} must be a finite number, got ${describeValue(value)}`);
    return value;
  });
}

/** The caption lengths as u32, each an integer in [1, L]. */
function checkLengths(what: string, name: string, raw: ArrayLike<number>, B: number, L: number): Uint32Array {
  if (!raw || typeof raw.length !== 'number' || raw.length !== B) {
    const got = raw && typeof raw.length === 'number' ? `${raw.length} entries` : describeValue(raw);
    throw new Error(`${what}: ${name} must hold B = ${B} integers, got ${got}`);
  }
  const lengths = new Uint32Array(B);
  for (let i = 0; i < B; i++) {
    if (!Number.isInteger(raw[i]) || raw[i] < 1 || raw[i] > L) throw new Error(`${what}: ${name}[${i}] must be an integer in [1, L = ${L}], got ${describeValue(raw[i])}`);
    lengths[i] = raw[i];
  }
  return lengths;
}

/** B >= 2, and the shapes fit one binding and the workgroup memory; returns the score tile. */
function checkFit(what: string, ctx: GpuContext, B: number, R: number, L: number, D: number): ScoreConfig {
  if (B < 2) {
    throw new Error(`${what}: the batch size B must be >= 2 (the mismatch mining samples the least similar OTHER image; ` +
      `with B = 1 the original samples the matched image as its own mismatch), got B = ${B}`);
  }
  const maxGroups = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (B > maxGroups) throw new Error(`${what}: the batch size B = ${B} exceeds this device's maxComputeWorkgroupsPerDimension ${maxGroups} (one workgroup per image)`);
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  const bindings: [string, number][] = [
    [`images [${B}, ${R}, ${D}]`, B * R * D], [`captions [${B}, ${L}, ${D}]`, B * L * D],
    [`the region Grams [${B}, ${R}, ${R}]`, B * R * R], [`the sims [${B}, ${B}]`, B * B], [`the DMM samples [2, ${B} * ${L}]`, 2 * B * L],
  ];
  for (const [name, floats] of bindings) {
    if (floats * 4 > maxBinding) throw new Error(`${what}: ${name} needs ${floats * 4} bytes in one binding, more than this device's maxStorageBufferBindingSize ${maxBinding}`);
  }
  return trainScoreConfig(R, L, ctx.limits.maxComputeWorkgroupStorageSize, what);
}

/** Checks the GPU arguments; returns the lengths as u32 and the score tile. */
function checkArgs(what: string, ctx: GpuContext, a: NaafTrainArgs): { lengths: Uint32Array; config: ScoreConfig } {
  for (const key of ['B', 'R', 'L', 'D'] as const) {
    if (!Number.isInteger(a[key]) || a[key] < 1) throw new Error(`${what}: args.${key} must be an integer >= 1, got ${describeValue(a[key])}`);
  }
  const { B, R, L, D } = a;
  const config = checkFit(what, ctx, B, R, L, D);
  const lengths = checkLengths(what, 'args.lengths', a.lengths, B, L);
  for (const [name, buffer, bytes, shape] of [['images', a.images, B * R * D * 4, `[${B}, ${R}, ${D}]`], ['captions', a.captions, B * L * D * 4, `[${B}, ${L}, ${D}]`]] as const) {
    if (!buffer || typeof buffer.size !== 'number') throw new Error(`${what}: args.${name} must be a GPUBuffer, got ${describeValue(buffer)}`);
    if ((buffer.usage & GPUBufferUsage.STORAGE) === 0) throw new Error(`${what}: args.${name} must have usage STORAGE, got usage flags ${buffer.usage}`);
    if (buffer.size < bytes) throw new Error(`${what}: args.${name} holds ${buffer.size} bytes, expected at least ${bytes} for ${shape} float32`);
  }
  return { lengths, config };
}

function isBuffer(state: DmmState | GPUBuffer): state is GPUBuffer {
  return state !== null && typeof state === 'object' && typeof (state as GPUBuffer).mapAsync === 'function';
}

/**
 * Encodes one training batch into `encoder` (one compute pass; the caller submits). `state` is
 * the DMM state before the batch, or the `state` buffer a previous call returned (usage
 * COPY_SRC), so batches chain on the GPU. The returned buffers come from ctx.pool and belong
 * to the caller; the buffers pushed onto `transient` may be released once `encoder` is submitted.
 */
export async function encodeNaafTrainingSimilarity(ctx: GpuContext, encoder: GPUCommandEncoder, args: NaafTrainArgs,
  state: DmmState | GPUBuffer, options: NaafTrainOptions, transient: GPUBuffer[]): Promise<NaafTrainBuffers> {
  const what = 'encodeNaafTrainingSimilarity';
  ctx.checkUsable(what);
  const opts = resolveTrainOptions(what, options);
  const { lengths, config } = checkArgs(what, ctx, args);
  const initial = isBuffer(state) ? null : checkDmmState(what, state);
  if (isBuffer(state) && (state.size < STATE_BYTES || (state.usage & GPUBufferUsage.COPY_SRC) === 0)) {
    throw new Error(`${what}: a state buffer must hold >= ${STATE_BYTES} bytes with usage COPY_SRC, got ${state.size} bytes, usage flags ${state.usage}`);
  }
  const { B, R, L, D } = args;
  const [gramPipe, dmmPipe] = await Promise.all([
    regionGramPipeline(ctx, R),
    ctx.pipeline('dmm_update', [{ name: 'kernels/dmm_update.wgsl', code: dmmUpdateWgsl }], { WG: DMM_WG }),
  ]);

  const own = (buffer: GPUBuffer) => (transient.push(buffer), buffer);
  const storage = GPUBufferUsage.STORAGE;
  // The lengths, then the one tile of every dispatch (its caption): score_tile.wgsl's tables.
  const tables = new Uint32Array(B + 2);
  tables.set(lengths);
  tables[B + 1] = 1;
  const tablesBuffer = own(ctx.upload(tables, 'train tables'));
  const regionGram = own(ctx.pool.acquire(B * R * R * 4, storage, 'train region gram'));
  // naafBranches references the intra-text weights (never read on the training path): bound to a placeholder.
  const noWordGram = own(ctx.pool.acquire(16, storage, 'train unused word gram'));
  const wordMax = own(ctx.pool.acquire(B * L * 4, storage, 'train word max'));
  const samples = own(ctx.pool.acquire(2 * B * L * 4, storage, 'dmm samples'));
  const sampleCount = own(ctx.upload(Uint32Array.of(0), 'dmm sample count')); // n_pos restarts every batch

  const sims = ctx.pool.acquire(B * B * 4, storage | GPUBufferUsage.COPY_SRC, 'train sims');
  const thresholdsUsed = ctx.pool.acquire(B * 4, storage | GPUBufferUsage.COPY_SRC, 'train thresholds used');
  let stateBuffer: GPUBuffer;
  if (initial) {
    stateBuffer = ctx.upload(initial, 'dmm state');
  } else {
    stateBuffer = ctx.pool.acquire(STATE_BYTES, storage | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, 'dmm state');
    encoder.copyBufferToBuffer(state as GPUBuffer, 0, stateBuffer, 0, STATE_BYTES);
  }

  const pass = ctx.beginPass(encoder, what);
  encodeRegionGram(ctx, pass, gramPipe, { images: args.images, imageBase: 0, numImages: B, dim: D, gram: regionGram }, transient);
  const split = opts.kernel === 'fused' ? null : await splitScoring(ctx, pass, args, lengths, opts, transient);
  const scorePipe = split ? null : await ctx.pipeline('naaf_train_score', [
    ...SCORE_TILE_PARTS,
    { name: 'kernels/common/score_f32.wgsl', code: scoreF32Wgsl },
    { name: 'kernels/naaf_train_score.wgsl', code: naafTrainScoreWgsl },
  ], { ...config });
  for (let i = 0; i < B; i++) {
    if (split) {
      split.encode(i, { regionGram, sims, state: stateBuffer, wordMax });
    } else {
      // Same Params layout as score_tile.wgsl; the threshold slot is unused (it comes from the state).
      const scoreParams = own(ctx.uniforms(scoreTileParams({
        imageBase: 0, captionBase: i * L * D, outBase: 0, outStride: B, captionChunkStart: i, dim: D, maxWords: L, numImages: B,
        threshold: 0, lambdaSoftmax: opts.lambdaSoftmax, lambdaLse: 0, imageStart: 0, tileBase: B,
      }), 'train score params'));
      const scoreGroup = ctx.bindGroup(scorePipe!,
        [scoreParams, args.images, args.captions, tablesBuffer, null, regionGram, noWordGram, sims, stateBuffer, wordMax], 'train score');
      ctx.dispatch(pass, scorePipe!, scoreGroup, 1, B);
    }

    const dmmParams = own(ctx.uniforms([
      [i, 'u32'], [lengths[i], 'u32'], [B, 'u32'], [L, 'u32'],
      [opts.alpha, 'f32'], [opts.minWords, 'u32'], [B * L, 'u32'], [0, 'u32'],
    ], 'dmm params'));
    const dmmGroup = ctx.bindGroup(dmmPipe, [dmmParams, sims, wordMax, stateBuffer, samples, sampleCount, thresholdsUsed], 'dmm update');
    ctx.dispatch(pass, dmmPipe, dmmGroup, 1);
  }
  pass.end();
  return { sims, state: stateBuffer, thresholdsUsed };
}

interface SplitScoring {
  /** Encodes caption i's scoring against every image (its threshold read from `state`). */
  encode(i: number, buffers: { regionGram: GPUBuffer; sims: GPUBuffer; state: GPUBuffer; wordMax: GPUBuffer }): void;
}

/**
 * The split scoring of a batch: encodes S^T [B * R, words] of every caption's packed words by
 * one GEMM into `pass` and returns the per-caption epilogue. Null where S^T or the epilogue tile
 * does not fit this device (the fused kernel then runs), unless options.kernel asks for 'split'.
 */
async function splitScoring(ctx: GpuContext, pass: GpuPass, a: NaafTrainArgs, lengths: Uint32Array,
  opts: { lambdaSoftmax: number; kernel?: 'split' | 'fused' }, transient: GPUBuffer[]): Promise<SplitScoring | null> {
  const { B, R, L, D } = a;
  const { lambdaSoftmax } = opts;
  let words = 0;
  for (const len of lengths) words += len;
  const wordStride = Math.ceil(words / 4) * 4;
  const bytes = B * R * wordStride * 4;
  const limit = scratchBytesLimit(ctx.limits, DEFAULT_SCRATCH_BYTES);
  let epilogue: SplitEpilogueConfig;
  try {
    if (bytes > limit) throw new Error(`encodeNaafTrainingSimilarity: the split scoring's S^T needs ${bytes} bytes (B * R * words = ${B} * ${R} * ${wordStride} floats), more than ${limit}; use kernel 'fused'`);
    epilogue = chooseSplitEpilogue('naaf', R, L, ctx.limits.maxComputeWorkgroupStorageSize, L);
  } catch (error) {
    if (opts.kernel === 'split') throw error;
    return null;
  }
  const plan = await resolvePlan(ctx, { R, D, L }, resolveOptions({ method: 'naaf', threshold: 0, intra: false, lambdaSoftmax, kernel: 'split' }), true);
  const gemm = plan.split!.gemmFor(wordStride);
  const [gemmPipe, epiloguePipe] = await Promise.all([
    gemmPipeline(ctx, gemm),
    ctx.pipeline('naaf_train_split', [...SPLIT_TILE_PARTS, NAAF_SPLIT_ROW, { name: 'kernels/naaf_train_split.wgsl', code: naafTrainSplitWgsl }], { ...epilogue }),
  ]);
  const own = (buffer: GPUBuffer) => (transient.push(buffer), buffer);
  // Packed word rows in batch order; one tile per caption, (caption, 1), and its first row.
  const wordRows = new Uint32Array(words);
  const tiles = new Uint32Array(2 * B);
  const tileRows = new Uint32Array(B);
  for (let m = 0, row = 0; m < B; m++) {
    tiles[2 * m] = m;
    tiles[2 * m + 1] = 1;
    tileRows[m] = row;
    for (let w = 0; w < lengths[m]; w++) wordRows[row++] = (m * L + w) * D;
  }
  const layout = splitLayout(lengths, tiles, tileRows);
  const tables = own(ctx.upload(layout.data, 'train split tables'));
  const sT = { buffer: own(ctx.pool.acquire(bytes, GPUBufferUsage.STORAGE, 'train S^T', true)), offset: 0, size: bytes };
  encodeGemm(ctx, pass, gemmPipe, gemm, {
    regions: { buffer: a.images, offset: 0, size: B * R * D * 4 }, regionBase: 0,
    words: { buffer: a.captions, offset: 0, size: B * L * D * 4 }, wordBase: 0, wordRows: own(ctx.upload(wordRows, 'train word rows')),
    rows: B * R, wordCount: words, wordStride, dim: D, scratch: sT,
  }, transient);
  return {
    encode(i, b) {
      const params = own(splitEpilogueParams(ctx, {
        wordStride, captionChunkStart: 0, outBase: 0, outStride: B, maxWords: L, numImages: B, imageStart: 0, gramBase: 0,
        threshold: 0, lambdaSoftmax, lambdaLse: 0, tileBase: layout.offsets[0] + 2 * i, rowBase: layout.offsets[1] + i, numTiles: 1,
      }));
      const group = ctx.bindGroup(epiloguePipe, [params, sT, tables, b.state, b.wordMax, b.regionGram, null, b.sims], 'train split epilogue');
      ctx.dispatch(pass, epiloguePipe, group, 1, B);
    },
  };
}

export interface TrainImageInput { data: Float32Array; shape: readonly [number, number, number] }
export interface TrainCaptionInput { data: Float32Array; shape: readonly [number, number, number]; lengths: ArrayLike<number> }

export interface NaafTrainResult {
  sims: Float32Array; // [B * B], image-major
  state: DmmState; // after the batch: pass it to the next batch
  thresholdsUsed: Float32Array; // [B]
}

function checkInput(what: string, name: string, input: TrainImageInput | TrainCaptionInput, labels: string): [number, number, number] {
  if (!input || typeof input !== 'object') throw new Error(`${what}: ${name} must be { data: Float32Array, shape: ${labels} }, got ${describeValue(input)}`);
  const shape = input.shape as unknown;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((x) => Number.isInteger(x) && x >= 1)) {
    throw new Error(`${what}: ${name}.shape must be ${labels} (3 integers >= 1), got ${describeValue(shape)}`);
  }
  if (!(input.data instanceof Float32Array)) throw new Error(`${what}: ${name}.data must be a Float32Array, got ${Object.prototype.toString.call(input.data)}`);
  const count = shape[0] * shape[1] * shape[2];
  if (input.data.length !== count) throw new Error(`${what}: ${name}.data has ${input.data.length} values, expected ${count} for shape [${shape.join(', ')}]`);
  const bad = input.data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    const at = [Math.floor(bad / (shape[1] * shape[2])), Math.floor(bad / shape[2]) % shape[1], bad % shape[2]];
    throw new Error(`${what}: ${name}.data must be finite, got ${input.data[bad]} at [${at.join(', ')}] (flat index ${bad})`);
  }
  return shape as [number, number, number];
}

/**
 * One training batch from CPU arrays: images [B, R, D], captions [B, L, D] zero-padded with
 * lengths [B] (caption i pairs with image i), the DMM state before the batch. One submit, one
 * readback.
 */
export async function naafTrainingSimilarity(ctx: GpuContext, images: TrainImageInput, captions: TrainCaptionInput,
  state: DmmState, options: NaafTrainOptions = {}): Promise<NaafTrainResult> {
  const what = 'naafTrainingSimilarity';
  ctx.checkUsable(what);
  resolveTrainOptions(what, options);
  checkDmmState(what, state);
  const [B, R, D] = checkInput(what, 'images', images, '[B, R, D]');
  const [Bc, L, Dc] = checkInput(what, 'captions', captions, '[B, L, D]');
  if (Bc !== B) throw new Error(`${what}: captions.shape B = ${Bc} must equal images.shape B = ${B} (caption i pairs with image i)`);
  checkSameD(what, Dc, D);
  checkLengths(what, 'captions.lengths', captions.lengths, B, L);
  checkFit(what, ctx, B, R, L, D);

  return ctx.scoped(what, async () => {
    const transient: GPUBuffer[] = [];
    try {
      const imageBuffer = ctx.upload(images.data, 'train images');
      const captionBuffer = ctx.upload(captions.data, 'train captions');
      transient.push(imageBuffer, captionBuffer);
      const encoder = ctx.createEncoder(what);
      const out = await encodeNaafTrainingSimilarity(ctx, encoder,
        { images: imageBuffer, captions: captionBuffer, lengths: captions.lengths, B, R, L, D }, state, options, transient);
      transient.push(out.sims, out.state, out.thresholdsUsed);
      // One readback for the three results: sims, then the state, then the thresholds.
      const count = B * B + STATE_BYTES / 4 + B;
      const packed = ctx.pool.acquire(count * 4, GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, 'train results');
      transient.push(packed);
      encoder.copyBufferToBuffer(out.sims, 0, packed, 0, B * B * 4);
      encoder.copyBufferToBuffer(out.state, 0, packed, B * B * 4, STATE_BYTES);
      encoder.copyBufferToBuffer(out.thresholdsUsed, 0, packed, B * B * 4 + STATE_BYTES, B * 4);
      const values = await ctx.readFloat32(packed, 0, count, encoder);
      const stateValues = values.subarray(B * B, B * B + 6);
      const after = Object.fromEntries(DMM_STATE_KEYS.map((key, k) => [key, stateValues[k]])) as unknown as DmmState;
      return { sims: values.slice(0, B * B), state: after, thresholdsUsed: values.slice(B * B + 6) };
    } finally {
      for (const buffer of transient) ctx.pool.release(buffer);
    }
  });
}
