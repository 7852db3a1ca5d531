// The tensor type every reader in src/io returns, and the element decoders they share.
// Everything is widened or narrowed to float32 because that is what the GPU kernels consume.

/** A dense row-major (C order) float32 tensor. A scalar has shape [] and one element. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** Element types the readers can turn into float32. */
export type SourceDtype = 'f16' | 'bf16' | 'f32' | 'f64' | 'i8' | 'u8' | 'i16' | 'i32' | 'i64' | 'bool';

export const DTYPE_BYTES: Readonly<Record<SourceDtype, number>> = {
  f16: 2, bf16: 2, f32: 4, f64: 8, i8: 1, u8: 1, i16: 2, i32: 4, i64: 8, bool: 1,
};

/** Product of a shape, checked to stay a safe integer (a corrupt header must not wrap around). */
export function elementCount(shape: readonly number[], what: string): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new Error(`${what}: shape ${JSON.stringify(shape)} has a dimension that is not a non-negative integer (${String(d)})`);
    n *= d;
    if (!Number.isSafeInteger(n)) throw new Error(`${what}: shape ${JSON.stringify(shape)} has more elements than 2^53`);
  }
  return n;
}

/** IEEE half -> float (exact: every half is representable in float32). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // subnormal or zero
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Decodes `count` little-endian elements of `dtype` starting at `bytes[0]` into float32.
 * Works for any byte alignment, so callers can pass zip or file slices directly; always returns a new array.
 * Integers wider than 24 bits lose precision in float32; that is the documented trade-off.
 */
export function decodeToFloat32(bytes: Uint8Array, dtype: SourceDtype, count: number, what: string): Float32Array {
  const size = DTYPE_BYTES[dtype];
  if (bytes.byteLength < count * size) {
    throw new Error(`${what}: expected ${count * size} bytes for ${count} ${dtype} elements, found ${bytes.byteLength}`);
  }
  // Fast paths: float32 / float64 are a copy (the host is little-endian on every platform WebGPU
  // runs on); an unaligned source is copied to a fresh buffer first, still far faster than a DataView loop.
  if (dtype === 'f32') {
    if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count).slice();
    return new Float32Array(bytes.slice(0, 4 * count).buffer);
  }
  if (dtype === 'f64') {
    const src = bytes.byteOffset % 8 === 0 ? new Float64Array(bytes.buffer, bytes.byteOffset, count) : new Float64Array(bytes.slice(0, 8 * count).buffer);
    const out = new Float32Array(count);
    out.set(src); // converts with round-to-nearest
    return out;
  }
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, count * size);
  switch (dtype) {
    case 'f16': for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true)); break;
    case 'bf16': {
      // bfloat16 is the top half of a float32.
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      break;
    }
    case 'i8': for (let i = 0; i < count; i++) out[i] = view.getInt8(i); break;
    case 'u8': for (let i = 0; i < count; i++) out[i] = view.getUint8(i); break;
    case 'bool': for (let i = 0; i < count; i++) out[i] = view.getUint8(i) ? 1 : 0; break;
    case 'i16': for (let i = 0; i < count; i++) out[i] = view.getInt16(2 * i, true); break;
    case 'i32': for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true); break;
    case 'i64': for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(8 * i, true)); break;
  }
  return out;
}
