// The evalrank metrics (spec 6): image-to-text and text-to-image ranks over a similarity
// matrix [N images, 5N captions], R@1/5/10, medr, meanr, rsum, and the 5-fold COCO 1K average.

export interface RankMetrics {
  r1: number; r5: number; r10: number; medr: number; meanr: number;
}

export interface RecallResult {
  i2t: RankMetrics;
  t2i: RankMetrics;
  rsum: number;
}

/**
 * The rank of a target among scores = how many score strictly higher (its position in a
 * descending sort). numpy's unstable argsort orders exact ties arbitrarily; here a tie never
 * pushes the target down.
 */
function rankOf(scores: ArrayLike<number>, start: number, count: number, stride: number, target: number): number {
  let rank = 0;
  for (let i = 0; i < count; i++) if (scores[start + i * stride] > target) rank++;
  return rank;
}

function metrics(ranks: Int32Array): RankMetrics {
  const n = ranks.length;
  const below = (k: number) => (100 * ranks.filter((r) => r < k).length) / n;
  const sorted = Int32Array.from(ranks).sort();
  const median = n % 2 ? sorted[n >> 1] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  const mean = ranks.reduce((a, b) => a + b, 0) / n;
  return { r1: below(1), r5: below(5), r10: below(10), medr: Math.floor(median) + 1, meanr: mean + 1 };
}

/** Image i's ground-truth captions are 5i .. 5i+4; sims[i * M + j], M = 5N. */
export function i2tRanks(sims: ArrayLike<number>, N: number, M: number, captionsPerImage = 5): Int32Array {
  const ranks = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    let best = Infinity;
    for (let c = i * captionsPerImage; c < (i + 1) * captionsPerImage; c++) {
      best = Math.min(best, rankOf(sims, i * M, M, 1, sims[i * M + c]));
    }
    ranks[i] = best;
  }
  return ranks;
}

/** Caption j's ground-truth image is j / 5. */
export function t2iRanks(sims: ArrayLike<number>, N: number, M: number, captionsPerImage = 5): Int32Array {
  const ranks = new Int32Array(M);
  for (let j = 0; j < M; j++) {
    const image = Math.floor(j / captionsPerImage);
    ranks[j] = rankOf(sims, j, N, M, sims[image * M + j]);
  }
  return ranks;
}

/** R@K, medr, meanr of both directions and rsum, from the ranks. */
export function metricsOfRanks(i2tRanks: Int32Array, t2iRanks: Int32Array): RecallResult {
  const i2t = metrics(i2tRanks);
  const t2i = metrics(t2iRanks);
  return { i2t, t2i, rsum: i2t.r1 + i2t.r5 + i2t.r10 + t2i.r1 + t2i.r5 + t2i.r10 };
}

export function recallMetrics(sims: ArrayLike<number>, N: number, M: number): RecallResult {
  if (M !== 5 * N) throw new Error(`recallMetrics: expected 5 captions per image, got N = ${N} images and M = ${M} captions`);
  if (sims.length !== N * M) throw new Error(`recallMetrics: sims has ${sims.length} values, expected N*M = ${N * M}`);
  return metricsOfRanks(i2tRanks(sims, N, M), t2iRanks(sims, N, M));
}

/** The mean of each metric over folds (COCO 1K); rsum is the sum of the mean recalls. */
export function averageFolds(folds: RecallResult[]): RecallResult {
  const mean = (pick: (r: RecallResult) => RankMetrics): RankMetrics => {
    const keys = ['r1', 'r5', 'r10', 'medr', 'meanr'] as const;
    const out = {} as RankMetrics;
    for (const key of keys) out[key] = folds.reduce((sum, f) => sum + pick(f)[key], 0) / folds.length;
    return out;
  };
  const i2t = mean((r) => r.i2t);
  const t2i = mean((r) => r.t2i);
  return { i2t, t2i, rsum: i2t.r1 + i2t.r5 + i2t.r10 + t2i.r1 + t2i.r5 + t2i.r10 };
}

/**
 * The expected R@1/5/10 and rsum of a random ranking of N images with 5 captions each (what a
 * model must clearly beat): t2i R@K = K / N; i2t R@K = P(one of the image's 5 captions is in the
 * first K of 5N) = 1 - C(5N - 5, K) / C(5N, K).
 */
export function randomRecall(N: number): { i2t: number[]; t2i: number[]; rsum: number } {
  const ks = [1, 5, 10];
  const M = 5 * N;
  const t2i = ks.map((k) => (100 * Math.min(k, N)) / N);
  const i2t = ks.map((k) => {
    let none = 1; // C(M - 5, k) / C(M, k) = prod_{i<k} (M - 5 - i) / (M - i)
    for (let i = 0; i < Math.min(k, M); i++) none *= Math.max(0, M - 5 - i) / (M - i);
    return 100 * (1 - none);
  });
  return { i2t, t2i, rsum: [...i2t, ...t2i].reduce((a, b) => a + b, 0) };
}
