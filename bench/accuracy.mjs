// Accuracy of a lower-precision similarity matrix or top-k against the f32 one: max abs error
// and the share of queries whose top-10 ranking (ordered indices) is unchanged.

function topK(values, count, stride, offset, k) {
  const best = [];
  for (let i = 0; i < count; i++) {
    const v = values[offset + i * stride];
    if (best.length < k || v > best[best.length - 1][0]) {
      let j = best.length < k ? best.length : k - 1;
      if (best.length < k) best.push(null);
      while (j > 0 && best[j - 1][0] < v) { best[j] = best[j - 1]; j--; }
      best[j] = [v, i];
    }
  }
  return best.map((e) => e[1]);
}

/** sims are [N, M] image-major. t2i queries are captions (rank images), i2t queries are images. */
export function compareRankings(reference, candidate, N, M, k = 10) {
  let maxAbs = 0;
  for (let i = 0; i < reference.length; i++) maxAbs = Math.max(maxAbs, Math.abs(reference[i] - candidate[i]));
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  let t2i = 0;
  for (let m = 0; m < M; m++) if (same(topK(reference, N, M, m, k), topK(candidate, N, M, m, k))) t2i++;
  let i2t = 0;
  for (let n = 0; n < N; n++) if (same(topK(reference, M, 1, n * M, k), topK(candidate, M, 1, n * M, k))) i2t++;
  return { maxAbs, t2iUnchanged: t2i / M, i2tUnchanged: i2t / N };
}

/** The share of queries whose ordered top-k indices agree between two engine.topK results. */
export function sameTopK(reference, candidate, k) {
  const queries = reference.indices.length / k;
  let same = 0;
  for (let q = 0; q < queries; q++) {
    let equal = true;
    for (let i = 0; i < k; i++) equal &&= reference.indices[q * k + i] === candidate.indices[q * k + i];
    if (equal) same++;
  }
  return same / queries;
}
