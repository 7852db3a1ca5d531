// Dawn's disable_robustness (no bounds checks on storage accesses) and disable_workgroup_init (no
// zeroed workgroup memory) must change no result: every kernel bounds its own accesses and
// writes its workgroup memory before reading it. Same bits with and without, on every kernel
// family the similarity and training paths run.
import { afterAll, describe, expect, it } from 'vitest';
import { NaafEngine, initialState } from '../../src/index.js';
import type { ModelConfig } from '../../src/model/weights.js';
import type { SimilarityOptions } from '../../src/types.js';
import { ALL_VARIANTS, sharedEngine } from '../gpu.js';
import { randomBatch, randomLengths, rng } from '../random.js';

const engine = await sharedEngine();
const unsafe = await NaafEngine.create({ dawnFlags: ['enable-dawn-features=disable_robustness,disable_workgroup_init'] });
afterAll(() => unsafe.destroy());

describe('Dawn toggles disable_robustness, disable_workgroup_init', () => {
  it('are in effect', () => {
    expect(unsafe.info.dawnFlags).toEqual(['enable-dawn-features=disable_robustness,disable_workgroup_init']);
  });

  it('change no similarity: NAAF on both kernels in f32, f16 and int8, the SCAN i2t epilogue, pair scoring', async () => {
    const b = randomBatch(501, 6, 11, randomLengths(502, 7, 1, 9), 9, 36);
    const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
    const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
    const methods: SimilarityOptions[] = [{ method: 'naaf', threshold: 0.2 }, { method: 'scan-i2t' }];
    // Every product and kernel for NAAF; SCAN i2t's own epilogue (its own thread layout) on the split kernel.
    // (lavapipe: the f32 kernels, each a new compile with these toggles; ALL_VARIANTS: f16 and int8 too.)
    const variants = ALL_VARIANTS
      ? [['split', 'f32'], ['fused', 'f32'], ['split', 'f16'], ['split', 'int8'], ['fused', 'int8']] as const
      : [['split', 'f32'], ['fused', 'f32']] as const;
    for (const options of ALL_VARIANTS ? methods : methods.slice(0, 1)) { // (lavapipe: NAAF's epilogues only)
      for (const [kernel, precision] of options.method === 'naaf' ? variants : variants.slice(0, 1)) {
        const call = { ...options, kernel, precision } as SimilarityOptions;
        expect(Array.from(await unsafe.similarity(images, captions, call)), `${options.method} ${kernel} ${precision}`)
          .toEqual(Array.from(await engine.similarity(images, captions, call)));
      }
    }
    const pairs = { images: [5, 0, 2], captions: [0, 6, 3] };
    expect(Array.from(await unsafe.scorePairs(images, captions, pairs, methods[0]))).toEqual(Array.from(await engine.scorePairs(images, captions, pairs, methods[0])));
  });

  // A minute of lavapipe compiles (the fused backward with other toggles): on a GPU run (ALL_VARIANTS) only.
  it.runIf(ALL_VARIANTS)('change no gradient of a training step (encoders, GRU, fused score backward, loss)', async () => {
    const config: ModelConfig = { imgDim: 10, embedSize: 12, wordDim: 6, vocabSize: 16, textEncoder: 'basic', threshold: 0, lambdaSoftmax: 20 };
    const next = rng(11);
    const B = 4;
    const batch = {
      regionFeats: { data: Float32Array.from({ length: B * 5 * 10 }, () => next()), shape: [B, 5, 10] as const },
      tokenIds: { ids: Int32Array.from({ length: B * 6 }, () => 4 + Math.floor(next() * 12)), shape: [B, 6] as const, lengths: [6, 5, 3, 2] },
    };
    for (const method of ['scan-t2i'] as const) {
      const grads = await Promise.all([engine, unsafe].map(async (e) => {
        const trainer = await e.createTrainer(e.createModel(initialState(config, 5), config), { method });
        return trainer.computeGradients(batch);
      }));
      expect(grads[1].loss, method).toBe(grads[0].loss);
      for (const name of Object.keys(grads[0].grads)) expect(Array.from(grads[1].grads[name]), `${method} ${name}`).toEqual(Array.from(grads[0].grads[name]));
    }
  });
});
