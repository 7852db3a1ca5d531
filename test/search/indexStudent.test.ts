// An inner-product student's coarse column (src/search/indexStudent.ts): unit vectors one
// dimension wider (padded to a multiple of 8) whose cosine with [q, 0...] ranks as the inner product does, for every vector
// within M (twice the first batch's longest); a cosine student's vectors pass through.
import { describe, expect, it } from 'vitest';
import { coarseImageVectors, coarseQueryVectors, maxNormOf, studentColumnWidth } from '../../src/search/indexStudent.js';
import { seededRandom } from '../../src/random.js';

describe('the MIPS-to-cosine map of an inner-product student', () => {
  const rand = seededRandom(3);
  const S = 5, N = 200;
  const raw = Float32Array.from({ length: N * S }, () => (rand() - 0.5) * (1 + 3 * rand()));
  const query = Float32Array.from({ length: S }, () => rand() - 0.5);
  const dot = (a: Float32Array, i: number, b: ArrayLike<number>, D: number) => { let s = 0; for (let d = 0; d < D; d++) s += a[i * D + d]! * b[d]!; return s; };

  it('gives unit vectors whose cosine with [q, 0] is x . q / (M |q|): the inner-product ranking', () => {
    const maxNorm = maxNormOf(raw.subarray(0, 50 * S), S);
    const identity = { normalize: false, dim: S, maxNorm };
    const images = coarseImageVectors(identity, raw);
    const q = coarseQueryVectors(identity, query);
    const W = studentColumnWidth(identity);
    expect(W).toBe(8); // one wider, padded to a multiple of 8 (IVF_PQ sub-vectors of 4)
    expect(studentColumnWidth({ normalize: false, dim: 64 })).toBe(72);
    expect(studentColumnWidth({ normalize: true, dim: 64 })).toBe(64);
    expect(q).toHaveLength(W);
    expect(Array.from(q.subarray(S))).toEqual([0, 0, 0]);
    for (let n = 0; n < N; n++) expect(Array.from(images.subarray(n * W + S + 1, (n + 1) * W))).toEqual([0, 0]);
    const qNorm = Math.hypot(...query);
    for (let n = 0; n < N; n++) {
      const norm = Math.hypot(...images.subarray(n * W, (n + 1) * W));
      const within = Math.hypot(...raw.subarray(n * S, (n + 1) * S)) <= maxNorm;
      if (within) {
        expect(norm).toBeCloseTo(1, 6);
        expect(dot(images, n, q, W) / (norm * qNorm)).toBeCloseTo(dot(raw, n, query, S) / (maxNorm * qNorm), 6);
      }
    }
    const byDot = [...Array(N).keys()].sort((a, b) => dot(raw, b, query, S) - dot(raw, a, query, S));
    const byCosine = [...Array(N).keys()].sort((a, b) => dot(images, b, q, W) - dot(images, a, q, W));
    expect(byCosine).toEqual(byDot);
  });

  it('a vector longer than M keeps 0 in the extra dimension; M is twice the longest (1 for all zeros); cosine students pass through', () => {
    const long = Float32Array.from([3, 4, 0, 0, 0]);
    expect(maxNormOf(long, S)).toBe(10);
    expect(maxNormOf(new Float32Array(2 * S), S)).toBe(1);
    const mapped = coarseImageVectors({ normalize: false, dim: S, maxNorm: 2.5 }, long);
    expect(Array.from(mapped)).toEqual([1.2, 1.6, 0, 0, 0, 0, 0, 0].map(Math.fround));
    const unit = Float32Array.from([0.6, 0.8, 0, 0, 0]);
    expect(coarseImageVectors({ normalize: true, dim: S }, unit)).toBe(unit);
    expect(coarseQueryVectors({ normalize: true, dim: S }, unit)).toBe(unit);
  });
});
