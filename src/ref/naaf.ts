// Float64 reference of NAAF's inference score (spec 3.1, `xattn_score_test`), and of the
// same score without intra-text propagation (the negative mask of spec 3.2).
import { EPS, Vec, dot, leakyRelu, norm, softmaxScaled, weightedRows, wordRegionSims } from './common.js';

export interface RefBatch {
  images: Vec; // [N, R, D]
  captions: Vec; // [M, L, D]
  lengths: ArrayLike<number>; // [M]
  N: number; R: number; M: number; L: number; D: number;
}

export interface NaafRefOptions {
  threshold: number;
  lambdaSoftmax?: number; // 20
  lambdaIntra?: number; // 5
  intra?: boolean; // true
}

export interface NaafWordTerms {
  sMax: Float64Array; // max_r s_wr (raw cosine)
  neg: Float64Array;
  posF: Float64Array;
  posR: Float64Array;
}

/** Per-word terms of one (image n, caption m) pair; the score is mean(neg + posF + posR). */
export function naafWordTermsRef(batch: RefBatch, n: number, m: number, options: NaafRefOptions): NaafWordTerms {
  const { images, captions, R, L, D } = batch;
  const words = batch.lengths[m];
  const t = options.threshold;
  const lambda = options.lambdaSoftmax ?? 20;
  const lambdaIntra = options.lambdaIntra ?? 5;
  const intra = options.intra ?? true;
  const s = wordRegionSims(images, n, R, captions, m, L, words, D);

  const sMax = new Float64Array(words);
  const rowMax = new Float64Array(words);
  for (let w = 0; w < words; w++) {
    let best = -Infinity;
    for (let r = 0; r < R; r++) best = Math.max(best, s[w * R + r]);
    sMax[w] = best;
    rowMax[w] = best - t;
  }

  // Negative branch: the mask comes from the (propagated) row max, the value is the word's own.
  const neg = new Float64Array(words);
  for (let w = 0; w < words; w++) {
    let maskValue = rowMax[w];
    if (intra) {
      const logits = new Float64Array(words);
      for (let v = 0; v < words; v++) logits[v] = dot(captions, (m * L + w) * D, captions, (m * L + v) * D, D);
      const weights = softmaxScaled(logits, lambdaIntra);
      maskValue = 0;
      for (let v = 0; v < words; v++) maskValue += weights[v] * rowMax[v];
    }
    neg[w] = maskValue < 0 ? rowMax[w] : 0;
  }

  // Positive branch 1: attention over regions above the threshold, exp without max-subtraction.
  const posF = new Float64Array(words);
  for (let w = 0; w < words; w++) {
    const weights = new Float64Array(R);
    let total = 0;
    for (let r = 0; r < R; r++) {
      const shifted = s[w * R + r] - t;
      weights[r] = shifted > 0 ? Math.exp(lambda * shifted) : 0;
      total += weights[r];
    }
    for (let r = 0; r < R; r++) weights[r] /= total + EPS;
    const context = weightedRows(weights, images, n * R, D);
    posF[w] = dot(captions, (m * L + w) * D, context, 0, D) / Math.max(norm(context), EPS);
  }

  // Positive branch 2: SCAN t2i relevance weights on the raw similarities.
  const posR = new Float64Array(words);
  const regionNorm = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let sq = 0;
    for (let w = 0; w < words; w++) sq += leakyRelu(s[w * R + r]) ** 2;
    regionNorm[r] = Math.sqrt(sq) + EPS;
  }
  for (let w = 0; w < words; w++) {
    const logits = new Float64Array(R);
    for (let r = 0; r < R; r++) logits[r] = leakyRelu(s[w * R + r]) / regionNorm[r];
    const weights = softmaxScaled(logits, lambda);
    let sum = 0;
    for (let r = 0; r < R; r++) sum += weights[r] * s[w * R + r];
    posR[w] = sum;
  }
  return { sMax, neg, posF, posR };
}

/** sims[n * M + m], float64. */
export function naafSimilarityRef(batch: RefBatch, options: NaafRefOptions): Float64Array {
  const sims = new Float64Array(batch.N * batch.M);
  for (let n = 0; n < batch.N; n++) {
    for (let m = 0; m < batch.M; m++) {
      const terms = naafWordTermsRef(batch, n, m, options);
      let sum = 0;
      for (let w = 0; w < terms.neg.length; w++) sum += terms.neg[w] + terms.posF[w] + terms.posR[w];
      sims[n * batch.M + m] = sum / terms.neg.length;
    }
  }
  return sims;
}

/** NAAF's training-path score (no intra-text propagation) with caption m scored at thresholds[m]; [N, M]. */
export function naafTrainSimilarityRef(batch: RefBatch, thresholds: ArrayLike<number>, lambdaSoftmax: number): Float64Array {
  const sims = new Float64Array(batch.N * batch.M);
  for (let n = 0; n < batch.N; n++) {
    for (let m = 0; m < batch.M; m++) {
      const terms = naafWordTermsRef(batch, n, m, { threshold: thresholds[m], lambdaSoftmax, intra: false });
      let sum = 0;
      for (let w = 0; w < terms.neg.length; w++) sum += terms.neg[w] + terms.posF[w] + terms.posR[w];
      sims[n * batch.M + m] = sum / terms.neg.length;
    }
  }
  return sims;
}
