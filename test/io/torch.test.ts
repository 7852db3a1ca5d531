import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadTorchCheckpoint } from '../../src/io/torch.js';
import { readZip } from '../../src/io/zip.js';
import { ascii, checkpointPickle, f32Bytes, f64Bytes, makeZip, PickleBuilder, emitTensor, torchZip } from './builders.js';

const fixture = new Uint8Array(readFileSync(new URL('../fixtures/checkpoints/naaf_basic_tiny.pth.tar', import.meta.url)));
const f32 = (xs: number[]) => Float32Array.from(xs);

describe('loadTorchCheckpoint on the NAAF tiny checkpoint', () => {
  it('reads epoch, best_rsum, Eiters and the argparse options', async () => {
    const ckpt = await loadTorchCheckpoint(fixture);
    expect(ckpt.epoch).toBe(16);
    expect(ckpt.eiters).toBe(3616);
    expect(ckpt.bestRsum).toBeCloseTo(507.9, 10);
    expect(ckpt.opt.thres_safe).toBe(0.2015);
    expect(ckpt.opt.lambda_softmax).toBe(20);
    expect(ckpt.opt.embed_size).toBe(32);
    expect(ckpt.opt.precomp_enc_type).toBe('basic');
    expect(ckpt.opt.using_intra_info).toBe(true);
    expect(ckpt.opt.no_imgnorm).toBe(false);
  });

  it('reads both state dicts with their shapes, key order and values', async () => {
    const [img, txt] = (await loadTorchCheckpoint(fixture)).model;
    expect(Object.keys(img!)).toEqual(['fc.weight', 'fc.bias']);
    expect(Object.keys(txt!)).toEqual([
      'embed.weight', 'rnn.weight_ih_l0', 'rnn.weight_hh_l0', 'rnn.bias_ih_l0', 'rnn.bias_hh_l0',
      'rnn.weight_ih_l0_reverse', 'rnn.weight_hh_l0_reverse', 'rnn.bias_ih_l0_reverse', 'rnn.bias_hh_l0_reverse',
    ]);
    expect(img!['fc.weight']!.shape).toEqual([32, 64]);
    expect(img!['fc.bias']!.shape).toEqual([32]);
    expect(txt!['embed.weight']!.shape).toEqual([40, 16]);
    expect(txt!['rnn.weight_ih_l0']!.shape).toEqual([96, 16]);
    expect(txt!['rnn.weight_hh_l0']!.shape).toEqual([96, 32]);
    for (const sd of [img!, txt!]) for (const t of Object.values(sd)) expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
    // Values read with Python's struct module from the archive's raw storages.
    const w = img!['fc.weight']!.data;
    expect([...w.subarray(0, 4)]).toEqual([...f32([0.22176624834537506, -0.0702894851565361, 0.14240270853042603, 0.04563909396529198])]);
    expect(w[w.length - 1]).toBe(Math.fround(-0.2491113692522049));
    expect(img!['fc.bias']!.data[0]).toBe(Math.fround(0.026367953047156334));
    expect(txt!['embed.weight']!.data[1]).toBe(Math.fround(-0.03210369870066643));
    expect(txt!['rnn.bias_hh_l0_reverse']!.data[95]).toBe(Math.fround(0.029978666454553604));
  });

  it('gives clear errors for a truncated or corrupted copy', async () => {
    await expect(loadTorchCheckpoint(fixture.subarray(0, 40000), { label: 'tiny.pth.tar' })).rejects.toThrow(/^tiny\.pth\.tar: no end-of-central-directory record/);
    const flipped = fixture.slice();
    const pkl = readZip(fixture).get('naaf_basic_tiny.pth/data.pkl')!;
    flipped[pkl.headerOffset + 30 + 'naaf_basic_tiny.pth/data.pkl'.length + 100] ^= 0xff;
    await expect(loadTorchCheckpoint(flipped)).rejects.toThrow(/entry 'naaf_basic_tiny.pth\/data.pkl': CRC-32 mismatch/);
    const storage = readZip(fixture).get('naaf_basic_tiny.pth/data/4')!;
    const flipped2 = fixture.slice();
    flipped2[storage.headerOffset] ^= 0xff;
    await expect(loadTorchCheckpoint(flipped2)).rejects.toThrow(/entry 'naaf_basic_tiny.pth\/data\/4': bad local header signature/);
  });
});

describe('loadTorchCheckpoint on built checkpoints', () => {
  const storage0 = f32Bytes([0, 1, 2, 3, 4, 5]);

  it('materialises non-contiguous strides and storage offsets in C order', async () => {
    const pkl = checkpointPickle([{
      t: { storage: '0', numel: 6, size: [3, 2], stride: [1, 3] }, // the transpose of a 2x3 matrix
      tail: { storage: '0', numel: 6, offset: 2, size: [2, 2], stride: [2, 1] }, // rows of the same storage
      col: { storage: '0', numel: 6, offset: 1, size: [2], stride: [3] },
      scalar: { storage: '0', numel: 6, offset: 5, size: [], stride: [] },
      bcast: { storage: '0', numel: 6, offset: 3, size: [2, 3], stride: [0, 1] }, // an expanded (stride 0) view
    }], { lr: 0.5 });
    const [sd] = (await loadTorchCheckpoint(torchZip(pkl, { '0': storage0 }))).model;
    expect(sd!.t).toEqual({ shape: [3, 2], data: f32([0, 3, 1, 4, 2, 5]) });
    expect(sd!.tail).toEqual({ shape: [2, 2], data: f32([2, 3, 4, 5]) });
    expect(sd!.col).toEqual({ shape: [2], data: f32([1, 4]) });
    expect(sd!.scalar).toEqual({ shape: [], data: f32([5]) });
    expect(sd!.bcast).toEqual({ shape: [2, 3], data: f32([3, 4, 5, 3, 4, 5]) });
    // Tensors sharing a storage must not share (and so alias) their arrays.
    expect(sd!.t!.data.buffer).not.toBe(sd!.tail!.data.buffer);
  });

  it('converts float64, float16, bfloat16 and int64 storages to float32', async () => {
    const half = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3555, 0x7c00]).buffer); // 1, -2, 0.333..., inf
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc0a0]).buffer); // 1, -5
    const i64 = new Uint8Array(new BigInt64Array([123n, -4n]).buffer);
    const pkl = checkpointPickle([{
      d: { storage: 'd', type: 'DoubleStorage', numel: 3, size: [3], stride: [1] },
      h: { storage: 'h', type: 'HalfStorage', numel: 4, size: [2, 2], stride: [1, 2] },
      b: { storage: 'b', type: 'BFloat16Storage', numel: 2, size: [2], stride: [1] },
      n: { storage: 'n', type: 'LongStorage', numel: 2, size: [], stride: [], offset: 0 },
    }], {});
    const [sd] = (await loadTorchCheckpoint(torchZip(pkl, { d: f64Bytes([0.1, -1e300, 2.5]), h: half, b: bf16, n: i64 }))).model;
    expect(sd!.d!.data).toEqual(f32([0.1, -Infinity, 2.5]));
    expect(sd!.h!.data).toEqual(f32([1, 0.333251953125, -2, Infinity]));
    expect(sd!.b!.data).toEqual(f32([1, -5]));
    expect(sd!.n!.data).toEqual(f32([123]));
  });

  it('unwraps nn.Parameter, reads deflated and zip64 archives and any root folder name', async () => {
    const pkl = checkpointPickle([{ w: { storage: '7', numel: 6, size: [2, 3], stride: [3, 1], parameter: true } }], { name: 'run' });
    for (const options of [{ deflate: true }, { zip64: true }, { root: 'naaf_model_best.pth' }]) {
      const ckpt = await loadTorchCheckpoint(torchZip(pkl, { '7': storage0 }, options));
      expect(ckpt.model[0]!.w).toEqual({ shape: [2, 3], data: f32([0, 1, 2, 3, 4, 5]) });
      expect(ckpt.opt).toEqual({ name: 'run' });
      expect([ckpt.epoch, ckpt.bestRsum, ckpt.eiters]).toEqual([3, 12.5, 77]);
    }
  });

  it('reads a bare state dict as a single model entry', async () => {
    const p = new PickleBuilder().proto(2).global('collections', 'OrderedDict').emptyTuple().reduce().mark();
    emitTensor(p.str('fc.weight'), { storage: '0', numel: 6, size: [6], stride: [1] });
    const ckpt = await loadTorchCheckpoint(torchZip(p.setitems().stop().bytes(), { '0': storage0 }, { byteorder: 'little' }));
    expect(ckpt.model).toEqual([{ 'fc.weight': { shape: [6], data: f32([0, 1, 2, 3, 4, 5]) } }]);
    expect(ckpt.opt).toEqual({});
    expect(ckpt.epoch).toBeUndefined();
  });

  it('refuses a foreign global hidden in the options', async () => {
    const pkl = checkpointPickle([{}], {}, (p) => p.str('hook').global('os', 'system').str('echo pwned').tupleN(1).reduce());
    await expect(loadTorchCheckpoint(torchZip(pkl, {}))).rejects.toThrow(/refusing global 'os\.system'/);
  });

  it('explains structural problems', async () => {
    const base = (t: Parameters<typeof emitTensor>[1]) => checkpointPickle([{ w: t }], {});
    await expect(loadTorchCheckpoint(torchZip(base({ storage: '0', numel: 6, size: [3, 3], stride: [3, 1] }), { '0': storage0 })))
      .rejects.toThrow(/size \[3,3\], stride \[3,1\], offset 0 reach element 8, but the storage holds 6/);
    await expect(loadTorchCheckpoint(torchZip(base({ storage: '9', numel: 6, size: [6], stride: [1] }), { '0': storage0 })))
      .rejects.toThrow(/storage '9' is referenced but entry 'archive\/data\/9' is missing/);
    await expect(loadTorchCheckpoint(torchZip(base({ storage: '0', numel: 8, size: [8], stride: [1] }), { '0': storage0 })))
      .rejects.toThrow(/entry 'archive\/data\/0' holds 24 bytes, the 8-element f32 storage needs 32/);
    await expect(loadTorchCheckpoint(torchZip(base({ storage: '0', type: 'ComplexFloatStorage', numel: 6, size: [6], stride: [1] }), { '0': storage0 })))
      .rejects.toThrow(/refusing global 'torch\.ComplexFloatStorage'/);
    await expect(loadTorchCheckpoint(torchZip(base({ storage: '0', numel: 6, size: [6], stride: [1] }), { '0': storage0 }, { byteorder: 'big' })))
      .rejects.toThrow(/storages are big-endian; only little-endian/);
  });

  it('says when a checkpoint has no model', async () => {
    const pkl = new PickleBuilder().proto(2).emptyDict().str('state_dict').int(1).op(0x73).stop().bytes();
    await expect(loadTorchCheckpoint(torchZip(pkl, {}))).rejects.toThrow(/has no 'model' key and is not a state dict \(keys: 'state_dict'\)/);
  });

  it('refuses legacy (non-zip) checkpoints and archives without data.pkl', async () => {
    await expect(loadTorchCheckpoint(new Uint8Array([0x80, 0x02, 0x8a, 0x0a]))).rejects.toThrow(/legacy torch serialization is not supported, re-save with torch>=1\.6/);
    await expect(loadTorchCheckpoint(makeZip([{ name: 'model/weights.bin', data: ascii('x') }])))
      .rejects.toThrow(/expected exactly one '<root>\/data\.pkl' entry, found 0 \(entries: model\/weights\.bin\)/);
  });
});
