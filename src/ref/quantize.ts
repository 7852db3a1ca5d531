// Float reference of kernels/quantize_rows.wgsl: per-row symmetric int8 quantisation, with the
// kernel's float32 steps emulated by Math.fround so that q matches bit for bit where the GPU's
// division is correctly rounded (lavapipe); WGSL's round() is round-half-to-even. And float16
// rounding (ties to even), what the f16 path keeps of each value.

export interface QuantizedRows {
  q: Int8Array; // [rows, DP], zero-padded from D to DP
  scales: Float32Array; // [rows]: max|x| / 127
  dequantized: Float32Array; // [rows, D]: q * scale in float32
  packedRowBytes: number; // DP
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Quantises `rows` rows of length `dim` starting at row indices `sourceRows` (default 0..rows-1) of `data`. */
export function quantizeRowsRef(data: ArrayLike<number>, dim: number, sourceRows: ArrayLike<number>): QuantizedRows {
  const rows = sourceRows.length;
  const DP = Math.ceil(dim / 32) * 32;
  const q = new Int8Array(rows * DP);
  const scales = new Float32Array(rows);
  const dequantized = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) {
    const base = sourceRows[i] * dim;
    let maxAbs = 0;
    for (let d = 0; d < dim; d++) maxAbs = Math.max(maxAbs, Math.abs(Math.fround(data[base + d])));
    const scale = Math.fround(maxAbs / 127);
    const inv = maxAbs > 0 ? Math.fround(127 / maxAbs) : 0;
    scales[i] = scale;
    for (let d = 0; d < dim; d++) {
      const v = Math.min(127, Math.max(-127, roundHalfEven(Math.fround(Math.fround(data[base + d]) * inv))));
      q[i * DP + d] = v;
      dequantized[i * dim + d] = Math.fround(v * scale);
    }
  }
  return { q, scales, dequantized, packedRowBytes: DP };
}

/** A batch's images and captions replaced by their dequantised int8 versions (the int8 path's inputs). */
export function dequantizedBatch<T extends { images: Float32Array; captions: Float32Array; N: number; R: number; M: number; L: number; D: number; lengths: ArrayLike<number> }>(batch: T): T {
  const { N, R, M, L, D } = batch;
  const images = quantizeRowsRef(batch.images, D, Array.from({ length: N * R }, (_, i) => i)).dequantized;
  const rows: number[] = [];
  for (let m = 0; m < M; m++) for (let w = 0; w < batch.lengths[m]; w++) rows.push(m * L + w);
  const words = quantizeRowsRef(batch.captions, D, rows).dequantized;
  const captions = new Float32Array(M * L * D);
  rows.forEach((row, i) => captions.set(words.subarray(i * D, (i + 1) * D), row * D));
  return { ...batch, images, captions };
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** x (a float32) rounded to the nearest float16, ties to even, as a number; +-Infinity past 65504. */
export function f16round(x: number): number {
  f32Scratch[0] = x;
  const value = f32Scratch[0];
  const bits = u32Scratch[0];
  const exponent = (bits >>> 23) & 0xff;
  if (exponent === 0xff || value === 0) return value;
  if (exponent - 127 < -14) {
    // float16 subnormals: multiples of 2^-24
    const q = value * 2 ** 24;
    let r = Math.round(q);
    if (Math.abs(q % 1) === 0.5 && r % 2 !== 0) r -= 1;
    return r / 2 ** 24;
  }
  const lower = bits & 0x1fff;
  let upper = bits >>> 13;
  if (lower > 0x1000 || (lower === 0x1000 && (upper & 1))) upper += 1;
  u32Scratch[0] = upper << 13;
  const rounded = f32Scratch[0];
  return Math.abs(rounded) > 65504 ? Math.sign(rounded) * Infinity : rounded;
}

/** Every value of `data` rounded to float16. */
export function f16Rounded(data: ArrayLike<number>): Float32Array {
  return Float32Array.from(data as ArrayLike<number>, f16round);
}

/** A batch's images and captions rounded to float16 (the f16 path's inputs). */
export function f16RoundedBatch<T extends { images: Float32Array; captions: Float32Array }>(batch: T): T {
  return { ...batch, images: f16Rounded(batch.images), captions: f16Rounded(batch.captions) };
}
