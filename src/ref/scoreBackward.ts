// Float64 reference of the score backward (src/ops/scoreBackward.ts): the gradients of
// sum_{n,m} gradScores[n, m] * score(n, m) with respect to the images and the captions, for
// every registered method's training path (NAAF's with per-caption thresholds, spec 3.2; SCAN
// t2i / i2t, spec 4; CHAN, whose lambdaSoftmax carries 1 / belta and lse the pooling). Each
// registry entry names its forward reference and its tape score (src/ref/tapeScores.ts): the
// scores are rebuilt on the autodiff tape in the direct formulation, so they check the kernels
// independently of the kernels' algebra.
import { methodOfBackward } from '../methods/index.js';
import type { BackwardMethod } from '../methods/types.js';
import { Node, Tape } from './autodiff.js';
import type { RefBatch } from './naaf.js';
import type { TapePair } from './tapeScores.js';

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

function lambdaLseOf(options: ScoreBackwardRefOptions): number {
  return options.lambdaLse ?? methodOfBackward(options.method).training.lambdaLse;
}

/** The per-caption thresholds where the method learns one (NAAF's training path), else zeros. */
function thresholdsOf(options: ScoreBackwardRefOptions, M: number): ArrayLike<number> {
  if (methodOfBackward(options.method).backwardTerms.input !== 'thresholds') return new Float64Array(M);
  const thresholds = options.thresholds;
  if (!thresholds || thresholds.length !== M) {
    throw new Error(`scoreBackwardRef: options.thresholds must hold M = ${M} values for '${options.method}', got ${thresholds?.length ?? 'none'}`);
  }
  return thresholds;
}

/** The forward scores [N, M] from the method's float64 reference of its training path. */
export function scoreForwardRef(batch: RefBatch, options: ScoreBackwardRefOptions): Float64Array {
  return methodOfBackward(options.method).trainingReference.similarity(batch, {
    thresholds: thresholdsOf(options, batch.M), lambdaSoftmax: options.lambdaSoftmax, lse: options.lse ?? true, lambdaLse: lambdaLseOf(options),
  });
}

/** Scores and gradients of sum_{n,m} gradScores[n * M + m] * score(n, m). */
export function scoreBackwardRef(batch: RefBatch, options: ScoreBackwardRefOptions, gradScores: ArrayLike<number>): ScoreBackwardRefResult {
  const { N, R, M, L, D } = batch;
  if (gradScores.length !== N * M) throw new Error(`scoreBackwardRef: gradScores must hold N * M = ${N * M} values, got ${gradScores.length}`);
  const thresholds = thresholdsOf(options, M);
  const lse = options.lse ?? true;
  const lambdaLse = lambdaLseOf(options);
  const tapeScore = methodOfBackward(options.method).trainingReference.tapeScore;
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
      const pair: TapePair = { tape, u, v, s };
      outputs.push(tapeScore(pair, { threshold: thresholds[m], lambdaSoftmax: options.lambdaSoftmax, lse, lambdaLse }));
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
