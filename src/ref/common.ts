// Float64 building blocks shared by the references. Deliberately the direct, slow
// formulation (explicit context vectors, no Gram trick) so they check the kernels
// independently of the kernels' algebra.

export type Vec = ArrayLike<number>;

export const EPS = 1e-8;
export const LEAKY_SLOPE = 0.1;

export function leakyRelu(x: number): number {
  return x > 0 ? x : LEAKY_SLOPE * x;
}

export function dot(a: Vec, aOffset: number, b: Vec, bOffset: number, length: number): number {
  let sum = 0;
  for (let k = 0; k < length; k++) sum += a[aOffset + k] * b[bOffset + k];
  return sum;
}

/** s[w * R + r] = u_w . v_r for the first `words` rows of caption m against image n. */
export function wordRegionSims(
  images: Vec, n: number, regions: number,
  captions: Vec, m: number, maxWords: number, words: number, dim: number,
): Float64Array {
  const s = new Float64Array(words * regions);
  for (let w = 0; w < words; w++) {
    for (let r = 0; r < regions; r++) {
      s[w * regions + r] = dot(captions, (m * maxWords + w) * dim, images, (n * regions + r) * dim, dim);
    }
  }
  return s;
}

/** In-place softmax of `values` scaled by `scale` (max-subtracted, as torch does). */
export function softmaxScaled(values: Float64Array, scale: number): Float64Array {
  let max = -Infinity;
  for (const v of values) max = Math.max(max, scale * v);
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    values[i] = Math.exp(scale * values[i] - max);
    sum += values[i];
  }
  for (let i = 0; i < values.length; i++) values[i] /= sum;
  return values;
}

/** sum_i weights[i] * rows[(rowOffset + i) * dim ...]: an explicit attended context vector. */
export function weightedRows(weights: Vec, rows: Vec, rowOffset: number, dim: number): Float64Array {
  const out = new Float64Array(dim);
  for (let i = 0; i < weights.length; i++) {
    const base = (rowOffset + i) * dim;
    for (let k = 0; k < dim; k++) out[k] += weights[i] * rows[base + k];
  }
  return out;
}

export function norm(v: Vec, offset = 0, length = v.length): number {
  return Math.sqrt(dot(v, offset, v, offset, length));
}
