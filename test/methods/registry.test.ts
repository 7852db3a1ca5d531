// The method registry (src/methods/): each entry against the kernels it names and its float64
// reference, and the errors every consumer builds from it.
import { describe, expect, it } from 'vitest';
import { backwardNames, methodList, methodNames, methodOfBackward, methodSpec, methodUsage } from '../../src/methods/index.js';
import { scoreBackwardRef, scoreForwardRef } from '../../src/ref/scoreBackward.js';
import { resolveTrainerOptions } from '../../src/train/options.js';
import { resolveOptions } from '../../src/similarity/validate.js';
import type { SimilarityOptions } from '../../src/types.js';
import { maxAbsDiff } from '../fixtures.js';
import { sharedEngine } from '../gpu.js';
import { randomBatch } from '../random.js';

const engine = await sharedEngine();

describe('method registry', () => {
  it('names each method once, with a label, a help line, options and a backward of its own', () => {
    const names = methodNames();
    expect(names).toEqual(['naaf', 'scan-t2i', 'scan-i2t', 'chan']);
    expect(new Set(backwardNames()).size).toBe(names.length);
    for (const name of names) {
      const spec = methodSpec(name);
      expect(spec.label.length).toBeGreaterThan(0);
      expect(spec.help.startsWith(`${name}: `)).toBe(true);
      expect(methodOfBackward(spec.backward)).toBe(spec);
      expect(spec.kernels.split.parts.length).toBeGreaterThan(0);
      expect(resolveOptions(spec.sampleOptions as unknown as SimilarityOptions).method).toBe(name);
    }
    expect(methodList()).toBe("'naaf', 'scan-t2i', 'scan-i2t' or 'chan'");
    expect(methodUsage().flag).toBe('--method naaf|scan-t2i|scan-i2t|chan');
  });

  it("each backward file's Gram constants match the entry's backwardTerms (the launchers size and own the Gram by them)", () => {
    for (const name of methodNames()) {
      const { backwardTerms, kernels } = methodSpec(name);
      const code = kernels.backward.code;
      expect(code, name).toContain(`const REGION_GRAM_GRAD: bool = ${backwardTerms.gram === 'regions'};`);
      expect(code, name).toContain(`const WORD_GRAM_GRAD: bool = ${backwardTerms.gram === 'words'};`);
      expect(code.includes('var<storage, read> thresholds'), name).toBe(backwardTerms.input === 'thresholds');
      // The split epilogue leaves the region Gram unbound for a method that says it reads none.
      if (!backwardTerms.regionGram) expect(code, name).not.toMatch(/regionGram/);
      expect(code.includes('var<storage, read> wordGram'), name).toBe(backwardTerms.input === 'wordGram');
    }
  });

  it("each entry's float64 reference gives the GPU's scores (split and fused) with its resolved default options", async () => {
    const b = randomBatch(31, 3, 7, [4, 2, 5], 5, 12);
    const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
    const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
    for (const name of methodNames()) {
      const spec = methodSpec(name);
      const options = spec.sampleOptions as unknown as SimilarityOptions;
      const reference = spec.reference(b, resolveOptions(options));
      for (const kernel of spec.kernels.fused ? ['split', 'fused'] as const : ['split'] as const) {
        const gpu = await engine.similarity(images, captions, { ...options, kernel } as SimilarityOptions);
        expect(maxAbsDiff(gpu, reference), `${name} ${kernel}`).toBeLessThan(1e-5);
      }
    }
  });

  it("each entry's training references agree: its forward reference equals its tape score, pair by pair", () => {
    const b = randomBatch(37, 3, 5, [3, 1, 4], 4, 6);
    const thresholds = [0.05, -0.1, 0.2];
    for (const name of methodNames()) {
      const spec = methodSpec(name);
      const options = { method: spec.backward, thresholds, lambdaSoftmax: spec.training.lambdaSoftmax, lse: true };
      const { scores } = scoreBackwardRef(b, options, new Float64Array(b.N * b.M).fill(1));
      const forward = scoreForwardRef(b, options);
      expect(maxAbsDiff(scores, forward), name).toBeLessThan(1e-12);
      expect(new Set(forward).size, name).toBe(b.N * b.M); // every pair scored, none alike
    }
  });

  it('errors list the registered methods wherever a method is named', async () => {
    expect(() => resolveOptions({ method: 'vse' } as never)).toThrow(/similarity: options\.method must be 'naaf', 'scan-t2i', 'scan-i2t' or 'chan', got "vse"/);
    expect(() => resolveTrainerOptions({ method: 'vse' } as never)).toThrow(/createTrainer: options\.method must be 'naaf', 'scan-t2i', 'scan-i2t' or 'chan', got "vse"/);
    expect(() => methodSpec('x', 'naaf train', '--method', false)).toThrow(/naaf train: --method must be naaf, scan-t2i, scan-i2t or chan, got x/);
    expect(() => resolveOptions({ method: 'scan-t2i', threshold: 0.1 } as never)).toThrow(/unknown option "threshold" for method 'scan-t2i' \(allowed: method, lambdaSoftmax, aggregation, lambdaLse, /);
  });

  it('training defaults come from the entry', () => {
    for (const name of methodNames()) {
      const { training } = methodSpec(name);
      const resolved = resolveTrainerOptions({ method: name });
      expect([resolved.learningRate, resolved.lambdaSoftmax, resolved.lambdaLse]).toEqual([training.learningRate, training.lambdaSoftmax, training.lambdaLse]);
      expect([resolved.margin, resolved.warmupEpochs, resolved.lrUpdate]).toEqual([training.margin ?? 0.2, training.warmupEpochs ?? 0, training.lrUpdate ?? 10]);
    }
    // CHAN's released script: margin 0.05, one epoch of summed violations, lr x0.1 at epoch 15.
    const chan = resolveTrainerOptions({ method: 'chan' });
    expect([chan.margin, chan.warmupEpochs, chan.lrUpdate, chan.learningRate]).toEqual([0.05, 1, 15, 5e-4]);
  });
});
