// Input validation for similarity(): every rejection names the argument, what was expected and
// what was given, and happens before any GPU work.
import { DEFAULT_SCRATCH_BYTES } from './plan.js';
import type { CaptionInput, ImageInput, OutputTarget, Precision, SimilarityOptions } from '../types.js';
import type { ScoreMethod, TileRequest } from '../ops/score.js';
import { describeValue } from '../methods/describe.js';
import { methodSpec, type MethodFields } from '../methods/index.js';
import { checkSignal } from '../gpu/submit.js';
import { NpyReader } from '../io/npy.js';

/** A call's options, resolved: the method's fields (its registry entry's resolve()) and the chunking ones. */
export interface ResolvedOptions extends MethodFields {
  method: ScoreMethod;
  maxImagesPerChunk: number;
  maxCaptionsPerChunk: number;
  tile: TileRequest;
  precision: Precision;
  /** Pinned by the call, else chosen by the plan (src/similarity/plan.ts). */
  kernel?: 'fused' | 'split';
  maxScratchBytes: number;
  /** What one call may hold on the GPU at once (blocks are sized to it). */
  maxGpuBytes: number;
  signal?: AbortSignal;
}

export interface CheckedInputs {
  N: number; R: number; D: number; M: number; L: number;
  lengths: Uint32Array;
}

const CHUNK_KEYS = ['maxImagesPerChunk', 'maxCaptionsPerChunk', 'tile', 'precision', 'kernel', 'maxScratchBytes', 'maxGpuBytes', 'signal'];
const DEFAULT_MAX_GPU_BYTES = 1024 * 2 ** 20; // blocks.ts documents it


function positiveFinite(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`similarity: options.${name} must be a finite number > 0, got ${describeValue(value)}`);
  }
  return value;
}

function chunkLimit(name: string, value: unknown): number {
  if (value === undefined) return Infinity;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new Error(`similarity: options.${name} must be an integer >= 1, got ${describeValue(value)}`);
  }
  return value;
}

const PRECISIONS: Precision[] = ['f32', 'f16', 'int8', 'int8-dot4', 'int8-subgroup-matrix'];

function checkPrecision(value: unknown): Precision {
  if (value === undefined) return 'f32';
  if (!PRECISIONS.includes(value as Precision)) {
    throw new Error(`similarity: options.precision must be one of ${PRECISIONS.map((p) => `'${p}'`).join(', ')}, got ${describeValue(value)}`);
  }
  return value as Precision;
}

function checkKernel(value: unknown): 'fused' | 'split' | undefined {
  if (value === undefined || value === 'fused' || value === 'split') return value;
  throw new Error(`similarity: options.kernel must be 'fused' or 'split', got ${describeValue(value)}`);
}

export function resolveOptions(options: SimilarityOptions | undefined): ResolvedOptions {
  if (!options || typeof options !== 'object') throw new Error(`similarity: options must be an object with a method, got ${describeValue(options)}`);
  const spec = methodSpec(options.method);
  const method = spec.name;
  const allowed = ['method', ...spec.optionKeys, ...CHUNK_KEYS];
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) throw new Error(`similarity: unknown option "${key}" for method '${method}' (allowed: ${allowed.join(', ')})`);
  }
  const o = options as unknown as Record<string, unknown>;
  if (o.tile !== undefined && (o.tile === null || typeof o.tile !== 'object')) throw new Error(`similarity: options.tile must be an object, got ${describeValue(o.tile)}`);
  const chunks = {
    maxImagesPerChunk: chunkLimit('maxImagesPerChunk', o.maxImagesPerChunk), maxCaptionsPerChunk: chunkLimit('maxCaptionsPerChunk', o.maxCaptionsPerChunk),
    tile: { ...(o.tile as TileRequest | undefined) },
    precision: checkPrecision(o.precision),
    kernel: checkKernel(o.kernel),
    maxScratchBytes: o.maxScratchBytes === undefined ? DEFAULT_SCRATCH_BYTES : chunkLimit('maxScratchBytes', o.maxScratchBytes),
    maxGpuBytes: o.maxGpuBytes === undefined ? DEFAULT_MAX_GPU_BYTES : chunkLimit('maxGpuBytes', o.maxGpuBytes),
    signal: checkSignal('similarity', o.signal),
  };
  return { method, ...spec.resolve(o, positiveFinite), ...chunks };
}

function checkShape(name: string, shape: unknown, labels: string, what = 'similarity'): [number, number, number] {
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((x) => Number.isInteger(x) && x >= 0)) {
    throw new Error(`${what}: ${name}.shape must be ${labels} (3 non-negative integers), got ${describeValue(shape)}`);
  }
  const [a, b, c] = shape as number[];
  if (a === 0) throw new Error(`${what}: ${name}.shape ${labels} has ${labels[1]} = 0: empty batch`);
  if (b === 0 || c === 0) throw new Error(`${what}: ${name}.shape ${labels} must have every size >= 1, got [${shape.join(', ')}]`);
  return [a, b, c];
}

function checkFinite(name: string, data: Float32Array, shape: readonly number[], what = 'similarity'): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) { // NaN or +-Infinity, fast path for the common finite case
      const d = i % shape[2];
      const b = Math.floor(i / shape[2]) % shape[1];
      const a = Math.floor(i / (shape[1] * shape[2]));
      throw new Error(`${what}: ${name}.data must be finite, got ${v} at [${a}, ${b}, ${d}] (flat index ${i})`);
    }
  }
}

function checkSource(name: string, input: ImageInput | CaptionInput, shape: readonly number[], what = 'similarity'): void {
  const elements = shape[0] * shape[1] * shape[2];
  if ('data' in input && input.data !== undefined) {
    if (!(input.data instanceof Float32Array)) {
      throw new Error(`${what}: ${name}.data must be a Float32Array, got ${Object.prototype.toString.call(input.data)}`);
    }
    if (input.data.length !== elements) {
      throw new Error(`${what}: ${name}.data has ${input.data.length} values, expected ${elements} for shape [${shape.join(', ')}]`);
    }
    checkFinite(name, input.data, shape, what);
    return;
  }
  if (!('buffer' in input) || !input.buffer) throw new Error(`${what}: ${name} needs either data (Float32Array) or buffer (GPUBuffer)`);
  const offset = input.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0 || offset % 4 !== 0) {
    throw new Error(`${what}: ${name}.offset must be a non-negative multiple of 4 bytes, got ${describeValue(offset)}`);
  }
  if ((input.buffer.usage & GPUBufferUsage.STORAGE) === 0) {
    throw new Error(`${what}: ${name}.buffer must have usage STORAGE, got usage flags ${input.buffer.usage}`);
  }
  if (input.buffer.size < offset + elements * 4) {
    throw new Error(`${what}: ${name}.buffer holds ${input.buffer.size} bytes, expected at least ${offset + elements * 4} (offset ${offset} + shape [${shape.join(', ')}] float32)`);
  }
}

/** Checks images (data, a GPU buffer, or an NpyReader of [N, R, D] rows); returns [N, R, D]. */
export function checkImages(images: ImageInput | NpyReader, what = 'similarity'): [number, number, number] {
  if (images instanceof NpyReader) {
    const shape = images.shape;
    if (shape.length !== 3 || shape.some((x) => x < 1)) throw new Error(`${what}: images (${images.path}) must be a .npy of shape [N, R, D] with every size >= 1, got (${shape.join(', ')})`);
    return [shape[0], shape[1], shape[2]];
  }
  if (!images || typeof images !== 'object') throw new Error(`${what}: images must be { data | buffer, shape: [N, R, D] }, got ${describeValue(images)}`);
  const shape = checkShape('images', images.shape, '[N, R, D]', what);
  checkSource('images', images, shape, what);
  return shape;
}

/** Checks captions; returns [M, L, D] and the lengths. */
export function checkCaptions(captions: CaptionInput, what = 'similarity'): { shape: [number, number, number]; lengths: Uint32Array } {
  if (!captions || typeof captions !== 'object') throw new Error(`${what}: captions must be { data | buffer, shape: [M, L, D], lengths }, got ${describeValue(captions)}`);
  const [M, L, D] = checkShape('captions', captions.shape, '[M, L, D]', what);
  const raw = captions.lengths as ArrayLike<number> | undefined;
  if (!raw || typeof raw.length !== 'number') throw new Error(`${what}: captions.lengths must be an array of M = ${M} integers, got ${describeValue(raw)}`);
  if (raw.length !== M) throw new Error(`${what}: captions.lengths has ${raw.length} entries, expected M = ${M}`);
  const lengths = new Uint32Array(M);
  for (let m = 0; m < M; m++) {
    const len = raw[m];
    if (!Number.isInteger(len) || len < 1 || len > L) {
      throw new Error(`${what}: captions.lengths[${m}] must be an integer in [1, L = ${L}], got ${describeValue(len)}`);
    }
    lengths[m] = len;
  }
  checkSource('captions', captions, [M, L, D], what);
  return { shape: [M, L, D], lengths };
}

/** Captions and images of one call share D. */
export function checkSameD(what: string, captionsD: number, imagesD: number): void {
  if (captionsD !== imagesD) throw new Error(`${what}: captions.shape D = ${captionsD} must equal images.shape D = ${imagesD}`);
}

export function checkInputs(images: ImageInput | NpyReader, captions: CaptionInput): CheckedInputs {
  if (!images || typeof images !== 'object') throw new Error(`similarity: images must be { data | buffer, shape: [N, R, D] }, got ${describeValue(images)}`);
  if (!captions || typeof captions !== 'object') throw new Error(`similarity: captions must be { data | buffer, shape: [M, L, D], lengths }, got ${describeValue(captions)}`);
  const imageShape = images instanceof NpyReader ? null : checkShape('images', images.shape, '[N, R, D]');
  const [, , Dc] = checkShape('captions', captions.shape, '[M, L, D]');
  const D0 = imageShape ? imageShape[2] : images instanceof NpyReader ? images.shape[2] : Dc;
  checkSameD('similarity', Dc, D0);
  const { shape: [M, L, D], lengths } = checkCaptions(captions);
  const [N, R] = checkImages(images);
  return { N, R, D, M, L, lengths };
}

/** Non-finite values of rows read from a file (rows [start, ...) of [N, R, D]), named by index. */
export function checkFiniteRows(name: string, data: Float32Array, start: number, R: number, D: number, what = 'similarity'): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) {
      const n = start + Math.floor(i / (R * D));
      throw new Error(`${what}: ${name} must be finite, got ${v} at [${n}, ${Math.floor(i / D) % R}, ${i % D}]`);
    }
  }
}

export function checkOutput(target: OutputTarget, N: number, M: number): number {
  if (!target || !target.buffer) throw new Error('similarityInto: output must be { buffer: GPUBuffer, offset?: number }');
  const offset = target.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0 || offset % 4 !== 0) {
    throw new Error(`similarityInto: output.offset must be a non-negative multiple of 4 bytes, got ${describeValue(offset)}`);
  }
  if ((target.buffer.usage & GPUBufferUsage.STORAGE) === 0) {
    throw new Error(`similarityInto: output.buffer must have usage STORAGE, got usage flags ${target.buffer.usage}`);
  }
  if (target.buffer.size < offset + N * M * 4) {
    throw new Error(`similarityInto: output.buffer holds ${target.buffer.size} bytes, expected at least ${offset + N * M * 4} (offset ${offset} + N*M = ${N}*${M} float32)`);
  }
  return offset;
}

/** f16 keeps magnitudes up to 65504: CPU inputs beyond it are refused (GPU inputs are not scanned). */
export function checkPrecisionRange(precision: Precision, images: ImageInput | NpyReader, captions: CaptionInput): void {
  if (precision !== 'f16') return;
  for (const [name, input] of [['images', images], ['captions', captions]] as const) {
    if (input instanceof NpyReader || !('data' in input) || !input.data) continue; // rows from a file are checked as they are read
    const data = input.data;
    for (let i = 0; i < data.length; i++) {
      if (Math.abs(data[i]) > 65504) {
        throw new Error(`similarity: precision 'f16' holds magnitudes up to 65504, but ${name}.data[${i}] is ${data[i]}; use 'f32' or normalise the embeddings`);
      }
    }
  }
}
