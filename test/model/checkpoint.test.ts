// End to end on an original-format checkpoint: load the .pth.tar, encode regions and token ids
// on the GPU, score, and compare with the float64 expectations (from the original PyTorch code).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { maxAbsDiff } from '../fixtures.js';
import { sharedEngine } from '../gpu.js';

const engine = await sharedEngine();
const fixture = JSON.parse(readFileSync(new URL('../fixtures/checkpoints/naaf_basic_tiny.json', import.meta.url), 'utf8'));
const checkpointPath = fileURLToPath(new URL('../fixtures/checkpoints/naaf_basic_tiny.pth.tar', import.meta.url));

describe('naaf_basic_tiny.pth.tar end to end', () => {
  it('loads the config and the learned threshold from opt', async () => {
    const model = await engine.loadModel(checkpointPath);
    expect(model.config).toEqual({ imgDim: 64, embedSize: 32, wordDim: 16, vocabSize: 40, textEncoder: 'basic', threshold: 0.2015, lambdaSoftmax: 20 });
    expect(model.thresholdState).toEqual({ thres: 0.4321, thresSafe: 0.2015, meanPos: 0.6543, stdPos: 0.0891, meanNeg: 0.1234, stdNeg: 0.0567 });
    expect(model.info).toEqual({ epoch: 16, eiters: 3616, bestRsum: 507.9 });
    model.destroy();
  });

  it('encodes and scores to 1e-5 (from a path and from bytes)', async () => {
    for (const source of [checkpointPath, new Uint8Array(readFileSync(checkpointPath))]) {
      const model = await engine.loadModel(source);
      const feats: number[][][] = fixture.inputs.region_feats;
      const img = await model.encodeImages({ data: Float32Array.from(feats.flat(2)), shape: [feats.length, feats[0].length, feats[0][0].length] });
      expect(img.shape).toEqual([3, 36, 32]);
      expect(maxAbsDiff(img.data, fixture.expected.img_emb.flat(2))).toBeLessThan(1e-5);

      const ids: number[][] = fixture.inputs.token_ids;
      const L = ids[0].length;
      const cap = await model.encodeCaptions({ ids: ids.flat(), shape: [ids.length, L], lengths: fixture.inputs.lengths });
      expect(cap.shape).toEqual([15, L, 32]);
      const expectedCaps: number[][][] = fixture.expected.cap_emb;
      const padded = new Float64Array(15 * L * 32);
      expectedCaps.forEach((c, m) => c.forEach((row, w) => padded.set(row, (m * L + w) * 32)));
      expect(maxAbsDiff(cap.data, padded)).toBeLessThan(1e-5);
      for (let m = 0; m < 15; m++) {
        for (let w = fixture.inputs.lengths[m]; w < L; w++) expect(cap.data.subarray((m * L + w) * 32, (m * L + w + 1) * 32).every((v) => v === 0)).toBe(true);
      }

      const naaf = await engine.similarity(img, cap, { method: 'naaf', threshold: model.config.threshold!, lambdaSoftmax: model.config.lambdaSoftmax });
      expect(maxAbsDiff(naaf, fixture.expected.naaf_sims.flat())).toBeLessThan(1e-5);
      const scan = await engine.similarity(img, cap, { method: 'scan-t2i' });
      expect(maxAbsDiff(scan, fixture.expected.scan_t2i_lse.flat())).toBeLessThan(1e-5);

      // The same through GPU buffers, without a round trip.
      const gpuImg = await model.encodeImagesToGpu({ data: Float32Array.from(feats.flat(2)), shape: [3, 36, 64] });
      const gpuCap = await model.encodeCaptionsToGpu({ ids: ids.flat(), shape: [15, L], lengths: fixture.inputs.lengths });
      const viaGpu = await engine.similarity(gpuImg, gpuCap, { method: 'naaf', threshold: model.config.threshold! });
      expect(maxAbsDiff(viaGpu, fixture.expected.naaf_sims.flat())).toBeLessThan(1e-5);
      gpuImg.buffer.destroy();
      gpuCap.buffer.destroy();
      model.destroy();
    }
  });
});

describe('naaf convert', () => {
  it('writes a .safetensors that loads to the same model', async () => {
    const { spawnSync } = await import('node:child_process');
    const { mkdtempSync, readdirSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'naaf-convert-'));
    const out = join(dir, 'tiny.safetensors');
    const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
    const run = spawnSync(process.execPath, [cli, 'convert', checkpointPath, out], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/wrote .*tiny\.safetensors: imgDim 64, embedSize 32, wordDim 16, vocabSize 40, text encoder basic, threshold 0\.2015/);
    expect(readdirSync(dir)).toEqual(['tiny.safetensors']); // no temporary file left behind
    const original = await engine.loadModel(checkpointPath);
    const converted = await engine.loadModel(out);
    expect(converted.config).toEqual(original.config);
    expect(converted.thresholdState).toEqual(original.thresholdState);
    expect(converted.info).toEqual(original.info);
    for (const [key, tensor] of Object.entries(original.state)) {
      expect(converted.state[key].shape, key).toEqual(tensor.shape);
      expect(Array.from(converted.state[key].data), key).toEqual(Array.from(tensor.data));
    }
    original.destroy();
    converted.destroy();
  });
});

describe('bad model input', () => {
  it('wrong shapes, missing tensors and out-of-range token ids', async () => {
    const model = await engine.loadModel(checkpointPath);
    const state = { ...model.state };
    expect(() => engine.createModel({ ...state, 'img_enc.fc.bias': { shape: [31], data: new Float32Array(31) } }))
      .toThrow(/img_enc\.fc\.bias has shape \[31\], expected \[32\]/);
    const { ['txt_enc.rnn.weight_hh_l0_reverse']: _dropped, ...missing } = state;
    expect(() => engine.createModel(missing)).toThrow(/missing txt_enc\.rnn\.weight_hh_l0_reverse, expected shape \[96, 32\]/);
    await expect(model.encodeCaptions({ ids: [1, 40, 2], shape: [1, 3], lengths: [3] }))
      .rejects.toThrow(/token id at \[0, 1\] must be an integer in \[0, vocabSize = 40\), got 40/);
    await expect(model.encodeCaptions({ ids: [1, 5, 2], shape: [1, 3], lengths: [4] })).rejects.toThrow(/lengths\[0\] must be an integer in \[1, L = 3\], got 4/);
    await expect(model.encodeImages({ data: new Float32Array(36 * 63), shape: [1, 36, 63] })).rejects.toThrow(/input\.shape\[2\] must be the model's imgDim 64, got 63/);
    const nan = new Float32Array(36 * 64);
    nan[5] = NaN;
    await expect(model.encodeImages({ data: nan, shape: [1, 36, 64] })).rejects.toThrow(/must be finite, got NaN at flat index 5/);
    await expect(engine.loadModel(new Uint8Array([1, 2, 3]))).rejects.toThrow(/loadModel\(the given bytes\): neither a torch zip checkpoint \(\.pth\.tar\) nor a valid \.safetensors file/);
    await expect(engine.loadModel("/nonexistent/model.pth.tar")).rejects.toThrow(/loadModel: cannot read \/nonexistent\/model\.pth\.tar/);
    model.destroy();
  });

  it('finite but huge inputs and weights: refused, never non-finite embeddings', async () => {
    const model = await engine.loadModel(checkpointPath);
    try {
      const huge = new Float32Array(36 * 64).fill(1);
      huge[7] = 3e38;
      await expect(model.encodeImages({ data: huge, shape: [1, 36, 64] })).rejects.toThrow(/input\.data holds values up to 3\.00e\+38; .* could overflow float32/);
      await expect(model.encodeImagesToGpu({ data: huge, shape: [1, 36, 64] })).rejects.toThrow(/could overflow float32/);
      // GRU weights near float32's limit overflow in the gate products: the result is refused.
      const state = { ...model.state };
      state['txt_enc.rnn.weight_ih_l0'] = { shape: state['txt_enc.rnn.weight_ih_l0'].shape, data: state['txt_enc.rnn.weight_ih_l0'].data.map((_, i) => (i % 2 ? 3e38 : -3e38)) };
      state['txt_enc.embed.weight'] = { shape: state['txt_enc.embed.weight'].shape, data: state['txt_enc.embed.weight'].data.map(() => 1e3) };
      const overflowing = engine.createModel(state, model.config);
      try {
        await expect(overflowing.encodeCaptions({ ids: [1, 5, 6, 2], shape: [1, 4], lengths: [4] })).rejects.toThrow(/encodeCaptions: the embedding of item 0, row \d+ holds (NaN|-?Infinity): float32 overflowed inside the encoder/);
      } finally {
        overflowing.destroy();
      }
    } finally {
      model.destroy();
    }
  });

  it('a checkpoint whose metadata is not a model config is refused', async () => {
    const model = await engine.loadModel(checkpointPath);
    const { encodeSafetensorsModel } = await import('../../src/model/load.js');
    try {
      const base = { state: model.state, config: model.config, thresholdState: null, info: {} };
      const bytes = (config: object) => encodeSafetensorsModel({ ...base, config: config as never });
      await expect(engine.loadModel(bytes({ ...model.config, textEncoder: 'evil' }))).rejects.toThrow(/config\.textEncoder must be 'basic' or 'glove', got "evil"/);
      await expect(engine.loadModel(bytes({ ...model.config, embedSize: 0 }))).rejects.toThrow(/config\.embedSize must be an integer >= 1, got 0/);
      await expect(engine.loadModel(bytes({ ...model.config, lambdaSoftmax: 'x' }))).rejects.toThrow(/config\.lambdaSoftmax must be a finite number > 0/);
      expect(() => engine.createModel(model.state, { embedSize: 0 })).toThrow(/config\.embedSize must be an integer >= 1, got 0/);
    } finally {
      model.destroy();
    }
  });
});

describe('encoder variants', () => {
  it('the GloVe text encoder key and the weight_norm image encoder give the same embeddings', async () => {
    const model = await engine.loadModel(checkpointPath);
    const { ['txt_enc.embed.weight']: embed, ['img_enc.fc.weight']: fc, ...rest } = model.state;
    let sq = 0;
    for (const x of fc.data) sq += x * x;
    const variant = engine.createModel({
      ...rest,
      'txt_enc.embed.glove.weight': embed,
      'img_enc.fc.weight_v': { shape: fc.shape, data: fc.data.map((x) => 3 * x) }, // g * v / ||v|| = W
      'img_enc.fc.weight_g': { shape: [], data: Float32Array.of(Math.sqrt(sq)) },
    }, { threshold: 0.2015 });
    expect(variant.config.textEncoder).toBe('glove');
    const feats: number[][][] = fixture.inputs.region_feats;
    const img = await variant.encodeImages({ data: Float32Array.from(feats.flat(2)), shape: [3, 36, 64] });
    expect(maxAbsDiff(img.data, fixture.expected.img_emb.flat(2))).toBeLessThan(1e-5);
    const ids: number[][] = fixture.inputs.token_ids;
    const cap = await variant.encodeCaptions({ ids: ids.flat(), shape: [15, ids[0].length], lengths: fixture.inputs.lengths });
    const sims = await engine.similarity(img, cap, { method: 'naaf', threshold: 0.2015 });
    expect(maxAbsDiff(sims, fixture.expected.naaf_sims.flat())).toBeLessThan(1e-5);
    variant.destroy();
    model.destroy();
  });

  it('a truncated checkpoint is a clear error', async () => {
    const bytes = new Uint8Array(readFileSync(checkpointPath));
    await expect(engine.loadModel(bytes.subarray(0, bytes.length - 100))).rejects.toThrow(/end of central directory|truncated|outside the file/i);
  });
});
