// Ranking fidelity metrics (src/search/fidelity.ts) against a direct reading of their definitions.
import { describe, expect, it } from 'vitest';
import { fidelity, overlapAt, rankBiasedOverlap, sameTopK } from '../../src/search/fidelity.js';
import { rng } from '../random.js';

/** RBO_ext straight from its definition: A_d = |A[:d] and B[:d]| / d by set intersection. */
function rboByDefinition(a: number[], b: number[], depth: number, p: number): number {
  const agreement = (d: number) => a.slice(0, d).filter((x) => b.slice(0, d).includes(x)).length / d;
  let sum = 0;
  for (let d = 1; d <= depth; d++) sum += agreement(d) * p ** d;
  return ((1 - p) / p) * sum + agreement(depth) * p ** depth;
}

describe('ranking fidelity', () => {
  it('equal rankings score 1, disjoint 0, and a worked example its hand value', () => {
    expect(rankBiasedOverlap([4, 5, 6, 7], [4, 5, 6, 7], 4)).toBeCloseTo(1, 15);
    expect(rankBiasedOverlap([1, 2, 3], [4, 5, 6], 3)).toBe(0);
    // A_1 = 1, A_2 = 1/2, A_3 = 1: (0.1 / 0.9) (0.9 + 0.405 + 0.729) + 0.729.
    expect(rankBiasedOverlap([1, 2, 3], [1, 3, 2], 3, 0.9)).toBeCloseTo((0.1 / 0.9) * 2.034 + 0.729, 15);
    expect(overlapAt([1, 2, 3, 9], [3, 2, 1, 8], 3)).toBe(1);
    expect(sameTopK([1, 2, 3], [3, 2, 1], 3)).toBe(false);
    expect(sameTopK([1, 2, 3, 9], [1, 2, 3, 8], 3)).toBe(true);
  });

  it('random rankings: RBO equals its definition; swaps near the top cost more than near the bottom', () => {
    const next = rng(7);
    for (let trial = 0; trial < 50; trial++) {
      const pool = Array.from({ length: 30 }, (_, i) => i).sort(() => next() - 0.5);
      const a = pool.slice(0, 10);
      const b = [...pool.slice(0, 14)].sort(() => next() - 0.5).slice(0, 10);
      for (const p of [0.5, 0.9, 0.99]) expect(rankBiasedOverlap(a, b, 10, p)).toBeCloseTo(rboByDefinition(a, b, 10, p), 12);
    }
    const reference = Array.from({ length: 10 }, (_, i) => i);
    const top = [1, 0, ...reference.slice(2)];
    const bottom = [...reference.slice(0, 8), 9, 8];
    expect(rankBiasedOverlap(top, reference, 10)).toBeLessThan(rankBiasedOverlap(bottom, reference, 10));
    expect(overlapAt(top, reference, 10)).toBe(1);
  });

  it('averages over queries', () => {
    const f = fidelity([[1, 2], [5, 6]], [[1, 2], [6, 7]], 2);
    expect(f.identical).toBe(0.5);
    expect(f.overlap).toBe(0.75);
    expect(f.rbo).toBeCloseTo((1 + rboByDefinition([5, 6], [6, 7], 2, 0.9)) / 2, 15);
  });

  it('bad rankings and arguments name the problem', () => {
    expect(() => overlapAt([1, 2], [1, 2, 3], 3)).toThrow(/candidate ranking must hold at least k = 3 ids, got 2/);
    expect(() => sameTopK([1, 1, 2], [1, 2, 3], 3)).toThrow(/candidate ranking repeats an id in its top 3/);
    expect(() => rankBiasedOverlap([1, 2], [1, 2], 2, 1)).toThrow(/p must lie in \(0, 1\), got 1/);
    expect(() => overlapAt([1], [1], 0)).toThrow(/k must be an integer >= 1, got 0/);
    expect(() => fidelity([[1]], [], 1)).toThrow(/1 candidate rankings against 0 references/);
    expect(() => fidelity([], [], 1)).toThrow(/no queries/);
  });
});
