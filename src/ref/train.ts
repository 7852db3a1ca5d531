// Float64 references of the training ops that are not encoders or scores: the l2norm and
// embedding backwards, the triplet loss with its gradient, and clipped Adam.
import { EPS } from './common.js';

type Vec = ArrayLike<number>;

/** dx of y = x / (||x|| + eps) per row; with pairMean, x = (a + b) / 2 and the result is [2][rows][cols]. */
export function l2normRowsBackwardRef(x: Vec, gradOut: Vec, rows: number, cols: number, pairMean = false): Float64Array {
  const value = (r: number, c: number) => (pairMean ? 0.5 * (x[r * cols + c] + x[(rows + r) * cols + c]) : x[r * cols + c]);
  const out = new Float64Array((pairMean ? 2 : 1) * rows * cols);
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    let dotXdy = 0;
    for (let c = 0; c < cols; c++) {
      sq += value(r, c) ** 2;
      dotXdy += value(r, c) * gradOut[r * cols + c];
    }
    const n = Math.sqrt(sq);
    for (let c = 0; c < cols; c++) {
      const g = gradOut[r * cols + c] / (n + EPS) - (n > 0 ? (value(r, c) * dotXdy) / (n * (n + EPS) ** 2) : 0);
      if (pairMean) {
        out[r * cols + c] = 0.5 * g;
        out[(rows + r) * cols + c] = 0.5 * g;
      } else {
        out[r * cols + c] = g;
      }
    }
  }
  return out;
}

/** dTable [vocab, dim] of out[p] = table[ids[p]], over the positions where include(p). */
export function embeddingBackwardRef(ids: Vec, include: (p: number) => boolean, gradOut: Vec, vocab: number, dim: number): Float64Array {
  const out = new Float64Array(vocab * dim);
  for (let p = 0; p < ids.length; p++) {
    if (!include(p)) continue;
    for (let d = 0; d < dim; d++) out[ids[p] * dim + d] += gradOut[p * dim + d];
  }
  return out;
}

/**
 * Spec 3.4: S [B, B] rows images, columns captions; cost_s[i, j] = [m + S_ij - S_ii]_+,
 * cost_im[i, j] = [m + S_ij - S_jj]_+, diagonals zeroed; max_violation sums the row and column
 * maxima (first maximum on ties), else all costs. Returns the loss and dLoss/dS.
 */
export function tripletLossRef(sims: Vec, B: number, margin = 0.2, maxViolation = true): { loss: number; grad: Float64Array } {
  if (!Number.isInteger(B) || B < 1 || sims.length !== B * B) {
    throw new Error(`tripletLossRef: sims must hold B * B values for an integer B >= 1, got B = ${B} and ${sims.length} values`);
  }
  const grad = new Float64Array(B * B);
  const costS = (i: number, j: number) => (i === j ? 0 : Math.max(0, margin + sims[i * B + j] - sims[i * B + i]));
  const costIm = (i: number, j: number) => (i === j ? 0 : Math.max(0, margin + sims[i * B + j] - sims[j * B + j]));
  let loss = 0;
  if (!maxViolation) {
    for (let i = 0; i < B; i++) {
      for (let j = 0; j < B; j++) {
        if (costS(i, j) > 0) { loss += costS(i, j); grad[i * B + j] += 1; grad[i * B + i] -= 1; }
        if (costIm(i, j) > 0) { loss += costIm(i, j); grad[i * B + j] += 1; grad[j * B + j] -= 1; }
      }
    }
    return { loss, grad };
  }
  for (let i = 0; i < B; i++) {
    let best = 0;
    let arg = 0;
    for (let j = 0; j < B; j++) if (costS(i, j) > best) { best = costS(i, j); arg = j; }
    loss += best;
    if (best > 0) { grad[i * B + arg] += 1; grad[i * B + i] -= 1; }
  }
  for (let j = 0; j < B; j++) {
    let best = 0;
    let arg = 0;
    for (let i = 0; i < B; i++) if (costIm(i, j) > best) { best = costIm(i, j); arg = i; }
    loss += best;
    if (best > 0) { grad[arg * B + j] += 1; grad[j * B + j] -= 1; }
  }
  return { loss, grad };
}

export interface AdamRefOptions {
  step: number; // t, from 1
  lr: number;
  maxNorm: number | null;
  /** Squared total norm over all parameters' gradients (default: over `grads` alone). */
  normSq?: number;
  beta1?: number; beta2?: number; eps?: number;
}

/** One step of torch's Adam after clip_grad_norm_(maxNorm); updates weights, m, v in place. */
export function adamStepRef(weights: Float64Array, grads: Vec, m: Float64Array, v: Float64Array, o: AdamRefOptions): void {
  const { beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = o;
  let sq = 0;
  for (let i = 0; i < grads.length; i++) sq += grads[i] ** 2;
  const normSq = o.normSq ?? sq;
  const scale = o.maxNorm === null ? 1 : Math.min(1, o.maxNorm / (Math.sqrt(normSq) + 1e-6));
  const c1 = 1 - beta1 ** o.step;
  const c2 = 1 - beta2 ** o.step;
  for (let i = 0; i < weights.length; i++) {
    const g = grads[i] * scale;
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    weights[i] -= (o.lr / c1) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(c2) + eps);
  }
}
