// The training-path similarity with Discriminative Mismatch Mining (spec 3.2 + 3.3) on the GPU
// against the golden case7_train batches and against the float64 reference; the reference
// against the golden file; the triplet loss (spec 3.4); bad input.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { DMM_STATE_KEYS, DmmState, NaafTrainOptions, encodeNaafTrainingSimilarity, naafTrainingSimilarity } from '../../src/ops/naafTrain.js';
import { naafTrainingSimilarityRef } from '../../src/ref/naafTrain.js';
import { tripletLossRef as tripletLossAndGradRef } from '../../src/ref/train.js';

const tripletLossRef = (sims: ArrayLike<number>, B: number, margin?: number, maxViolation?: boolean) => tripletLossAndGradRef(sims, B, margin, maxViolation).loss;
import { maxAbsDiff } from '../fixtures.js';
import { sharedEngine } from '../gpu.js';
import { RandomBatch, randomBatch, randomLengths, rng } from '../random.js';

const engine = await sharedEngine();
const ctx = (engine as unknown as { ctx: GpuContext }).ctx;

interface TrainBatch { b: RandomBatch; before: DmmState; after: DmmState; sims: Float64Array; lossMax: number; lossSum: number }

function toState(s: Record<string, number>): DmmState {
  return { thres: s.thres, thresSafe: s.thres_safe, meanPos: s.mean_pos, stdPos: s.stnd_pos, meanNeg: s.mean_neg, stdNeg: s.stnd_neg };
}

function loadCase7(): TrainBatch[] {
  const path = fileURLToPath(new URL('../fixtures/case7_train.json', import.meta.url));
  const json = JSON.parse(readFileSync(path, 'utf8'));
  return json.batches.map((batch: any): TrainBatch => {
    const img: number[][][] = batch.inputs.img;
    const cap: number[][][] = batch.inputs.cap;
    const B = img.length;
    return {
      b: {
        images: Float32Array.from(img.flat(2)), captions: Float32Array.from(cap.flat(2)), lengths: Int32Array.from(batch.inputs.cap_lens),
        N: B, M: B, R: img[0].length, L: cap[0].length, D: img[0][0].length,
      },
      before: toState(batch.state_before), after: toState(batch.expected.state_after),
      sims: Float64Array.from((batch.expected.naaf_train_sims as number[][]).flat()),
      lossMax: batch.expected.loss_max_violation, lossSum: batch.expected.loss_sum,
    };
  });
}

function stateDiff(a: DmmState, b: DmmState): number {
  return Math.max(...DMM_STATE_KEYS.map((key) => Math.abs(a[key] - b[key])));
}

function gpuRun(b: RandomBatch, state: DmmState, options?: NaafTrainOptions) {
  return naafTrainingSimilarity(ctx, { data: b.images, shape: [b.N, b.R, b.D] }, { data: b.captions, shape: [b.M, b.L, b.D], lengths: b.lengths }, state, options);
}

/**
 * Captions that describe their own image: word w of caption i is a noisy copy of a random
 * region of image i, so the matched image mostly ranks first and words get sampled.
 */
function matchedBatch(seed: number, B: number, R: number, lengths: number[], L: number, D: number, noise = 0.8): RandomBatch {
  const b = randomBatch(seed, B, R, lengths, L, D);
  const next = rng(seed + 1000);
  b.captions.fill(0);
  for (let i = 0; i < B; i++) {
    for (let w = 0; w < lengths[i]; w++) {
      const r = Math.floor(next() * R);
      const v = new Float64Array(D);
      let sq = 0;
      for (let d = 0; d < D; d++) {
        const g = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
        v[d] = b.images[(i * R + r) * D + d] + (noise / Math.sqrt(D)) * g;
        sq += v[d] * v[d];
      }
      for (let d = 0; d < D; d++) b.captions[(i * L + w) * D + d] = v[d] / Math.sqrt(sq);
    }
  }
  return b;
}

const ZERO: DmmState = { thres: 0, thresSafe: 0, meanPos: 0, stdPos: 0, meanNeg: 0, stdNeg: 0 };

async function expectMatchesReference(b: RandomBatch, state: DmmState, options: NaafTrainOptions = {}) {
  const ref = naafTrainingSimilarityRef(b, state, options);
  const gpu = await gpuRun(b, state, options);
  expect(maxAbsDiff(gpu.sims, ref.sims)).toBeLessThan(1e-5);
  expect(stateDiff(gpu.state, ref.state)).toBeLessThan(1e-6);
  expect(maxAbsDiff(gpu.thresholdsUsed, ref.thresholdsUsed)).toBeLessThan(1e-6);
  return { ref, gpu };
}

describe('NAAF training path with mismatch mining', () => {
  const batches = loadCase7();

  it('float64 reference matches case7_train (both batches, state carried) to 1e-12', () => {
    let state = batches[0].before;
    for (const batch of batches) {
      expect(stateDiff(state, batch.before)).toBeLessThan(1e-12);
      const ref = naafTrainingSimilarityRef(batch.b, state, { alpha: 2, lambdaSoftmax: 20, minWords: 200 });
      expect(maxAbsDiff(ref.sims, batch.sims)).toBeLessThan(1e-12);
      expect(stateDiff(ref.state, batch.after)).toBeLessThan(1e-12);
      expect(Math.abs(tripletLossRef(ref.sims, batch.b.N) - batch.lossMax)).toBeLessThan(1e-12);
      expect(Math.abs(tripletLossRef(ref.sims, batch.b.N, 0.2, false) - batch.lossSum)).toBeLessThan(1e-12);
      // The threshold does change inside the batch (reset to 0, then several EMA steps).
      expect(new Set(ref.thresholdsUsed).size).toBeGreaterThan(3);
      state = ref.state;
    }
  });

  it.each(['split', 'fused'] as const)('GPU (%s) matches case7_train: sims 1e-5, state 1e-6, losses 1e-5, state carried from batch 1', async (kernel) => {
    let state = batches[0].before;
    for (const batch of batches) {
      const gpu = await gpuRun(batch.b, state, { kernel });
      const ref = naafTrainingSimilarityRef(batch.b, state);
      expect(maxAbsDiff(gpu.sims, batch.sims)).toBeLessThan(1e-5);
      expect(stateDiff(gpu.state, batch.after)).toBeLessThan(1e-6);
      expect(maxAbsDiff(gpu.thresholdsUsed, ref.thresholdsUsed)).toBeLessThan(1e-6);
      expect(Math.abs(tripletLossRef(gpu.sims, batch.b.N) - batch.lossMax)).toBeLessThan(1e-5);
      expect(Math.abs(tripletLossRef(gpu.sims, batch.b.N, 0.2, false) - batch.lossSum)).toBeLessThan(1e-5);
      state = gpu.state;
    }
  });

  it('both batches chained on the GPU (state buffer in, state buffer out) in one submit', async () => {
    const transient: GPUBuffer[] = [];
    const encoder = ctx.createEncoder('chained');
    let state: DmmState | GPUBuffer = batches[0].before;
    const outputs: Awaited<ReturnType<typeof encodeNaafTrainingSimilarity>>[] = [];
    for (const batch of batches) {
      const { b } = batch;
      const images = ctx.upload(b.images, 'images');
      const captions = ctx.upload(b.captions, 'captions');
      transient.push(images, captions);
      const out = await encodeNaafTrainingSimilarity(ctx, encoder, { images, captions, lengths: b.lengths, B: b.N, R: b.R, L: b.L, D: b.D }, state, {}, transient);
      transient.push(out.sims, out.state, out.thresholdsUsed);
      outputs.push(out);
      state = out.state;
    }
    const submitsBefore = ctx.stats().submits;
    const finalState = await ctx.readFloat32(outputs[1].state, 0, 6, encoder);
    expect(ctx.stats().submits).toBe(submitsBefore + 1);
    const sims2 = await ctx.readFloat32(outputs[1].sims, 0, batches[1].b.N ** 2);
    transient.forEach((buffer) => ctx.pool.release(buffer));
    expect(Math.max(...DMM_STATE_KEYS.map((key, k) => Math.abs(finalState[k] - batches[1].after[key])))).toBeLessThan(1e-6);
    expect(maxAbsDiff(sims2, batches[1].sims)).toBeLessThan(1e-5);
  });

  it('random batches: thresholds change inside the batch (L up to 12, n_pos == minWords exactly once)', async () => {
    const lengths = randomLengths(21, 10, 2, 12);
    const b = matchedBatch(22, 10, 9, lengths, 12, 16);
    const { ref } = await expectMatchesReference(b, { ...ZERO, thres: 0.3, thresSafe: 0.1 }, { minWords: 20 });
    expect(new Set(ref.thresholdsUsed).size).toBeGreaterThan(3);
    expect(ref.state.stdPos).toBeGreaterThan(0);
    // n_pos reaches 10 exactly after caption 1: neither an update nor a reset.
    const equal = matchedBatch(23, 6, 5, [5, 5, 4, 6, 3, 2], 6, 8, 0.5);
    const { ref: refEqual } = await expectMatchesReference(equal, { ...ZERO, thres: 0.2, thresSafe: 0.1 }, { minWords: 10 });
    expect(Array.from(refEqual.negativeImage).slice(0, 2).every((n) => n >= 0)).toBe(true);
  });

  it('random batch where n_pos stays below minWords: thresholds reset after caption 0, statistics kept', async () => {
    const b = matchedBatch(24, 5, 36, [4, 6, 3, 5, 6], 6, 12);
    const state: DmmState = { thres: 0.45, thresSafe: 0.2, meanPos: 0.6, stdPos: 0.1, meanNeg: 0.3, stdNeg: 0.05 };
    const { gpu } = await expectMatchesReference(b, state);
    expect(gpu.thresholdsUsed[0]).toBeCloseTo(0.45, 6);
    expect(Array.from(gpu.thresholdsUsed.subarray(1))).toEqual([0, 0, 0, 0]);
    expect(gpu.state).toMatchObject({ thres: 0, thresSafe: 0 });
    expect(gpu.state.meanPos).toBeCloseTo(0.6, 6);
  });

  it('noisy captions (some matched images not ranked first), 1-word captions, other alpha and lambda', async () => {
    const b = matchedBatch(25, 7, 12, [1, ...randomLengths(26, 6, 1, 8)], 8, 10, 1);
    const { ref } = await expectMatchesReference(b, { ...ZERO, thres: 0.1 }, { minWords: 3, alpha: 1.5, lambdaSoftmax: 9 });
    const sampled = Array.from(ref.negativeImage).filter((n) => n >= 0).length;
    expect(sampled).toBeGreaterThan(1);
    expect(sampled).toBeLessThan(7);
    expect(new Set(ref.thresholdsUsed).size).toBeGreaterThan(2);
  });

  it('unrelated captions: nothing sampled, the state only resets', async () => {
    const b = randomBatch(28, 4, 12, randomLengths(29, 4, 2, 8), 8, 10);
    const { ref } = await expectMatchesReference(b, { ...ZERO, thres: 0.1, meanPos: 0.5 }, { minWords: 3 });
    expect(Array.from(ref.negativeImage)).toEqual([-1, -1, -1, -1]);
  });

  it('ties: a duplicated image does not rank its second copy first (first index wins, as a stable sort)', async () => {
    const b = matchedBatch(27, 5, 6, [4, 5, 3, 4, 5], 5, 8, 0.4);
    b.images.copyWithin(2 * 6 * 8, 1 * 6 * 8, 2 * 6 * 8); // image 2 := image 1
    const { ref } = await expectMatchesReference(b, ZERO, { minWords: 4 });
    expect(ref.negativeImage[2]).toBe(-1); // caption 2's best score is shared by image 1, which comes first
    expect(ref.negativeImage[1]).toBeGreaterThanOrEqual(0);
  });

  it('tripletLossRef by hand', () => {
    const sims = [0.9, 0.5, 0.85, 0.6]; // [[S00, S01], [S10, S11]]
    // cost_s: row 0 vs S00 = 0.9: [0.2 + 0.5 - 0.9]_+ = 0; row 1 vs S11 = 0.6: [0.2 + 0.85 - 0.6]_+ = 0.45
    // cost_im: col 0 vs S00: [0.2 + 0.85 - 0.9]_+ = 0.15; col 1 vs S11: [0.2 + 0.5 - 0.6]_+ = 0.1
    expect(tripletLossRef(sims, 2)).toBeCloseTo(0.7, 12);
    expect(tripletLossRef(sims, 2, 0.2, false)).toBeCloseTo(0.7, 12);
    expect(tripletLossRef([1, 0, 0, 0, 1, 0, 0, 0, 1], 3, 1.5, false)).toBeCloseTo(12 * 0.5, 12);
    expect(tripletLossRef([1, 0, 0, 0, 1, 0, 0, 0, 1], 3, 1.5, true)).toBeCloseTo(6 * 0.5, 12);
  });
});

describe('training path: bad input is rejected with a clear error', () => {
  const b = randomBatch(31, 2, 4, [2, 3], 3, 8);
  const images = { data: b.images, shape: [2, 4, 8] as const };
  const captions = { data: b.captions, shape: [2, 3, 8] as const, lengths: [2, 3] };

  async function rejects(imgs: unknown, caps: unknown, state: unknown, options: unknown, message: RegExp) {
    const before = ctx.stats();
    await expect(naafTrainingSimilarity(ctx, imgs as never, caps as never, state as DmmState, options as NaafTrainOptions)).rejects.toThrow(message);
    expect(ctx.stats().dispatches).toBe(before.dispatches);
    expect(ctx.stats().buffersInUse).toBe(before.buffersInUse);
  }

  it('a batch of one image, and caption count differing from image count', async () => {
    const one = randomBatch(32, 1, 4, [2], 3, 8);
    await rejects({ data: one.images, shape: [1, 4, 8] }, { data: one.captions, shape: [1, 3, 8], lengths: [2] }, ZERO, {},
      /batch size B must be >= 2 .*got B = 1/);
    await rejects(images, { data: new Float32Array(3 * 3 * 8), shape: [3, 3, 8], lengths: [2, 3, 1] }, ZERO, {},
      /captions\.shape B = 3 must equal images\.shape B = 2/);
  });

  it('shapes, data lengths, D mismatch', async () => {
    await rejects({ data: b.images, shape: [2, 32] }, captions, ZERO, {}, /images\.shape must be \[B, R, D\].*got \[2, 32\]/);
    await rejects({ data: b.images.subarray(1), shape: [2, 4, 8] }, captions, ZERO, {}, /images\.data has 63 values, expected 64/);
    await rejects(images, { ...captions, data: Array.from(b.captions) }, ZERO, {}, /captions\.data must be a Float32Array/);
    await rejects(images, { data: new Float32Array(2 * 3 * 4), shape: [2, 3, 4], lengths: [2, 3] }, ZERO, {}, /captions\.shape D = 4 must equal images\.shape D = 8/);
  });

  it('lengths out of [1, L] or the wrong count', async () => {
    await rejects(images, { ...captions, lengths: [0, 3] }, ZERO, {}, /captions\.lengths\[0\] must be an integer in \[1, L = 3\], got 0/);
    await rejects(images, { ...captions, lengths: [2, 4] }, ZERO, {}, /captions\.lengths\[1\] must be an integer in \[1, L = 3\], got 4/);
    await rejects(images, { ...captions, lengths: [2] }, ZERO, {}, /captions\.lengths must hold B = 2 integers, got 1 entries/);
  });

  it('non-finite inputs or state, bad options', async () => {
    const bad = b.images.slice();
    bad[4 * 8 + 5] = NaN;
    await rejects({ data: bad, shape: [2, 4, 8] }, captions, ZERO, {}, /images\.data must be finite, got NaN at \[1, 0, 5\]/);
    await rejects(images, captions, { ...ZERO, stdNeg: Infinity }, {}, /state\.stdNeg must be a finite number, got Infinity/);
    await rejects(images, captions, { thres: 0 }, {}, /state\.thresSafe must be a finite number, got undefined/);
    await rejects(images, captions, ZERO, { alpha: 0 }, /options\.alpha must be a finite number > 0, got 0/);
    await rejects(images, captions, ZERO, { lambdaSoftmax: NaN }, /options\.lambdaSoftmax must be a finite number > 0, got NaN/);
    await rejects(images, captions, ZERO, { minWords: 2.5 }, /options\.minWords must be an integer >= 1, got 2\.5/);
    await rejects(images, captions, ZERO, { threshold: 0.2 }, /unknown option "threshold"/);
    await rejects(images, captions, ZERO, { kernel: 'gemm' as 'split' }, /options\.kernel must be 'split' or 'fused', got "gemm"/);
  });

  it('GPU arguments: too small a buffer, B = 1', async () => {
    const small = ctx.upload(new Float32Array(8), 'small');
    const encoder = ctx.createEncoder('bad');
    const args = { images: small, captions: small, lengths: [2, 3], B: 2, R: 4, L: 3, D: 64 };
    await expect(encodeNaafTrainingSimilarity(ctx, encoder, args, ZERO, {}, [])).rejects.toThrow(/args\.images holds \d+ bytes, expected at least 2048/);
    await expect(encodeNaafTrainingSimilarity(ctx, encoder, { ...args, B: 1, lengths: [2] }, ZERO, {}, [])).rejects.toThrow(/B must be >= 2/);
    ctx.pool.release(small);
  });

  it('the float64 reference refuses B = 1 too', () => {
    const one = randomBatch(33, 1, 4, [2], 3, 8);
    expect(() => naafTrainingSimilarityRef(one, ZERO)).toThrow(/B must be >= 2/);
  });
});
