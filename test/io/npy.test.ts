import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNpy, NpyReader, parseNpy, parseNpyHeader } from '../../src/io/npy.js';
import { ascii, concat, f32Bytes, f64Bytes, hexBytes } from './builders.js';

// numpy.lib.format.write_array(f, a, version=...) output, made once with numpy 2.4:
//   v2: np.array([[1.5, -2.25], [3.0, 1e300]], dtype=np.float64), version (2, 0)
//   v3: np.array([0.5, -1.0, 2.0], dtype=np.float32), version (3, 0)
const NUMPY_V2_F8 = '934e554d50590200740000007b276465736372273a20273c6638272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c2032292c207d20202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a000000000000f83f00000000000002c000000000000008409c7500883ce4377e';
const NUMPY_V3_F4 = '934e554d50590300740000007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028332c292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0000003f000080bf00000040';

/** Any .npy: the header is padded to 64 like numpy's, but descr / order / version are free. */
function npy(descr: string, shape: number[], data: Uint8Array, options: { version?: number; fortran?: boolean; dictText?: string } = {}): Uint8Array {
  const version = options.version ?? 1;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = options.dictText ?? `{'descr': '${descr}', 'fortran_order': ${options.fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const body = new TextEncoder().encode(dict);
  const pre = version === 1 ? 10 : 12;
  const total = Math.ceil((pre + body.length + 1) / 64) * 64 - pre;
  const head = new Uint8Array(pre + total).fill(0x20);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  if (version === 1) new DataView(head.buffer).setUint16(8, total, true);
  else new DataView(head.buffer).setUint32(8, total, true);
  head.set(body, pre);
  head[pre + total - 1] = 0x0a;
  return concat([head, data]);
}

const f32 = (xs: number[]) => Float32Array.from(xs);

describe('encodeNpy', () => {
  it('writes what numpy.save writes for float32 arrays', () => {
    // Header text and length from numpy.save(np.arange(6, dtype=np.float32).reshape(2, 3)).
    const out = encodeNpy(f32([0, 1, 2, 3, 4, 5]), [2, 3]);
    const header = `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`;
    expect(out.length).toBe(128 + 24);
    expect(new TextDecoder('latin1').decode(out.subarray(0, 128))).toBe(`\x93NUMPY\x01\x00v\x00${header}${' '.repeat(117 - header.length)}\n`);
    expect(out.subarray(128)).toEqual(f32Bytes([0, 1, 2, 3, 4, 5]));
    // numpy pads by a full 64 bytes when the header would already be aligned (checked against numpy).
    expect(encodeNpy(new Float32Array(100), [...Array(13).fill(1), 100]).length).toBe(10 + 182 + 400);
  });

  it('round-trips through parseNpy, including 0-d and empty arrays', () => {
    for (const [shape, data] of [[[2, 3], f32([0, 1, 2, 3, 4, 5])], [[4], f32([1, 2, 3, 4])], [[], f32([7])], [[0, 5], f32([])]] as const) {
      expect(parseNpy(encodeNpy(data, shape))).toEqual({ shape, data });
    }
    expect(() => encodeNpy(f32([1, 2]), [3])).toThrow(/shape \(3\) has 3 elements but data has 2/);
  });
});

describe('parseNpy', () => {
  it('reads numpy-written version 2.0 (float64) and 3.0 (float32) files', () => {
    expect(parseNpy(hexBytes(NUMPY_V2_F8))).toEqual({ shape: [2, 2], data: f32([1.5, -2.25, 3, Infinity]) });
    expect(parseNpyHeader(hexBytes(NUMPY_V2_F8))).toMatchObject({ version: [2, 0], dtype: 'f8', dataOffset: 128, count: 4 });
    expect(parseNpy(hexBytes(NUMPY_V3_F4))).toEqual({ shape: [3], data: f32([0.5, -1, 2]) });
  });

  it('reads a version 3.0 header with utf-8 text, and native byte order', () => {
    const v3 = npy('<f8', [2], f64Bytes([0.1, 0.2]), { version: 3, dictText: "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'note': 'é世', }" });
    expect(parseNpy(v3)).toEqual({ shape: [2], data: f32([0.1, 0.2]) });
    expect(parseNpy(npy('=f4', [1, 2], f32Bytes([3, 4])))).toEqual({ shape: [1, 2], data: f32([3, 4]) });
  });

  it('accepts Fortran order only when it is the same layout as C order', () => {
    expect(parseNpy(npy('<f4', [3, 1], f32Bytes([1, 2, 3]), { fortran: true }))).toEqual({ shape: [3, 1], data: f32([1, 2, 3]) });
    expect(() => parseNpy(npy('<f4', [2, 3], f32Bytes([1, 2, 3, 4, 5, 6]), { fortran: true }), 'feats.npy'))
      .toThrow(/^feats\.npy: \.npy array of shape \(2, 3\) is in Fortran order, which is not supported \(supported: '<f4' and '<f8'/);
  });

  it('refuses other dtypes, naming the file, the dtype and what is supported', () => {
    for (const descr of ['<i8', '>f4', '<f2', '|u1', '|f4']) {
      expect(() => parseNpy(npy(descr, [1], new Uint8Array(8)), 'caps.npy'))
        .toThrow(new RegExp(`^caps\\.npy: \\.npy dtype '\\${descr[0]}${descr.slice(1)}' is not supported \\(supported: '<f4' and '<f8'`));
    }
    expect(() => parseNpy(npy('', [1], new Uint8Array(4), { dictText: "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,), }" })))
      .toThrow(/structured dtype/);
  });

  it('reports truncated data, bad magic, bad versions and bad headers', () => {
    expect(() => parseNpy(npy('<f4', [2, 3], f32Bytes([1, 2, 3, 4, 5])), 'x.npy')).toThrow(/^x\.npy: truncated \.npy data: shape \(2, 3\) of f4 needs 24 bytes, found 20/);
    expect(() => parseNpy(ascii('PK\x03\x04 not numpy at all'), 'x.npy')).toThrow(/^x\.npy: not an \.npy file: expected magic 93 4e 55 4d 50 59/);
    const v9 = npy('<f4', [1], f32Bytes([1]));
    v9[6] = 9;
    expect(() => parseNpy(v9)).toThrow(/unsupported \.npy format version 9\.0/);
    const huge = npy('<f4', [1], f32Bytes([1]), { version: 2 });
    new DataView(huge.buffer).setUint32(8, 2 ** 31, true);
    expect(() => parseNpy(huge)).toThrow(/header length 2147483648 exceeds 1048576 bytes/);
    expect(() => parseNpy(npy('<f4', [1], f32Bytes([1])).subarray(0, 40))).toThrow(/truncated \.npy header: needs 128 bytes, found 40/);
    expect(() => parseNpy(npy('', [], new Uint8Array(0), { dictText: "{'descr': '<f4', 'shape': (2,) " }))).toThrow(/not a valid dict literal/);
    expect(() => parseNpy(npy('', [], new Uint8Array(0), { dictText: "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }" }))).toThrow(/'shape' must be a tuple of non-negative integers/);
  });
});

describe('NpyReader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'naaf-npy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const data = Float32Array.from({ length: 10 * 3 * 2 }, (_, i) => i * 0.5 - 7);

  it('reads rows at offsets that match parseNpy', async () => {
    const path = join(dir, 'feats.npy');
    const bytes = encodeNpy(data, [10, 3, 2]);
    writeFileSync(path, bytes);
    const reader = await NpyReader.open(path);
    try {
      expect(reader.shape).toEqual([10, 3, 2]);
      expect(reader.dtype).toBe('f4');
      expect(reader.rows).toBe(10);
      expect(reader.rowSize).toBe(6);
      const whole = parseNpy(bytes).data;
      expect(await reader.readRows(0, 10)).toEqual(whole);
      expect(await reader.readRows(3, 4)).toEqual(whole.subarray(18, 42));
      expect(await reader.readRows(9, 1)).toEqual(whole.subarray(54));
      expect(await reader.readRows(10, 0)).toEqual(new Float32Array(0));
      await expect(reader.readRows(8, 3)).rejects.toThrow(/feats\.npy: readRows\(8, 3\) is outside rows \[0, 10\)/);
    } finally {
      await reader.close();
    }
    await reader.close(); // idempotent
    await expect(reader.readRows(0, 1)).rejects.toThrow(/readRows after close/);
  });

  it('converts float64 rows and reads numpy version 2.0 files', async () => {
    const path = join(dir, 'v2.npy');
    writeFileSync(path, hexBytes(NUMPY_V2_F8));
    const reader = await NpyReader.open(path);
    expect(reader.dtype).toBe('f8');
    expect(await reader.readRows(1, 1)).toEqual(f32([3, Infinity]));
    await reader.close();
  });

  it('refuses truncated files and unsupported dtypes when opening, naming the path', async () => {
    const short = join(dir, 'short.npy');
    writeFileSync(short, encodeNpy(data, [10, 3, 2]).subarray(0, 128 + 100));
    await expect(NpyReader.open(short)).rejects.toThrow(/short\.npy: truncated \.npy data: shape \(10, 3, 2\) of f4 needs 240 bytes, found 100/);
    const ints = join(dir, 'ints.npy');
    writeFileSync(ints, npy('<i8', [2], new Uint8Array(16)));
    await expect(NpyReader.open(ints)).rejects.toThrow(/ints\.npy: \.npy dtype '<i8' is not supported/);
    const tiny = join(dir, 'tiny.npy');
    writeFileSync(tiny, ascii('\x93NUM'));
    await expect(NpyReader.open(tiny)).rejects.toThrow(/tiny\.npy: not an \.npy file/);
    await expect(NpyReader.open(join(dir, 'missing.npy'))).rejects.toThrow(/ENOENT/);
  });

  it('refuses bytes after the data (the header does not describe the file), opened or parsed', async () => {
    const long = join(dir, 'long.npy');
    const bytes = concat([encodeNpy(data, [10, 3, 2]), new Uint8Array(8)]);
    writeFileSync(long, bytes);
    await expect(NpyReader.open(long)).rejects.toThrow(/long\.npy: 8 bytes after the \.npy data: shape \(10, 3, 2\) of f4 is 240 bytes, the file holds 248/);
    expect(() => parseNpy(bytes, 'x.npy')).toThrow(/^x\.npy: 8 bytes after the \.npy data/);
  });
});
