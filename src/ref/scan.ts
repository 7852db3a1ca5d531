// Float64 reference of SCAN's scores with `clipped_l2norm` (spec 4): `xattn_score_t2i` and
// `xattn_score_i2t`, LogSumExp or mean aggregation.
import { EPS, dot, leakyRelu, norm, softmaxScaled, weightedRows, wordRegionSims } from './common.js';
import type { RefBatch } from './naaf.js';

export type Aggregation = 'lse' | 'mean';

export interface ScanRefOptions {
  direction: 't2i' | 'i2t';
  lambdaSoftmax?: number; // t2i 9, i2t 4
  aggregation?: Aggregation; // 'lse'
  lambdaLse?: number; // t2i 6, i2t 5
}

function cosine(a: ArrayLike<number>, aOffset: number, b: Float64Array, dim: number): number {
  const denominator = Math.max(norm(a, aOffset, dim) * norm(b), EPS);
  return dot(a, aOffset, b, 0, dim) / denominator;
}

function aggregate(values: Float64Array, aggregation: Aggregation, lambdaLse: number): number {
  let sum = 0;
  if (aggregation === 'mean') {
    for (const v of values) sum += v;
    return sum / values.length;
  }
  for (const v of values) sum += Math.exp(lambdaLse * v); // as the original: no max-subtraction
  return Math.log(sum) / lambdaLse;
}

/** Per-query relevance scores R_w (t2i: one per word) or R_r (i2t: one per region). */
export function scanQueryScoresRef(batch: RefBatch, n: number, m: number, options: ScanRefOptions): Float64Array {
  const { images, captions, R, L, D } = batch;
  const words = batch.lengths[m];
  const s = wordRegionSims(images, n, R, captions, m, L, words, D);
  if (options.direction === 't2i') {
    const lambda = options.lambdaSoftmax ?? 9;
    const regionNorm = new Float64Array(R); // l2 over the words (the query items) per region
    for (let r = 0; r < R; r++) {
      let sq = 0;
      for (let w = 0; w < words; w++) sq += leakyRelu(s[w * R + r]) ** 2;
      regionNorm[r] = Math.sqrt(sq) + EPS;
    }
    const scores = new Float64Array(words);
    for (let w = 0; w < words; w++) {
      const logits = new Float64Array(R);
      for (let r = 0; r < R; r++) logits[r] = leakyRelu(s[w * R + r]) / regionNorm[r];
      const context = weightedRows(softmaxScaled(logits, lambda), images, n * R, D);
      scores[w] = cosine(captions, (m * L + w) * D, context, D);
    }
    return scores;
  }
  const lambda = options.lambdaSoftmax ?? 4;
  const wordNorm = new Float64Array(words); // l2 over the regions (the query items) per word
  for (let w = 0; w < words; w++) {
    let sq = 0;
    for (let r = 0; r < R; r++) sq += leakyRelu(s[w * R + r]) ** 2;
    wordNorm[w] = Math.sqrt(sq) + EPS;
  }
  const scores = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    const logits = new Float64Array(words);
    for (let w = 0; w < words; w++) logits[w] = leakyRelu(s[w * R + r]) / wordNorm[w];
    const context = weightedRows(softmaxScaled(logits, lambda), captions, m * L, D);
    scores[r] = cosine(images, (n * R + r) * D, context, D);
  }
  return scores;
}

/** sims[n * M + m], float64. */
export function scanSimilarityRef(batch: RefBatch, options: ScanRefOptions): Float64Array {
  const aggregation = options.aggregation ?? 'lse';
  const lambdaLse = options.lambdaLse ?? (options.direction === 't2i' ? 6 : 5);
  const sims = new Float64Array(batch.N * batch.M);
  for (let n = 0; n < batch.N; n++) {
    for (let m = 0; m < batch.M; m++) {
      sims[n * batch.M + m] = aggregate(scanQueryScoresRef(batch, n, m, options), aggregation, lambdaLse);
    }
  }
  return sims;
}
