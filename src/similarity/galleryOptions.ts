// The checks of createGallery's options, the same on every backend.
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
