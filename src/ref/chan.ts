// Float64 reference of CHAN's similarity (CVPR 2023; ppanzx/CHAN lib/coding.py, VHACoding then
// LSEPooling or MeanPooling), for embeddings that are already l2-normalised (the encoders do it):
//   c_w = max_r u_w . v_r                      (visual hard assignment: each word's best region)
//   lse:  S = log sum_{w < len} exp(c_w / belta)   (belta divides: a temperature, 0.1 in train.sh;
//                                                   no 1/lambda in front, no mean)
//   mean: S = (1/len) sum_{w < len} c_w
// Padding never enters (the original fills padded words with -1 and finds them by that value).
import { wordRegionSims } from './common.js';
import type { RefBatch } from './naaf.js';

export interface ChanRefOptions {
  pooling?: 'lse' | 'mean'; // 'lse'
  belta?: number; // 0.1
}

/** Each word's best-region similarity c_w of (image n, caption m). */
export function chanWordMaxRef(batch: RefBatch, n: number, m: number): Float64Array {
  const { R, L, D } = batch;
  const words = batch.lengths[m];
  const s = wordRegionSims(batch.images, n, R, batch.captions, m, L, words, D);
  return Float64Array.from({ length: words }, (_, w) => {
    let best = -Infinity;
    for (let r = 0; r < R; r++) best = Math.max(best, s[w * R + r]);
    return best;
  });
}

/** The pooling of a caption's word maxima (max-shifted log-sum-exp: the same value, no overflow). */
export function chanPoolRef(c: ArrayLike<number>, pooling: 'lse' | 'mean', belta: number): number {
  if (pooling === 'mean') {
    let sum = 0;
    for (let w = 0; w < c.length; w++) sum += c[w];
    return sum / c.length;
  }
  let best = -Infinity;
  for (let w = 0; w < c.length; w++) best = Math.max(best, c[w] / belta);
  let total = 0;
  for (let w = 0; w < c.length; w++) total += Math.exp(c[w] / belta - best);
  return best + Math.log(total);
}

/** sims[n * M + m], float64. */
export function chanSimilarityRef(batch: RefBatch, options: ChanRefOptions = {}): Float64Array {
  const pooling = options.pooling ?? 'lse';
  const belta = options.belta ?? 0.1;
  const sims = new Float64Array(batch.N * batch.M);
  for (let n = 0; n < batch.N; n++) {
    for (let m = 0; m < batch.M; m++) sims[n * batch.M + m] = chanPoolRef(chanWordMaxRef(batch, n, m), pooling, belta);
  }
  return sims;
}
