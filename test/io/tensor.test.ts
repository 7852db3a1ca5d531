import { describe, expect, it } from 'vitest';
import { decodeToFloat32, elementCount, halfToFloat } from '../../src/io/tensor.js';

/** `bytes` placed at byte offset `shift` of a larger buffer, to exercise unaligned reads. */
function at(bytes: Uint8Array, shift: number): Uint8Array {
  const buf = new Uint8Array(bytes.length + shift + 3);
  buf.set(bytes, shift);
  return buf.subarray(shift, shift + bytes.length);
}

describe('decodeToFloat32', () => {
  const cases: [Parameters<typeof decodeToFloat32>[1], Uint8Array, number[]][] = [
    ['f32', new Uint8Array(Float32Array.from([1.5, -2, 3e38]).buffer), [1.5, -2, 3e38]],
    ['f64', new Uint8Array(Float64Array.from([0.1, -1e300, 5]).buffer), [0.1, -Infinity, 5]],
    ['f16', new Uint8Array(Uint16Array.from([0x3c00, 0x8400, 0x7e00]).buffer), [1, -(2 ** -14), NaN]],
    ['bf16', new Uint8Array(Uint16Array.from([0x3f80, 0xbf00]).buffer), [1, -0.5]],
    ['i64', new Uint8Array(BigInt64Array.from([-3n, 2n ** 40n]).buffer), [-3, 2 ** 40]],
    ['i32', new Uint8Array(Int32Array.from([-7, 9]).buffer), [-7, 9]],
    ['bool', Uint8Array.from([0, 1, 2]), [0, 1, 1]],
  ];
  for (const [dtype, bytes, expected] of cases) {
    it(`${dtype}, aligned and unaligned, into a fresh array`, () => {
      for (const shift of [0, 1, 3]) {
        const src = at(bytes, shift);
        const out = decodeToFloat32(src, dtype, expected.length, 'x');
        expect(out).toEqual(Float32Array.from(expected.map((v) => Math.fround(v))));
        expect(out.buffer).not.toBe(src.buffer);
      }
    });
  }

  it('refuses too few bytes and bad shapes', () => {
    expect(() => decodeToFloat32(new Uint8Array(7), 'f32', 2, 'w.bin')).toThrow(/^w\.bin: expected 8 bytes for 2 f32 elements, found 7/);
    expect(() => elementCount([2, -1], 't')).toThrow(/not a non-negative integer/);
    expect(() => elementCount([2 ** 30, 2 ** 30, 2 ** 30], 't')).toThrow(/more elements than 2\^53/);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
  });
});
