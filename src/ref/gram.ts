// Float64 references of the Gram kernels (kernels/region_gram.wgsl, kernels/word_gram.wgsl).
import { dot, softmaxScaled } from './common.js';

/** G[n, r, q] = v_nr . v_nq, [N, R, R]. */
export function regionGramRef(images: ArrayLike<number>, N: number, R: number, D: number): Float64Array {
  const gram = new Float64Array(N * R * R);
  for (let n = 0; n < N; n++) {
    for (let r = 0; r < R; r++) {
      for (let q = 0; q < R; q++) gram[(n * R + r) * R + q] = dot(images, (n * R + r) * D, images, (n * R + q) * D, D);
    }
  }
  return gram;
}

/** W[m, w, v] = u_mw . u_mv over the caption's own words (0 elsewhere), [M, L, L]; with
 * `softmaxLambda`, each row w < len is softmax(lambda W[m, w, :len]). */
export function wordGramRef(captions: ArrayLike<number>, lengths: ArrayLike<number>, L: number, D: number, softmaxLambda?: number): Float64Array {
  const M = lengths.length;
  const out = new Float64Array(M * L * L);
  for (let m = 0; m < M; m++) {
    const len = lengths[m];
    for (let w = 0; w < len; w++) {
      const row = new Float64Array(len);
      for (let v = 0; v < len; v++) row[v] = dot(captions, (m * L + w) * D, captions, (m * L + v) * D, D);
      if (softmaxLambda !== undefined) softmaxScaled(row, softmaxLambda);
      out.set(row, (m * L + w) * L);
    }
  }
  return out;
}
