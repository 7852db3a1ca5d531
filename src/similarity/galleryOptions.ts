// The checks of createGallery's and a gallery query's options, the same on every backend.
import type { CaptionInput, Precision, SimilarityOptions } from '../types.js';
import type { GalleryOptions } from './galleryTypes.js';

const FORMATS = ['f32', 'f16', 'int8'] as const;
const KEYS = ['precision', 'maxGpuBytes', 'signal', 'onProgress', 'maxImagesPerShard', 'expectedImages'];

export interface CheckedGalleryOptions {
  precision: 'f32' | 'f16' | 'int8';
  maxGpuBytes: number;
  shardLimit: number;
  /** 0 when not given. */
  expected: number;
}

export function checkGalleryOptions(options: GalleryOptions, what: string): CheckedGalleryOptions {
  if (options === null || typeof options !== 'object') throw new Error(`${what}: options must be an object, got ${String(options)}`);
  for (const key of Object.keys(options)) {
    if (!KEYS.includes(key)) throw new Error(`${what}: unknown option "${key}" (allowed: ${KEYS.join(', ')})`);
  }
  const precision = options.precision ?? 'f32';
  if (!FORMATS.includes(precision)) throw new Error(`${what}: options.precision must be 'f32', 'f16' or 'int8', got ${JSON.stringify(precision)}`);
  const maxGpuBytes = options.maxGpuBytes ?? Infinity;
  if (maxGpuBytes !== Infinity && (!Number.isInteger(maxGpuBytes) || maxGpuBytes < 1)) throw new Error(`${what}: options.maxGpuBytes must be an integer >= 1, got ${maxGpuBytes}`);
  const shardLimit = options.maxImagesPerShard ?? Infinity;
  if (shardLimit !== Infinity && (!Number.isInteger(shardLimit) || shardLimit < 1)) throw new Error(`${what}: options.maxImagesPerShard must be an integer >= 1, got ${shardLimit}`);
  const expected = options.expectedImages ?? 0;
  if (options.expectedImages !== undefined && (!Number.isSafeInteger(expected) || expected < 1)) throw new Error(`${what}: options.expectedImages must be an integer >= 1, got ${options.expectedImages}`);
  return { precision, maxGpuBytes, shardLimit, expected };
}

/**
 * A query's options with the gallery's precision: a call may leave it out or name one of
 * `allowed` (the stored format, or a product over it).
 */
export function galleryQueryOptions<T extends { precision?: Precision }>(what: string, options: T, stored: Precision, allowed: readonly Precision[]): T {
  if (!options || typeof options !== 'object') throw new Error(`gallery.${what}: options must be an object with a method, got ${String(options)}`);
  const precision = options.precision;
  if (precision !== undefined && !allowed.includes(precision)) {
    throw new Error(`gallery.${what}: options.precision ${JSON.stringify(precision)} does not match the gallery's '${stored}' (its images are stored so); allowed: ${allowed.map((p) => `'${p}'`).join(', ')}`);
  }
  return { ...options, precision: precision ?? stored };
}

/** Captions of a gallery query must have the gallery's D (checked where the shape is known). */
export function checkGalleryCaptionsD(what: string, captions: CaptionInput, D: number): void {
  const got = (captions as { shape?: readonly number[] })?.shape?.[2];
  if (got !== undefined && got !== D) throw new Error(`gallery.${what}: captions.shape D = ${got} must equal the gallery's D = ${D}`);
}

/** Pair scoring is f32 whatever the gallery stores: the options with precision 'f32'. */
export function galleryPairOptions(what: string, options: SimilarityOptions): SimilarityOptions {
  const precision = (options as { precision?: Precision }).precision;
  if (precision !== undefined && precision !== 'f32') throw new Error(`gallery.${what}: pairs are scored in f32, got options.precision ${JSON.stringify(precision)}`);
  return { ...options, precision: 'f32' } as SimilarityOptions;
}
