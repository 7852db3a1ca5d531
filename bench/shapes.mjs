// Benchmark shapes and their seeded inputs: lengths drawn like Flickr30K captions
// (8 + Poisson(6), clipped to [5, 60]), l2-normalised random embeddings.

export const SHAPES = {
  demo: { N: 32, M: 160, R: 36, D: 256 },
  quick: { N: 100, M: 500, R: 36, D: 256 },
  f30k: { N: 1000, M: 5000, R: 36, D: 1024 },
  coco5k: { N: 5000, M: 25000, R: 36, D: 1024 },
};

export function rng(seed) {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state / 4294967296;
  };
}

function poisson(next, mean) {
  // Knuth: fine for a mean of 6.
  const limit = Math.exp(-mean);
  let k = 0;
  let p = next();
  while (p > limit) { k++; p *= next(); }
  return k;
}

export function captionLengths(M, seed = 7) {
  const next = rng(seed);
  return Int32Array.from({ length: M }, () => Math.min(60, Math.max(5, 8 + poisson(next, 6))));
}

/** Unit rows with a shared direction, so cosines spread like real embeddings (mostly > 0). */
export function unitRows(rows, dim, seed) {
  const next = rng(seed);
  const shared = Float32Array.from({ length: dim }, () => next() - 0.5);
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) {
    let sq = 0;
    for (let d = 0; d < dim; d++) {
      const v = next() - 0.5 + 0.5 * shared[d];
      out[i * dim + d] = v;
      sq += v * v;
    }
    const scale = 1 / Math.sqrt(sq);
    for (let d = 0; d < dim; d++) out[i * dim + d] *= scale;
  }
  return out;
}

/** Caption rows [count, L, D] for captions m0.. (zero-padded), each caption seeded by its index. */
export function captionRows(m0, count, L, D, lengths) {
  const nextShared = rng(13); // the shared direction, drawn as unitRows draws it
  const shared = Float32Array.from({ length: D }, () => nextShared() - 0.5);
  const out = new Float32Array(count * L * D);
  for (let m = 0; m < count; m++) {
    const next = rng(1000003 * (m0 + m) + 13);
    for (let w = 0; w < lengths[m0 + m]; w++) {
      const base = (m * L + w) * D;
      let sq = 0;
      for (let d = 0; d < D; d++) {
        const v = next() - 0.5 + 0.5 * shared[d];
        out[base + d] = v;
        sq += v * v;
      }
      const scale = 1 / Math.sqrt(sq);
      for (let d = 0; d < D; d++) out[base + d] *= scale;
    }
  }
  return out;
}

/** Images [N, R, D], caption lengths and L; captions come from captions(m0, count) in chunks. */
export function makeInputs({ N, M, R, D }) {
  const lengths = captionLengths(M);
  const L = Math.max(...lengths);
  const images = unitRows(N * R, D, 11);
  return { images, lengths, L, captions: (m0 = 0, count = M) => captionRows(m0, count, L, D, lengths) };
}
