// Float64 reference of the score backward (src/ops/scoreBackward.ts): the gradients of
// sum_{n,m} gradScores[n, m] * score(n, m) with respect to the images and the captions, for
// NAAF's training-path score with per-caption thresholds (spec 3.2), SCAN t2i / i2t (spec 4) and
// CHAN (src/methods/chan.ts; lambdaSoftmax carries 1 / belta, lse the pooling).
// The scores are rebuilt on the autodiff tape (src/ref/autodiff.ts) in the direct formulation
// of src/ref/naaf.ts and src/ref/scan.ts (explicit context vectors, no Gram algebra), so they
// check the kernels independently of the kernels' algebra.
import type { BackwardMethod } from '../ops/scoreBackward.js';
import { Node, Tape } from './autodiff.js';
import { EPS } from './common.js';
import { RefBatch, naafWordTermsRef } from './naaf.js';
import { chanSimilarityRef } from './chan.js';
import { scanSimilarityRef } from './scan.js';

export interface ScoreBackwardRefOptions {
  method: BackwardMethod;
  thresholds?: ArrayLike<number>; // naaf-train: [M], the threshold each caption was scored with
  lambdaSoftmax: number;
  lse?: boolean; // scan: LogSumExp (default, as the forward) or mean aggregation
  lambdaLse?: number; // scan: t2i 6, i2t 5
}

export interface ScoreBackwardRefResult {
  scores: Float64Array; // [N, M] image-major, from the tape (equals scoreForwardRef)
  gradImages: Float64Array; // [N, R, D]
  gradCaptions: Float64Array; // [M, L, D], 0 at padding
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

function lambdaLseOf(options: ScoreBackwardRefOptions): number {
  return options.lambdaLse ?? (options.method === 'scan-t2i' ? 6 : 5);
}

function thresholdsOf(options: ScoreBackwardRefOptions, M: number): ArrayLike<number> {
  const thresholds = options.thresholds;
  if (!thresholds || thresholds.length !== M) {
    throw new Error(`scoreBackwardRef: options.thresholds must hold M = ${M} values for 'naaf-train', got ${thresholds?.length ?? 'none'}`);
  }
  return thresholds;
}

/** The forward scores [N, M] from the existing float64 references. */
export function scoreForwardRef(batch: RefBatch, options: ScoreBackwardRefOptions): Float64Array {
  if (options.method === 'naaf-train') return naafTrainSimilarityRef(batch, thresholdsOf(options, batch.M), options.lambdaSoftmax);
  if (options.method === 'chan') return chanSimilarityRef(batch, { pooling: (options.lse ?? true) ? 'lse' : 'mean', belta: 1 / options.lambdaSoftmax });
  return scanSimilarityRef(batch, {
    direction: options.method === 'scan-t2i' ? 't2i' : 'i2t',
    lambdaSoftmax: options.lambdaSoftmax, aggregation: (options.lse ?? true) ? 'lse' : 'mean', lambdaLse: lambdaLseOf(options),
  });
}

interface Pair {
  tape: Tape;
  u: Node[][]; // the caption's words [len][D]
  v: Node[][]; // the image's regions [R][D]
  s: Node[][]; // u_w . v_r, [len][R]
}

/** Per region, sqrt(sum over the words of LeakyReLU(s)^2) + eps (normalisation across words). */
function normsOverWords({ tape, s }: Pair): Node[] {
  return s[0].map((_, r) => {
    const squares = s.map((row) => { const x = tape.leakyRelu(row[r]); return tape.mul(x, x); });
    return tape.affine(tape.sqrt(tape.sum(squares)), 1, EPS);
  });
}

/** SCAN t2i relevance weights of word w: softmax_r(lambda LeakyReLU(s_wr) / norm_r). */
function relevance(pair: Pair, norms: Node[], w: number, lambda: number): Node[] {
  const { tape, s } = pair;
  return tape.softmax(s[w].map((x, r) => tape.div(tape.leakyRelu(x), norms[r])), lambda);
}

/** SCAN's cosine: x . c / max(||x|| ||c||, eps). */
function cosine(tape: Tape, x: Node[], c: Node[]): Node {
  return tape.div(tape.dot(x, c), tape.maxConst(tape.mul(tape.norm(x), tape.norm(c)), EPS));
}

function naafTrainScore(pair: Pair, threshold: number, lambda: number): Node {
  const { tape, u, v, s } = pair;
  const norms = normsOverWords(pair);
  const terms: Node[] = [];
  for (let w = 0; w < u.length; w++) {
    // Negative branch: the word's own thresholded row max, where it is below 0.
    const rowMax = tape.affine(tape.max(s[w]), 1, -threshold);
    if (tape.value(rowMax) < 0) terms.push(rowMax);
    // Attended feature over the regions above the threshold; NAAF's cosine divides by ||c|| only.
    const kept = s[w].map((_, r) => r).filter((r) => tape.value(s[w][r]) - threshold > 0);
    if (kept.length > 0) {
      const exps = kept.map((r) => tape.exp(tape.affine(s[w][r], lambda, -lambda * threshold)));
      const total = tape.affine(tape.sum(exps), 1, EPS);
      const weights = exps.map((e) => tape.div(e, total));
      const context = tape.weightedRows(weights, kept.map((r) => v[r]));
      terms.push(tape.div(tape.dot(u[w], context), tape.maxConst(tape.norm(context), EPS)));
    }
    // Relevance-weighted raw similarity.
    terms.push(tape.dot(relevance(pair, norms, w, lambda), s[w]));
  }
  return tape.affine(tape.sum(terms), 1 / u.length);
}

function aggregate(tape: Tape, values: Node[], lse: boolean, lambdaLse: number): Node {
  if (!lse) return tape.affine(tape.sum(values), 1 / values.length);
  // As the original: log sum exp without max-subtraction.
  return tape.affine(tape.log(tape.sum(values.map((x) => tape.exp(tape.affine(x, lambdaLse))))), 1 / lambdaLse);
}

/** CHAN: each word's best region, then log sum exp(c / belta) (scale = 1 / belta) or the mean. */
function chanScore({ tape, s }: Pair, scale: number, lse: boolean): Node {
  const best = s.map((row) => tape.max(row));
  if (!lse) return tape.affine(tape.sum(best), 1 / best.length);
  return tape.log(tape.sum(best.map((c) => tape.exp(tape.affine(c, scale)))));
}

function scanT2iScore(pair: Pair, lambda: number, lse: boolean, lambdaLse: number): Node {
  const { tape, u, v } = pair;
  const norms = normsOverWords(pair);
  const perWord = u.map((word, w) => cosine(tape, word, tape.weightedRows(relevance(pair, norms, w, lambda), v)));
  return aggregate(tape, perWord, lse, lambdaLse);
}

function scanI2tScore(pair: Pair, lambda: number, lse: boolean, lambdaLse: number): Node {
  const { tape, u, v, s } = pair;
  // Per word, the norm over the regions (the query items here).
  const wordNorms = s.map((row) => {
    const squares = row.map((x) => { const y = tape.leakyRelu(x); return tape.mul(y, y); });
    return tape.affine(tape.sqrt(tape.sum(squares)), 1, EPS);
  });
  const perRegion = v.map((region, r) => {
    const weights = tape.softmax(s.map((row, w) => tape.div(tape.leakyRelu(row[r]), wordNorms[w])), lambda);
    return cosine(tape, region, tape.weightedRows(weights, u));
  });
  return aggregate(tape, perRegion, lse, lambdaLse);
}

/** Scores and gradients of sum_{n,m} gradScores[n * M + m] * score(n, m). */
export function scoreBackwardRef(batch: RefBatch, options: ScoreBackwardRefOptions, gradScores: ArrayLike<number>): ScoreBackwardRefResult {
  const { N, R, M, L, D } = batch;
  if (gradScores.length !== N * M) throw new Error(`scoreBackwardRef: gradScores must hold N * M = ${N * M} values, got ${gradScores.length}`);
  const thresholds = options.method === 'naaf-train' ? thresholdsOf(options, M) : [];
  const lse = options.lse ?? true;
  const lambdaLse = lambdaLseOf(options);
  const tape = new Tape();
  const rowsOf = (data: ArrayLike<number>, count: number): Node[][] =>
    Array.from({ length: count }, (_, i) => Array.from({ length: D }, (_, d) => tape.leaf(data[i * D + d])));
  const imageRows = rowsOf(batch.images, N * R);
  const captionRows = rowsOf(batch.captions, M * L);

  const outputs: Node[] = [];
  for (let n = 0; n < N; n++) {
    const v = imageRows.slice(n * R, (n + 1) * R);
    for (let m = 0; m < M; m++) {
      const u = captionRows.slice(m * L, m * L + batch.lengths[m]);
      const s = u.map((word) => v.map((region) => tape.dot(word, region)));
      const pair: Pair = { tape, u, v, s };
      if (options.method === 'naaf-train') outputs.push(naafTrainScore(pair, thresholds[m], options.lambdaSoftmax));
      else if (options.method === 'chan') outputs.push(chanScore(pair, options.lambdaSoftmax, lse));
      else if (options.method === 'scan-t2i') outputs.push(scanT2iScore(pair, options.lambdaSoftmax, lse, lambdaLse));
      else outputs.push(scanI2tScore(pair, options.lambdaSoftmax, lse, lambdaLse));
    }
  }

  const grads = tape.backward(outputs, gradScores);
  const gather = (rows: Node[][]) => Float64Array.from(rows.flat(), (node) => grads[node]);
  return {
    scores: Float64Array.from(outputs, (node) => tape.value(node)),
    gradImages: gather(imageRows),
    gradCaptions: gather(captionRows),
  };
}
