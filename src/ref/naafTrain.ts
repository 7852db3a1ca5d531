// Float64 reference of NAAF's training-path similarity with Discriminative Mismatch Mining
// (spec 3.2 + 3.3, `xattn_score`): captions in batch order, each scored against every image
// with the current threshold, then the DMM update; and of the triplet loss (spec 3.4).
// Written as the original's loop, statement for statement, so it checks the GPU path
// (src/ops/naafTrain.ts) independently of its algebra.
import type { DmmState, NaafTrainOptions } from '../ops/naafTrain.js';
import { RefBatch, naafWordTermsRef } from './naaf.js';

export interface NaafTrainRefResult {
  sims: Float64Array; // [B, B] image-major: sims[n * B + i]
  state: DmmState; // after the batch
  thresholdsUsed: Float64Array; // [B]: the threshold caption i was scored with
  /** Per caption: the least similar image whose words were sampled as mismatched, or -1 if the matched image did not rank first. */
  negativeImage: Int32Array;
}

function mean(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** torch.std: unbiased (n - 1), two-pass. */
function std(values: readonly number[], mu: number): number {
  let sq = 0;
  for (const v of values) sq += (v - mu) ** 2;
  return Math.sqrt(sq / (values.length - 1));
}

/**
 * One mini-batch: caption i pairs with image i (batch.N === batch.M = B). Ties: the rank test
 * takes the first index among equal maxima (a stable descending sort), the least similar image
 * the first index among equal minima (a stable ascending sort / torch.argmin).
 */
export function naafTrainingSimilarityRef(batch: RefBatch, state: DmmState, options: NaafTrainOptions = {}): NaafTrainRefResult {
  const B = batch.N;
  if (batch.M !== B) throw new Error(`naafTrainingSimilarityRef: batch.M (captions) must equal batch.N (images) = ${B}, got ${batch.M}`);
  if (B < 2) throw new Error(`naafTrainingSimilarityRef: batch size B must be >= 2 (mismatch mining needs another image), got ${B}`);
  const alpha = options.alpha ?? 2;
  const lambdaSoftmax = options.lambdaSoftmax ?? 20;
  const minWords = options.minWords ?? 200;
  const opt = { ...state };

  const sims = new Float64Array(B * B);
  const thresholdsUsed = new Float64Array(B);
  const negativeImage = new Int32Array(B).fill(-1);
  const pos: number[] = [];
  const neg: number[] = [];
  let nPos = 0;

  for (let i = 0; i < B; i++) {
    const words = batch.lengths[i];
    thresholdsUsed[i] = opt.thres;
    const rawMax: Float64Array[] = [];
    for (let n = 0; n < B; n++) {
      const terms = naafWordTermsRef(batch, n, i, { threshold: opt.thres, lambdaSoftmax, intra: false });
      let sum = 0;
      for (let w = 0; w < words; w++) sum += terms.neg[w] + terms.posF[w] + terms.posR[w];
      sims[n * B + i] = sum / words;
      rawMax.push(terms.sMax);
    }

    let best = 0;
    let worst = 0;
    for (let n = 1; n < B; n++) {
      if (sims[n * B + i] > sims[best * B + i]) best = n;
      if (sims[n * B + i] < sims[worst * B + i]) worst = n;
    }
    if (best === i) {
      negativeImage[i] = worst;
      pos.push(...rawMax[i]);
      neg.push(...rawMax[worst]);
      nPos += words;
      if (nPos > minWords) {
        const meanPos = mean(pos);
        const meanNeg = mean(neg);
        const stdPos = std(pos, meanPos);
        const stdNeg = std(neg, meanNeg);
        const A = stdPos ** 2 - stdNeg ** 2;
        const Bq = 2 * (meanPos * stdNeg ** 2 - meanNeg * stdPos ** 2);
        const C = (meanNeg * stdPos) ** 2 - (meanPos * stdNeg) ** 2
          + 2 * (stdPos * stdNeg) ** 2 * Math.log(stdNeg / (alpha * stdPos) + 1e-8);
        const prevThres = opt.thres;
        const prevSafe = opt.thresSafe;
        Object.assign(opt, { meanPos, stdPos, meanNeg, stdNeg });
        const E = Bq * Bq - 4 * A * C;
        if (E > 0) {
          opt.thres = (-Bq + Math.sqrt(E)) / (2 * A + 1e-10);
          opt.thresSafe = meanPos - 3 * stdPos;
        }
        // Out of range becomes 0 (not clipped); NaN passes, as in the original's comparisons.
        if (opt.thres < 0 || opt.thres > 1) opt.thres = 0;
        if (opt.thresSafe < 0 || opt.thresSafe > 1) opt.thresSafe = 0;
        opt.thres = 0.7 * opt.thres + 0.3 * prevThres;
        opt.thresSafe = 0.7 * opt.thresSafe + 0.3 * prevSafe;
      }
    }
    if (nPos < minWords) {
      opt.thres = 0;
      opt.thresSafe = 0;
    }
  }
  return { sims, state: opt, thresholdsUsed, negativeImage };
}
