// The training-path scores of one (image, caption) pair on the autodiff tape
// (src/ref/autodiff.ts), for the float64 reference of the score backward (src/ref/scoreBackward.ts).
// Each method's registry entry (src/methods/) names its own. They are written in the direct
// formulation of src/ref/naaf.ts, scan.ts and chan.ts (explicit context vectors, no Gram
// algebra), so they check the kernels independently of the kernels' algebra.
import { Node, Tape } from './autodiff.js';
import { EPS } from './common.js';

/** One pair on the tape: the caption's words, the image's regions and s = u_w . v_r. */
export interface TapePair {
  tape: Tape;
  u: Node[][]; // the caption's words [len][D]
  v: Node[][]; // the image's regions [R][D]
  s: Node[][]; // u_w . v_r, [len][R]
}

/** A pair's options: the caption's threshold (NAAF's training path), lambda, the aggregation. */
export interface TapeScoreOptions {
  threshold: number;
  lambdaSoftmax: number;
  lse: boolean;
  lambdaLse: number;
}

export type TapeScore = (pair: TapePair, o: TapeScoreOptions) => Node;


/** Per region, sqrt(sum over the words of LeakyReLU(s)^2) + eps (normalisation across words). */
function normsOverWords({ tape, s }: TapePair): Node[] {
  return s[0].map((_, r) => {
    const squares = s.map((row) => { const x = tape.leakyRelu(row[r]); return tape.mul(x, x); });
    return tape.affine(tape.sqrt(tape.sum(squares)), 1, EPS);
  });
}

/** SCAN t2i relevance weights of word w: softmax_r(lambda LeakyReLU(s_wr) / norm_r). */
function relevance(pair: TapePair, norms: Node[], w: number, lambda: number): Node[] {
  const { tape, s } = pair;
  return tape.softmax(s[w].map((x, r) => tape.div(tape.leakyRelu(x), norms[r])), lambda);
}

/** SCAN's cosine: x . c / max(||x|| ||c||, eps). */
function cosine(tape: Tape, x: Node[], c: Node[]): Node {
  return tape.div(tape.dot(x, c), tape.maxConst(tape.mul(tape.norm(x), tape.norm(c)), EPS));
}

/** NAAF's training path (spec 3.2): no intra-text propagation, the caption's own threshold. */
export const naafTrainTapeScore: TapeScore = (pair, o) => {
  const { tape, u, v, s } = pair;
  const threshold = o.threshold;
  const lambda = o.lambdaSoftmax;
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
};

function aggregate(tape: Tape, values: Node[], lse: boolean, lambdaLse: number): Node {
  if (!lse) return tape.affine(tape.sum(values), 1 / values.length);
  // As the original: log sum exp without max-subtraction.
  return tape.affine(tape.log(tape.sum(values.map((x) => tape.exp(tape.affine(x, lambdaLse))))), 1 / lambdaLse);
}

/** CHAN: each word's best region, then log sum exp(c / belta) (scale = 1 / belta) or the mean. */
export const chanTapeScore: TapeScore = ({ tape, s }, o) => {
  const scale = o.lambdaSoftmax;
  const best = s.map((row) => tape.max(row));
  if (!o.lse) return tape.affine(tape.sum(best), 1 / best.length);
  return tape.log(tape.sum(best.map((c) => tape.exp(tape.affine(c, scale)))));
};

/** SCAN t2i (spec 4): each word attends over the regions. */
export const scanT2iTapeScore: TapeScore = (pair, o) => {
  const { tape, u, v } = pair;
  const lambda = o.lambdaSoftmax;
  const norms = normsOverWords(pair);
  const perWord = u.map((word, w) => cosine(tape, word, tape.weightedRows(relevance(pair, norms, w, lambda), v)));
  return aggregate(tape, perWord, o.lse, o.lambdaLse);
};

/** SCAN i2t (spec 4): each region attends over the words. */
export const scanI2tTapeScore: TapeScore = (pair, o) => {
  const { tape, u, v, s } = pair;
  const lambda = o.lambdaSoftmax;
  // Per word, the norm over the regions (the query items here).
  const wordNorms = s.map((row) => {
    const squares = row.map((x) => { const y = tape.leakyRelu(x); return tape.mul(y, y); });
    return tape.affine(tape.sqrt(tape.sum(squares)), 1, EPS);
  });
  const perRegion = v.map((region, r) => {
    const weights = tape.softmax(s.map((row, w) => tape.div(tape.leakyRelu(row[r]), wordNorms[w])), lambda);
    return cosine(tape, region, tape.weightedRows(weights, u));
  });
  return aggregate(tape, perRegion, o.lse, o.lambdaLse);
};

