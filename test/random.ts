// Seeded random inputs: l2-normalised region and word embeddings, zero-padded captions.
import { naafSimilarityRef, type RefBatch } from '../src/ref/naaf.js';
import { scanSimilarityRef } from '../src/ref/scan.js';
import type { SimilarityOptions } from '../src/types.js';
import { rng } from '../bench/shapes.mjs';

export { rng };

function gaussian(next: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

function fillUnitRows(out: Float32Array, rowStart: number, rows: number, dim: number, next: () => number, shared?: Float64Array): void {
  for (let i = rowStart; i < rowStart + rows; i++) {
    let sq = 0;
    const v = new Float64Array(dim);
    for (let d = 0; d < dim; d++) {
      v[d] = gaussian(next) + (shared ? shared[d] : 0);
      sq += v[d] * v[d];
    }
    const scale = 1 / Math.sqrt(sq);
    for (let d = 0; d < dim; d++) out[i * dim + d] = v[d] * scale;
  }
}

export interface RandomBatch extends RefBatch {
  images: Float32Array;
  captions: Float32Array;
  lengths: Int32Array;
}

/**
 * N images of R regions and M captions of the given lengths (padded to L), dimension D. A shared
 * direction makes similarities spread over roughly [-0.3, 0.9] so thresholds split them.
 */
export function randomBatch(seed: number, N: number, R: number, lengths: number[], L: number, D: number): RandomBatch {
  const next = rng(seed);
  const shared = new Float64Array(D);
  for (let d = 0; d < D; d++) shared[d] = gaussian(next) * 0.35;
  const images = new Float32Array(N * R * D);
  fillUnitRows(images, 0, N * R, D, next, shared);
  const M = lengths.length;
  const captions = new Float32Array(M * L * D);
  for (let m = 0; m < M; m++) fillUnitRows(captions, m * L, lengths[m], D, next, shared);
  return { images, captions, lengths: Int32Array.from(lengths), N, R, M, L, D };
}

export function randomLengths(seed: number, M: number, min: number, max: number): number[] {
  const next = rng(seed);
  return Array.from({ length: M }, () => min + Math.floor(next() * (max - min + 1)));
}

/** The float64 reference of a similarity call's method and options. */
export function methodReference(b: RefBatch, options: SimilarityOptions): Float64Array {
  if (options.method === 'naaf') return naafSimilarityRef(b, options);
  return scanSimilarityRef(b, { ...options, direction: options.method === 'scan-t2i' ? 't2i' : 'i2t' });
}
