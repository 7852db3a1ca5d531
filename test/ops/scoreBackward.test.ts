// The score backward, split (GEMMs + epilogue, the default) and fused: (a) the float64 reference gradients against central finite
// differences of the float64 forward references, (b) the GPU kernels against the reference,
// (c) float32 finite differences of the GPU forward against the GPU backward.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { BackwardMethod, ScoreBackwardArgs, chooseScoreBackwardConfig, encodeScoreBackward } from '../../src/ops/scoreBackward.js';
import { wordRegionSims } from '../../src/ref/common.js';
import type { RefBatch } from '../../src/ref/naaf.js';
import { ScoreBackwardRefOptions, scoreBackwardRef, scoreForwardRef } from '../../src/ref/scoreBackward.js';
import type { SimilarityOptions } from '../../src/types.js';
import { maxAbsDiff } from '../fixtures.js';
import { BackwardVariant, runScoreBackward } from '../backward.js';
import { ALL_VARIANTS, sharedEngine } from '../gpu.js';
import { RandomBatch, randomBatch, rng } from '../random.js';

const engine = await sharedEngine();
const ctx = (engine as unknown as { ctx: GpuContext }).ctx;

interface Case {
  label: string;
  options: ScoreBackwardRefOptions;
}

const f32 = (values: number[]) => values.map(Math.fround);

/** Distance of the data to the kinks of the score: |s - t| (NAAF masks), the argmax gap, |s| (LeakyReLU). */
function margin(b: RefBatch, options: ScoreBackwardRefOptions): number {
  let worst = Infinity;
  for (let n = 0; n < b.N; n++) {
    for (let m = 0; m < b.M; m++) {
      const s = wordRegionSims(b.images, n, b.R, b.captions, m, b.L, b.lengths[m], b.D);
      for (let w = 0; w < b.lengths[m]; w++) {
        const row = Array.from(s.subarray(w * b.R, (w + 1) * b.R)).sort((x, y) => y - x);
        for (const x of row) {
          worst = Math.min(worst, Math.abs(x));
          if (options.method === 'naaf-train') worst = Math.min(worst, Math.abs(x - options.thresholds![m]));
        }
        if ((options.method === 'naaf-train' || options.method === 'chan') && b.R > 1) worst = Math.min(worst, row[0] - row[1]);
      }
    }
  }
  return worst;
}

/** The first batch from seed, seed + 1, ... whose data stays `minMargin` away from every kink. */
function batchAwayFromKinks(seed: number, minMargin: number, options: ScoreBackwardRefOptions[],
  make: (seed: number) => RandomBatch): RandomBatch {
  for (let s = seed; s < seed + 200; s++) {
    const b = make(s);
    if (options.every((o) => margin(b, o) > minMargin)) return b;
  }
  throw new Error(`no batch from seed ${seed} keeps a margin of ${minMargin} from the kinks`);
}

function randomGrads(seed: number, count: number): Float64Array {
  const next = rng(seed);
  return Float64Array.from({ length: count }, () => Math.fround(2 * next() - 1));
}

function maxAbs(values: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(values[i]));
  return worst;
}

describe('float64 reference gradients against central finite differences', () => {
  const cases: Case[] = [
    { label: 'naaf-train, per-caption thresholds (one high: words with no region above it)', options: { method: 'naaf-train', thresholds: [0.1, 0.35, 0, 0.95], lambdaSoftmax: 20 } },
    { label: 'scan-t2i LSE', options: { method: 'scan-t2i', lambdaSoftmax: 9, lse: true, lambdaLse: 6 } },
    { label: 'scan-t2i mean', options: { method: 'scan-t2i', lambdaSoftmax: 9, lse: false } },
    { label: 'scan-i2t LSE', options: { method: 'scan-i2t', lambdaSoftmax: 4, lse: true, lambdaLse: 5 } },
    { label: 'scan-i2t mean', options: { method: 'scan-i2t', lambdaSoftmax: 4, lse: false } },
  ];
  for (const { label, options } of cases) {
    it(label, () => {
      const b = batchAwayFromKinks(100, 1e-3, [options], (s) => randomBatch(s, 2, 5, [4, 2, 1, 3], 4, 6));
      const images = Float64Array.from(b.images);
      const captions = Float64Array.from(b.captions);
      const batch: RefBatch = { ...b, images, captions };
      const grads = randomGrads(7, b.N * b.M);
      const { scores, gradImages, gradCaptions } = scoreBackwardRef(batch, options, grads);
      expect(maxAbsDiff(scores, scoreForwardRef(batch, options))).toBeLessThan(1e-12);

      const objective = () => scoreForwardRef(batch, options).reduce((sum, x, i) => sum + grads[i] * x, 0);
      const h = 1e-6;
      const finiteDifferences = (data: Float64Array) => Float64Array.from(data, (x, i) => {
        data[i] = x + h;
        const up = objective();
        data[i] = x - h;
        const down = objective();
        data[i] = x;
        return (up - down) / (2 * h);
      });
      const errImages = maxAbsDiff(gradImages, finiteDifferences(images));
      const errCaptions = maxAbsDiff(gradCaptions, finiteDifferences(captions));
      console.log(`[ref vs FD] ${label}: |grad| max ${maxAbs(gradImages).toFixed(3)} / ${maxAbs(gradCaptions).toFixed(3)}, ` +
        `err dV ${errImages.toExponential(2)}, dU ${errCaptions.toExponential(2)}`);
      expect(errImages).toBeLessThan(1e-6);
      expect(errCaptions).toBeLessThan(1e-6);
    });
  }
});

/** The score backward on this file's engine (test/backward.ts). */
function gpuBackward(b: RandomBatch, options: ScoreBackwardRefOptions, grads: ArrayLike<number>, groups?: ScoreBackwardArgs['groups'], variant: BackwardVariant = {}) {
  return runScoreBackward(ctx, b, options, grads, groups, variant);
}

/** GPU against the float64 reference; returns the errors relative to the largest gradient. */
async function expectMatchesReference(b: RandomBatch, options: ScoreBackwardRefOptions, label: string, tolerance = 1e-5, groups?: ScoreBackwardArgs['groups'], variant: BackwardVariant = {}) {
  const grads = randomGrads(b.N * 31 + b.M, b.N * b.M);
  const ref = scoreBackwardRef(b, options, grads);
  const gpu = await gpuBackward(b, options, grads, groups, variant);
  const scale = Math.max(1, maxAbs(ref.gradImages), maxAbs(ref.gradCaptions));
  const errImages = maxAbsDiff(gpu.gradImages, ref.gradImages) / scale;
  const errCaptions = maxAbsDiff(gpu.gradCaptions, ref.gradCaptions) / scale;
  console.log(`[gpu vs ref] ${label}: scale ${scale.toFixed(3)}, rel err dV ${errImages.toExponential(2)}, dU ${errCaptions.toExponential(2)}`);
  for (let m = 0; m < b.M; m++) {
    const padding = gpu.gradCaptions.subarray((m * b.L + b.lengths[m]) * b.D, (m + 1) * b.L * b.D);
    expect(padding.every((x) => x === 0), `padding of caption ${m} is 0`).toBe(true);
  }
  expect(errImages, `${label}: dV`).toBeLessThan(tolerance);
  expect(errCaptions, `${label}: dU`).toBeLessThan(tolerance);
}

function scanCases(): ScoreBackwardRefOptions[] {
  return [
    { method: 'scan-t2i', lambdaSoftmax: 9, lse: true, lambdaLse: 6 },
    { method: 'scan-t2i', lambdaSoftmax: 9, lse: false },
    { method: 'scan-i2t', lambdaSoftmax: 4, lse: true, lambdaLse: 5 },
    { method: 'scan-i2t', lambdaSoftmax: 4, lse: false },
  ];
}

const label = (o: ScoreBackwardRefOptions) =>
  o.method === 'naaf-train' ? `naaf-train t=[${Array.from(o.thresholds!, (t) => t.toFixed(2)).join(', ')}]` : `${o.method} ${o.lse ? 'LSE' : 'mean'}`;

describe('GPU backward against the float64 reference', () => {
  it('NAAF: thresholds 0, moderate and high; 1-, 2-word and full-length captions; N != M', async () => {
    const options: ScoreBackwardRefOptions[] = [
      { method: 'naaf-train', thresholds: f32([0, 0.3, 0.93, 0.5]), lambdaSoftmax: 20 },
      { method: 'naaf-train', thresholds: f32([0.2, 0.2, 0.2, 0.2]), lambdaSoftmax: 9 },
    ];
    const b = batchAwayFromKinks(200, 1e-4, options, (s) => randomBatch(s, 3, 36, [6, 2, 1, 4], 6, 24));
    for (const o of options) await expectMatchesReference(b, o, `R=36 D=24 ${label(o)}`);
  });

  it('SCAN t2i and i2t, LSE and mean; 1-, 2-word and full-length captions; N != M', async () => {
    const b = batchAwayFromKinks(300, 1e-4, scanCases(), (s) => randomBatch(s, 3, 36, [6, 2, 1, 4], 6, 24));
    for (const o of scanCases()) await expectMatchesReference(b, o, `R=36 D=24 ${label(o)}`);
  });

  it('odd D and R != 36 (R = 7, D = 13; R = 1, D = 3)', async () => {
    const options = [{ method: 'naaf-train', thresholds: f32([0.25, 0.6]), lambdaSoftmax: 20 } as const, ...scanCases()];
    const b = batchAwayFromKinks(400, 1e-4, options, (s) => randomBatch(s, 4, 7, [3, 5], 5, 13));
    for (const o of options) await expectMatchesReference(b, o, `R=7 D=13 ${label(o)}`);
    // R = 1: NAAF and one aggregation per SCAN direction (every one with ALL_VARIANTS; each is a lavapipe compile).
    const tinyOptions = ALL_VARIANTS ? options : [options[0], options[1], options[4]];
    const tiny = batchAwayFromKinks(500, 1e-4, tinyOptions, (s) => randomBatch(s, 2, 1, [2, 3], 3, 3));
    for (const o of tinyOptions) await expectMatchesReference(tiny, o, `R=1 D=3 ${label(o)}`);
  });

  it('several caption tiles, D over several staged chunks, a 40-word caption', async () => {
    const lengths = [6, 5, 6, 4, 6, 3, 6, 5, 2, 6, 6, 4];
    const options = [{ method: 'naaf-train', thresholds: f32(lengths.map((_, i) => 0.05 * (i % 7))), lambdaSoftmax: 20 } as const, ...scanCases()];
    const b = batchAwayFromKinks(600, 1e-4, options, (s) => randomBatch(s, 2, 36, lengths, 6, 70));
    for (const o of options) await expectMatchesReference(b, o, `M=12 D=70 ${label(o)}`);
    const long = [{ method: 'naaf-train', thresholds: f32([0.3, 0.1]), lambdaSoftmax: 20 } as const, scanCases()[0], scanCases()[2]];
    const lb = batchAwayFromKinks(700, 1e-4, long, (s) => randomBatch(s, 2, 9, [40, 3], 40, 8));
    for (const o of long) await expectMatchesReference(lb, o, `L=40 R=9 ${label(o)}`);
  });

  it('the fused kernels (the fallback) against the reference, every method', async () => {
    const options = [{ method: 'naaf-train', thresholds: f32([0, 0.3, 0.93, 0.5]), lambdaSoftmax: 20 } as const, scanCases()[0], scanCases()[3]];
    const b = batchAwayFromKinks(300, 1e-4, options, (s) => randomBatch(s, 3, 36, [6, 2, 1, 4], 6, 24));
    for (const o of options) await expectMatchesReference(b, o, `fused R=36 D=24 ${label(o)}`, 1e-5, undefined, { kernel: 'fused' });
  });

  it('loops split over groups of workgroups (partials, then the reduction) give the same gradients, fused and split', async () => {
    // The tile shape of the test above (R = 36, captions of up to 6 words): its pipelines are compiled already.
    const lengths = [6, 5, 6, 4, 6, 3, 6, 5, 2, 6, 6, 4];
    const options = [{ method: 'naaf-train', thresholds: f32(lengths.map((_, i) => 0.05 * (i % 7))), lambdaSoftmax: 20 } as const, scanCases()[0], scanCases()[2]];
    const b = batchAwayFromKinks(800, 1e-4, options, (s) => randomBatch(s, 5, 36, lengths, 6, 24));
    // 5 images in 3 groups (2, 2, 1) on the caption side; the caption tiles in 2 on the image side.
    for (const o of options) await expectMatchesReference(b, o, `split groups 3/2 ${label(o)}`, 1e-5, { captions: 3, images: 2 });
    for (const o of options.slice(0, 1)) await expectMatchesReference(b, o, `fused groups 3/2 ${label(o)}`, 1e-5, { captions: 3, images: 2 }, { kernel: 'fused' });
  });

  it('split: several passes of images when S of all of them exceeds maxScratchBytes (dU accumulated, dW kept across passes)', async () => {
    const lengths = [6, 5, 6, 4, 6, 3, 6, 5, 2, 6, 6, 4];
    const options = [{ method: 'naaf-train', thresholds: f32(lengths.map((_, i) => 0.05 * (i % 7))), lambdaSoftmax: 20 } as const, ...scanCases()];
    const b = batchAwayFromKinks(850, 1e-4, options, (s) => randomBatch(s, 5, 36, lengths, 6, 24));
    // S of one image: 12 captions * 6 words * 36 regions floats; room for 2 images: passes of 2, 2, 1.
    const maxScratchBytes = 2 * 12 * 6 * 36 * 4 + 100;
    for (const o of options) await expectMatchesReference(b, o, `3 passes ${label(o)}`, 1e-5, { captions: 2, images: 2 }, { maxScratchBytes });
  });

  it("split: where S of one image does not fit, the fused kernels run, or kernel 'split' is refused", async () => {
    const o: ScoreBackwardRefOptions = { method: 'naaf-train', thresholds: f32([0, 0.3, 0.93, 0.5]), lambdaSoftmax: 20 };
    const b = batchAwayFromKinks(300, 1e-4, [o], (s) => randomBatch(s, 3, 36, [6, 2, 1, 4], 6, 24));
    await expectMatchesReference(b, o, `fallback ${label(o)}`, 1e-5, undefined, { maxScratchBytes: 1000 });
    await expect(gpuBackward(b, o, randomGrads(1, b.N * b.M), undefined, { kernel: 'split', maxScratchBytes: 1000 }))
      .rejects.toThrow(/needs 3456 bytes of S for one image \(M \* L \* R = 4 \* 6 \* 36 floats\), more than 1000 .*use args\.kernel 'fused'/);
  });

  it("the GPU's configuration (256-thread workgroups, constant region loops; lavapipe runs 64 and a uniform bound) gives the same gradients", async () => {
    const lengths = [6, 5, 6, 4, 6, 3, 6, 5, 2, 6, 6, 4];
    const options = [{ method: 'naaf-train', thresholds: f32(lengths.map((_, i) => 0.05 * (i % 7))), lambdaSoftmax: 20 } as const];
    const b = batchAwayFromKinks(900, 1e-4, options, (s) => randomBatch(s, 3, 36, lengths, 6, 24));
    // The fused kernels' constant bound compiles slowly on lavapipe: with ALL_VARIANTS (a GPU) only.
    for (const kernel of ALL_VARIANTS ? ['split', 'fused'] as const : ['split'] as const) {
      for (const o of options) await expectMatchesReference(b, o, `${kernel} WG 256 ${label(o)}`, 1e-5, { captions: 2, images: 2 }, { workgroupSize: 256, runtimeRegions: false, kernel });
    }
  });

  // NAAF's constant bound is in the test above; compiles are the cost here, so the shapes are tiny.
  // (The constant bound is what a GPU runs: there, with ALL_VARIANTS; lavapipe unrolls it slowly.)
  it.runIf(ALL_VARIANTS)('constant and uniform region-loop bounds give the same gradients for SCAN t2i and i2t', async () => {
    const lengths = [4, 2, 3];
    const options: ScoreBackwardRefOptions[] = [
      { method: 'scan-t2i', lambdaSoftmax: 9, lse: true, lambdaLse: 6 },
      { method: 'scan-i2t', lambdaSoftmax: 4, lse: false },
    ];
    const b = batchAwayFromKinks(901, 1e-4, options, (s) => randomBatch(s, 2, 3, lengths, 4, 8));
    for (const [o, kernel] of options.flatMap((o) => (['split', 'fused'] as const).map((k) => [o, k] as const))) {
      const grads = randomGrads(77, b.N * b.M);
      const constant = await gpuBackward(b, o, grads, undefined, { runtimeRegions: false, kernel });
      const uniform = await gpuBackward(b, o, grads, undefined, { runtimeRegions: true, kernel });
      expect(maxAbsDiff(constant.gradImages, uniform.gradImages), `${label(o)} dV`).toBeLessThan(1e-6);
      expect(maxAbsDiff(constant.gradCaptions, uniform.gradCaptions), `${label(o)} dU`).toBeLessThan(1e-6);
    }
  });
});

describe('GPU backward against float32 finite differences of the GPU forward', () => {
  const cases: [BackwardMethod, SimilarityOptions, ScoreBackwardRefOptions][] = [
    ['naaf-train', { method: 'naaf', threshold: 0.3, intra: false, lambdaSoftmax: 20 }, { method: 'naaf-train', thresholds: f32([0.3, 0.3, 0.3]), lambdaSoftmax: 20 }],
    ['scan-t2i', { method: 'scan-t2i', lambdaSoftmax: 9, aggregation: 'lse', lambdaLse: 6 }, { method: 'scan-t2i', lambdaSoftmax: 9, lse: true, lambdaLse: 6 }],
    ['scan-i2t', { method: 'scan-i2t', lambdaSoftmax: 4, aggregation: 'mean' }, { method: 'scan-i2t', lambdaSoftmax: 4, lse: false }],
  ];
  for (const [method, forward, backward] of cases) {
    it(method, async () => {
      const b = batchAwayFromKinks(800, 3e-3, [backward], (s) => randomBatch(s, 2, 12, [4, 2, 3], 4, 16));
      const grads = randomGrads(9, b.N * b.M);
      const gpu = await gpuBackward(b, backward, grads);
      const objective = async () => {
        const sims = await engine.similarity(
          { data: b.images, shape: [b.N, b.R, b.D] },
          { data: b.captions, shape: [b.M, b.L, b.D], lengths: b.lengths }, forward);
        return sims.reduce((sum, x, i) => sum + grads[i] * x, 0);
      };
      const h = 1e-3;
      const spots: [Float32Array, number, Float32Array][] = [
        [b.images, 5, gpu.gradImages], [b.images, 1 * 12 * 16 + 40, gpu.gradImages],
        [b.captions, 3, gpu.gradCaptions], [b.captions, (2 * 4 + 1) * 16 + 7, gpu.gradCaptions],
      ];
      for (const [data, index, analytic] of spots) {
        const x = data[index];
        data[index] = x + h;
        const up = await objective();
        const stepUp = data[index] - x;
        data[index] = x - h;
        const down = await objective();
        const stepDown = x - data[index];
        data[index] = x;
        const fd = (up - down) / (stepUp + stepDown);
        console.log(`[f32 FD] ${method} at ${index}: fd ${fd.toFixed(5)}, backward ${analytic[index].toFixed(5)}`);
        expect(Math.abs(fd - analytic[index])).toBeLessThan(2e-3 + 1e-2 * Math.abs(analytic[index]));
      }
    });
  }
});

describe('bad arguments', () => {
  it('throw errors naming the argument, the expectation and what was given', async () => {
    const acquired: GPUBuffer[] = [];
    const buffer = (floats: number) => {
      acquired.push(ctx.pool.acquire(floats * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'bad args test'));
      return acquired[acquired.length - 1];
    };
    const [N, R, M, L, D] = [2, 3, 2, 4, 50];
    const good: ScoreBackwardArgs = {
      method: 'naaf-train', N, R, M, L, D, images: buffer(N * R * D), captions: buffer(M * L * D), lengths: Int32Array.from([4, 2]),
      thresholds: buffer(M), lambdaSoftmax: 20, gradScores: buffer(N * M), gradImages: buffer(N * R * D), gradCaptions: buffer(M * L * D),
    };
    const run = (changes: Partial<ScoreBackwardArgs>) => encodeScoreBackward(ctx, ctx.createEncoder('bad args'), { ...good, ...changes }, []);
    await expect(run({ groups: { images: 0 } })).rejects.toThrow(/args\.groups\.images must be an integer >= 1, got 0/);
    await expect(run({ workgroupSize: 128 })).rejects.toThrow(/args\.workgroupSize must be 64 or 256, got 128/);
    await expect(run({ kernel: 'gemm' as 'split' })).rejects.toThrow(/args\.kernel must be 'split' or 'fused', got "gemm"/);
    await expect(run({ maxScratchBytes: 0 })).rejects.toThrow(/args\.maxScratchBytes must be an integer >= 1, got 0/);
    await expect(run({ thresholds: undefined })).rejects.toThrow(/args\.thresholds must be a GPUBuffer holding \[M\] = \[2\]/);
    await expect(run({ lengths: Int32Array.from([4, 0]) })).rejects.toThrow(/args\.lengths\[1\] must be an integer in \[1, L = 4\], got 0/);
    await expect(run({ lengths: Int32Array.from([4]) })).rejects.toThrow(/args\.lengths must hold M = 2 caption lengths, got 1/);
    await expect(run({ gradCaptions: buffer(3) })).rejects.toThrow(/args\.gradCaptions holds \d+ bytes, expected at least 1600/);
    await expect(run({ gradImages: good.images })).rejects.toThrow(/args\.gradImages must be a buffer of its own/);
    await expect(run({ method: 'naaf' as BackwardMethod })).rejects.toThrow(/args\.method must be 'naaf-train', 'scan-t2i', 'scan-i2t' or 'chan', got "naaf"/);
    await expect(run({ D: 0 })).rejects.toThrow(/args\.D must be an integer >= 1, got 0/);
    expect(() => chooseScoreBackwardConfig(36, 300, 16384)).toThrow(/R=36 with captions of up to L=300 words need \d+ bytes .* maxComputeWorkgroupStorageSize 16384/);
    acquired.forEach((b) => ctx.pool.release(b));
  });
});
