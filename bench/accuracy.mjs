// Accuracy of a lower-precision similarity matrix against the f32 one: max abs error and the
// share of queries whose top-10 ranking (ordered indices) is unchanged, both directions.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** x rounded to the nearest float16 (ties to even), as a number: what f16 storage keeps. */
export function f16round(x) {
  f32[0] = x;
  const bits = u32[0];
  const exponent = (bits >>> 23) & 0xff;
  if (exponent === 0xff || x === 0) return x;
  if (exponent - 127 < -14) {
    // float16 subnormals: multiples of 2^-24
    const q = x * 2 ** 24;
    let r = Math.round(q);
    if (Math.abs(q % 1) === 0.5 && r % 2 !== 0) r -= 1;
    return r / 2 ** 24;
  }
  const lower = bits & 0x1fff;
  let upper = bits >>> 13;
  if (lower > 0x1000 || (lower === 0x1000 && (upper & 1))) upper += 1;
  u32[0] = upper << 13;
  return f32[0];
}

export function f16Rounded(data) {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = f16round(data[i]);
  return out;
}

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
