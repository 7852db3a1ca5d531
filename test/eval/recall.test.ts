// The evalrank metrics against an independent argsort-based implementation of the original.
import { describe, expect, it } from 'vitest';
import { averageFolds, recallMetrics } from '../../src/eval/recall.js';
import { rng } from '../random.js';

/** As evaluation.py: inds = argsort(d)[::-1]; rank = where(inds == target). */
function originalRanks(sims: Float32Array, N: number, M: number) {
  const descending = (values: number[]) => values.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).map((p) => p[1]);
  const i2t = [];
  for (let i = 0; i < N; i++) {
    const order = descending(Array.from(sims.subarray(i * M, (i + 1) * M)));
    i2t.push(Math.min(...[0, 1, 2, 3, 4].map((k) => order.indexOf(5 * i + k))));
  }
  const t2i = [];
  for (let j = 0; j < M; j++) {
    const order = descending(Array.from({ length: N }, (_, n) => sims[n * M + j]));
    t2i.push(order.indexOf(Math.floor(j / 5)));
  }
  const summarise = (ranks: number[]) => {
    const sorted = [...ranks].sort((a, b) => a - b);
    const h = sorted.length >> 1;
    const median = sorted.length % 2 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
    const at = (k: number) => (100 * ranks.filter((r) => r < k).length) / ranks.length;
    return { r1: at(1), r5: at(5), r10: at(10), medr: Math.floor(median) + 1, meanr: ranks.reduce((a, b) => a + b, 0) / ranks.length + 1 };
  };
  return { i2t: summarise(i2t), t2i: summarise(t2i) };
}

describe('recall metrics', () => {
  it('a perfect and a reversed similarity matrix', () => {
    const N = 4;
    const M = 20;
    const perfect = new Float32Array(N * M).map((_, k) => (Math.floor((k % M) / 5) === Math.floor(k / M) ? 1 : 0) + (k % M) * 1e-3);
    const result = recallMetrics(perfect, N, M);
    expect(result.i2t).toEqual({ r1: 100, r5: 100, r10: 100, medr: 1, meanr: 1 });
    expect(result.t2i).toEqual({ r1: 100, r5: 100, r10: 100, medr: 1, meanr: 1 });
    expect(result.rsum).toBe(600);
  });

  it('random matrices match the argsort formulation', () => {
    for (const N of [3, 10, 25]) {
      const next = rng(N);
      const M = 5 * N;
      const sims = Float32Array.from({ length: N * M }, (_, k) => next() + (Math.floor((k % M) / 5) === Math.floor(k / M) ? 0.3 : 0));
      const result = recallMetrics(sims, N, M);
      const expected = originalRanks(sims, N, M);
      for (const direction of ['i2t', 't2i'] as const) {
        for (const key of ['r1', 'r5', 'r10', 'medr', 'meanr'] as const) expect(result[direction][key]).toBeCloseTo(expected[direction][key], 10);
      }
      const e = expected;
      expect(result.rsum).toBeCloseTo(e.i2t.r1 + e.i2t.r5 + e.i2t.r10 + e.t2i.r1 + e.t2i.r5 + e.t2i.r10, 10);
    }
  });

  it('folds average every metric; rsum sums the averaged recalls', () => {
    const a = { i2t: { r1: 10, r5: 20, r10: 30, medr: 3, meanr: 5 }, t2i: { r1: 1, r5: 2, r10: 3, medr: 4, meanr: 9 }, rsum: 66 };
    const b = { i2t: { r1: 30, r5: 40, r10: 50, medr: 2, meanr: 4 }, t2i: { r1: 3, r5: 4, r10: 5, medr: 6, meanr: 7 }, rsum: 135 };
    const avg = averageFolds([a, b]);
    expect(avg.i2t).toEqual({ r1: 20, r5: 30, r10: 40, medr: 2.5, meanr: 4.5 });
    expect(avg.rsum).toBeCloseTo(20 + 30 + 40 + 2 + 3 + 4, 12);
  });

  it('rejects a matrix that is not N x 5N', () => {
    expect(() => recallMetrics(new Float32Array(12), 3, 4)).toThrow(/expected 5 captions per image, got N = 3 images and M = 4 captions/);
  });
});

describe('randomRecall', () => {
  it('is what random rankings average to', async () => {
    const { randomRecall } = await import('../../src/eval/recall.js');
    const N = 12;
    const expected = randomRecall(N);
    const next = rng(3);
    let rsum = 0;
    const trials = 400;
    for (let t = 0; t < trials; t++) rsum += recallMetrics(Float32Array.from({ length: N * 5 * N }, () => next()), N, 5 * N).rsum;
    expect(Math.abs(rsum / trials - expected.rsum)).toBeLessThan(3); // 400 trials: a few points of noise
    expect(expected.t2i).toEqual([100 / 12, 500 / 12, 1000 / 12]);
    expect(expected.i2t[0]).toBeCloseTo(100 * 5 / 60, 10);
  });
});
