// The trainer on a tiny model: whole-model gradients of one batch against the float64
// composition of every op's reference (and central differences of the float64 loss), steps,
// saving and resuming, and bad input.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ModelConfig, StateDict } from '../../src/model/weights.js';
import { initialState } from '../../src/train/init.js';
import type { TrainMethod } from '../../src/train/options.js';
import { sharedEngine } from '../gpu.js';
import { rng } from '../random.js';
import { RefTrainOptions, modelForwardRef, modelGradientsRef } from './modelRef.js';

const engine = await sharedEngine();
const config: ModelConfig = { imgDim: 8, embedSize: 6, wordDim: 5, vocabSize: 12, textEncoder: 'basic', threshold: 0, lambdaSoftmax: 20 };

function makeBatch(seed: number, B: number, R: number, lengths: number[]) {
  const next = rng(seed);
  const L = Math.max(...lengths);
  const feats = Float32Array.from({ length: B * R * config.imgDim }, () => next() * 2);
  const ids = new Int32Array(B * L);
  lengths.forEach((len, b) => { for (let w = 0; w < len; w++) ids[b * L + w] = w === 0 ? 1 : w === len - 1 ? 2 : 4 + Math.floor(next() * 8); });
  return { feats, B, R, imgDim: config.imgDim, ids, L, lengths: Int32Array.from(lengths) };
}

function asInput(b: ReturnType<typeof makeBatch>) {
  return { regionFeats: { data: b.feats, shape: [b.B, b.R, b.imgDim] as const }, tokenIds: { ids: b.ids, shape: [b.B, b.L] as const, lengths: b.lengths } };
}

function refOptions(method: TrainMethod): RefTrainOptions {
  const lambdaSoftmax = method === 'naaf' ? 20 : method === 'scan-t2i' ? 9 : 4;
  return { method, lambdaSoftmax, lambdaLse: method === 'scan-i2t' ? 5 : 6, lse: true, margin: 0.2, alpha: 2,
    state: { thres: 0, thresSafe: 0, meanPos: 0, stdPos: 0, meanNeg: 0, stdNeg: 0 } };
}

/** max |a - b| / max(1, max |b|) over a tensor. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / scale;
}

describe('whole-model gradients of one batch', () => {
  for (const method of ['naaf', 'scan-t2i', 'scan-i2t'] as const) {
    it(`${method}: every parameter against the float64 reference`, async () => {
      const state = initialState(config, 3);
      const model = engine.createModel(state, config);
      const trainer = await engine.createTrainer(model, { method });
      const batch = makeBatch(5, 5, 3, [5, 4, 4, 3, 2]);
      const gpu = await trainer.computeGradients(asInput(batch));
      const ref = modelGradientsRef(state, batch, refOptions(method));
      expect(gpu.loss).toBeCloseTo(ref.loss, 5);
      expect(ref.loss).toBeGreaterThan(0);
      expect(Object.keys(gpu.grads).sort()).toEqual(Object.keys(ref.grads).sort());
      for (const [name, expected] of Object.entries(ref.grads)) {
        expect(relativeError(gpu.grads[name], expected), name).toBeLessThan(2e-4);
      }
      trainer.destroy();
      model.destroy();
    });
  }

  it('the float64 composition matches central differences of the float64 loss', () => {
    const state = initialState(config, 4);
    const batch = makeBatch(6, 4, 3, [4, 3, 3, 2]);
    for (const method of ['naaf', 'scan-t2i'] as const) {
      const o = refOptions(method);
      const ref = modelGradientsRef(state, batch, o);
      const next = rng(9);
      for (const name of Object.keys(ref.grads)) {
        for (let probe = 0; probe < 3; probe++) {
          const i = Math.floor(next() * ref.grads[name].length);
          const h = 1e-4;
          const shifted = (delta: number): StateDict => {
            const data = Float64Array.from(state[name].data);
            data[i] += delta;
            return { ...state, [name]: { shape: state[name].shape, data: data as unknown as Float32Array } };
          };
          const fd = (modelForwardRef(shifted(h), batch, o).loss - modelForwardRef(shifted(-h), batch, o).loss) / (2 * h);
          expect(Math.abs(fd - ref.grads[name][i]), `${method} ${name}[${i}]`).toBeLessThan(1e-5 * Math.max(1, Math.abs(fd)));
        }
      }
    }
  });
});

describe('steps, saving and resuming', () => {
  it('steps lower the loss on a fixed batch; a saved trainer resumes to the same numbers', async () => {
    const state = initialState(config, 7);
    const batches = [makeBatch(11, 6, 3, [5, 5, 4, 3, 3, 2]), makeBatch(12, 6, 3, [4, 4, 4, 3, 2, 2])].map(asInput);
    const run = async (steps: number, trainer: Awaited<ReturnType<typeof engine.createTrainer>>) => {
      const losses = [];
      for (let s = 0; s < steps; s++) losses.push((await trainer.step(batches[(trainer.stepCount) % 2])).loss);
      return losses;
    };
    const straightModel = engine.createModel(state, config);
    const straight = await engine.createTrainer(straightModel, { method: 'naaf', learningRate: 0.01 });
    const losses = await run(30, straight);
    expect(losses[29]).toBeLessThan(losses[0] * 0.8);
    const finalWeights = await straightModel.syncState();

    const firstModel = engine.createModel(state, config);
    const first = await engine.createTrainer(firstModel, { method: 'naaf', learningRate: 0.01 });
    const firstLosses = await run(12, first);
    const path = join(mkdtempSync(join(tmpdir(), 'naaf-train-')), 'ckpt.safetensors');
    await first.save(path);
    const { trainer: resumed } = await engine.resumeTrainer(path);
    expect(resumed.stepCount).toBe(12);
    expect(resumed.state).toEqual(first.state);
    const rest = await run(18, resumed);
    expect([...firstLosses, ...rest]).toEqual(losses);
    const resumedWeights = await resumed.model.syncState();
    for (const name of Object.keys(finalWeights)) expect(Array.from(resumedWeights[name].data), name).toEqual(Array.from(finalWeights[name].data));
    // A training checkpoint is also a model.
    const loaded = await engine.loadModel(path);
    expect(loaded.config.embedSize).toBe(6);
    for (const t of [straight, first, resumed]) { t.destroy(); t.model.destroy(); }
    loaded.destroy();
  });
});

describe('fine-tuning an original checkpoint', () => {
  it('a model loaded from a .pth.tar trains, and its mining state starts from the checkpoint', async () => {
    const { fileURLToPath } = await import('node:url');
    const model = await engine.loadModel(fileURLToPath(new URL('../fixtures/checkpoints/naaf_basic_tiny.pth.tar', import.meta.url)));
    const trainer = await engine.createTrainer(model, { method: 'naaf', learningRate: 1e-3 });
    expect(trainer.state.thres).toBeCloseTo(0.4321, 6); // carried into caption 0 of the first batch
    const next = rng(31);
    const B = 4;
    const lengths = [6, 5, 4, 3];
    const batch = {
      regionFeats: { data: Float32Array.from({ length: B * 36 * 64 }, () => next()), shape: [B, 36, 64] as const },
      tokenIds: { ids: Int32Array.from({ length: B * 6 }, (_, i) => (i % 6 === 0 ? 1 : 4 + (i % 30))), shape: [B, 6] as const, lengths },
    };
    const before = (await model.syncState())['img_enc.fc.weight'].data.slice();
    const { loss } = await trainer.step(batch);
    expect(Number.isFinite(loss)).toBe(true);
    const after = (await model.syncState())['img_enc.fc.weight'].data;
    expect(after.some((v, i) => v !== before[i])).toBe(true);
    trainer.destroy();
    model.destroy();
  });
});

describe('bad input', () => {
  it('batch of size 1, mismatched parts, NaN features, and a non-finite loss', async () => {
    const model = engine.createModel(initialState(config, 8), config);
    const trainer = await engine.createTrainer(model, { method: 'naaf' });
    const one = makeBatch(13, 1, 3, [3]);
    await expect(trainer.step(asInput(one))).rejects.toThrow(/batch of size 1: training needs at least 2 pairs/);
    const b = makeBatch(14, 3, 3, [3, 2, 2]);
    await expect(trainer.step({ ...asInput(b), tokenIds: { ids: b.ids.subarray(0, 6), shape: [2, 3], lengths: [3, 2] } }))
      .rejects.toThrow(/tokenIds\.shape\[0\] \(2\) must equal regionFeats\.shape\[0\] \(3\)/);
    const nan = b.feats.slice();
    nan[4] = NaN;
    await expect(trainer.step({ ...asInput(b), regionFeats: { data: nan, shape: [3, 3, 8] } })).rejects.toThrow(/regionFeats\.data must be finite, got NaN at flat index 4/);
    await expect(engine.createTrainer(model, { method: 'vse' as TrainMethod })).rejects.toThrow(/options\.method must be/);
    // Poison a weight: the loss turns NaN, the step throws and changes nothing.
    const before = await model.syncState();
    const fcBias = model.parameters()[1].buffer;
    engine.device.queue.writeBuffer(fcBias, 0, Float32Array.of(NaN));
    await expect(trainer.step(asInput(b))).rejects.toThrow(/step: the loss is .* \(squared gradient norm NaN\) at step 1.*the weights were not updated/);
    const after = await model.syncState();
    expect(Array.from(after['img_enc.fc.weight'].data)).toEqual(Array.from(before['img_enc.fc.weight'].data));
    expect(trainer.stepCount).toBe(0);
    trainer.destroy();
    model.destroy();
  });
});
