import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { ascii, concat, f32Bytes, f64Bytes } from './builders.js';

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

/** A file with a hand-written header (padded to 8 like the reference) and raw data. */
function file(header: object | string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  let json = typeof header === 'string' ? header : JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  return concat([u64(json.length), ascii(json), data]);
}

const f32 = (xs: number[]) => Float32Array.from(xs);

describe('writeSafetensors', () => {
  // Expected bytes are the ones asserted by huggingface/safetensors' own tests (tensor.rs).
  it('matches the reference serializer byte for byte', () => {
    const data = f32([0, 1, 2, 3, 4, 5]);
    expect(writeSafetensors({ 'attn.0': { shape: [1, 2, 3], data } }))
      .toEqual(concat([u64(64), ascii('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'), f32Bytes([0, 1, 2, 3, 4, 5])]));
    expect(writeSafetensors({ attn0: { shape: [1, 1, 2, 3], data } }))
      .toEqual(concat([u64(72), ascii('{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       '), f32Bytes([0, 1, 2, 3, 4, 5])]));
    expect(writeSafetensors({})).toEqual(concat([u64(8), ascii('{}      ')]));
    expect(writeSafetensors({}, { framework: 'pt' })).toEqual(concat([u64(40), ascii('{"__metadata__":{"framework":"pt"}}     ')]));
  });

  it('sorts tensors by name (integer-like names too) and aligns the data to 8 bytes', () => {
    const out = writeSafetensors({ b: { shape: [1], data: f32([2]) }, '10': { shape: [1], data: f32([10]) }, '9': { shape: [1], data: f32([9]) }, a: { shape: [2], data: f32([0, 1]) } });
    const n = Number(new DataView(out.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = new TextDecoder().decode(out.subarray(8, 8 + n));
    expect(header.trimEnd()).toBe('{"10":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"9":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},'
      + '"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"b":{"dtype":"F32","shape":[1],"data_offsets":[16,20]}}');
  });

  it('refuses data that does not match its shape', () => {
    expect(() => writeSafetensors({ w: { shape: [2, 2], data: f32([1, 2, 3]) } })).toThrow(/tensor 'w' has shape \[2,2\] \(4 elements\) but 3 values/);
    expect(() => writeSafetensors({ __metadata__: { shape: [], data: f32([1]) } })).toThrow(/reserved/);
  });
});

describe('readSafetensors', () => {
  it('round-trips tensors and metadata, including empty and scalar tensors', () => {
    const tensors = {
      'img.fc.weight': { shape: [3, 2], data: f32([1, -2, 3.5, 4, 5, 6]) },
      'img.fc.bias': { shape: [3], data: f32([0.25, 0, -0]) },
      empty: { shape: [0, 4], data: f32([]) },
      scalar: { shape: [], data: f32([7]) },
    };
    const back = readSafetensors(writeSafetensors(tensors, { format: 'pt', threshold: '0.2015' }));
    expect(back.tensors).toEqual(tensors);
    expect(back.metadata).toEqual({ format: 'pt', threshold: '0.2015' });
  });

  it('converts F64, F16 and BF16 to float32', () => {
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0x0001, 0xfc00]).buffer); // 1, smallest subnormal, -inf
    const bf16 = new Uint8Array(new Uint16Array([0x4049, 0x8000]).buffer); // 3.140625, -0
    const bytes = file({
      d: { dtype: 'F64', shape: [2], data_offsets: [0, 16] },
      h: { dtype: 'F16', shape: [3], data_offsets: [16, 22] },
      b: { dtype: 'BF16', shape: [2], data_offsets: [22, 26] },
    }, concat([f64Bytes([1 / 3, 1e-50]), f16, bf16]));
    const { tensors, metadata } = readSafetensors(bytes);
    expect(metadata).toEqual({});
    expect(tensors.d!.data).toEqual(f32([1 / 3, 0]));
    expect(tensors.h!.data).toEqual(f32([1, 2 ** -24, -Infinity]));
    expect(tensors.b!.data).toEqual(f32([3.140625, -0]));
    expect(Object.is(tensors.b!.data[1], -0)).toBe(true);
  });

  it('refuses unsupported dtypes by name', () => {
    const bytes = file({ ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8));
    expect(() => readSafetensors(bytes, 'ids.safetensors')).toThrow(/^ids\.safetensors: tensor 'ids' has dtype I64, which is not supported \(supported: F32, F64, F16, BF16\)/);
    expect(() => readSafetensors(file({ x: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)))).toThrow(/tensor 'x': unknown dtype "Q4"/);
  });

  it('refuses corrupt headers', () => {
    expect(() => readSafetensors(new Uint8Array(5))).toThrow(/5 bytes is too short/);
    expect(() => readSafetensors(concat([u64(2 ** 40), ascii('{}')]))).toThrow(/header length 1099511627776 exceeds the 100000000-byte limit/);
    expect(() => readSafetensors(concat([u64(100), ascii('{}')]))).toThrow(/header length 100 runs past the end of the 10-byte file/);
    expect(() => readSafetensors(file('{"a": '))).toThrow(/header is not valid UTF-8 JSON/);
    expect(() => readSafetensors(file('[1, 2]'))).toThrow(/header must be a JSON object/);
    expect(() => readSafetensors(file({ __metadata__: { n: 1 } }))).toThrow(/__metadata__\['n'\] must be a string, found number/);
    expect(() => readSafetensors(file({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)))).toThrow(/shape must be an array of non-negative integers/);
  });

  it('refuses offsets outside the file, gaps, overlaps and size mismatches', () => {
    const data = new Uint8Array(16);
    expect(() => readSafetensors(file({ w: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }, data)))
      .toThrow(/tensor 'w' ends at data offset 32, past the 16 data bytes/);
    expect(() => readSafetensors(file({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, data)))
      .toThrow(/tensor 'w' has data_offsets \[8, 16\], expected to start at 0/);
    expect(() => readSafetensors(file({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, data)))
      .toThrow(/tensor 'b' has data_offsets \[8, 16\], expected to start at 12/);
    expect(() => readSafetensors(file({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, data)))
      .toThrow(/tensor 'w' \(F32, shape \[3\]\) needs 12 bytes, data_offsets span 16/);
    expect(() => readSafetensors(file({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, data)))
      .toThrow(/tensors cover 8 data bytes but the file has 16/);
    expect(() => readSafetensors(file({ w: { dtype: 'F32', shape: [2], data_offsets: [0] } }, data)))
      .toThrow(/data_offsets must be \[begin, end\]/);
  });
});
