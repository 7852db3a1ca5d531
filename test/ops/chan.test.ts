// CHAN (src/methods/chan.ts), added through the registry alone: the split kernel and the
// backward (split and fused) against the float64 reference, central finite differences, and a
// worked example whose numbers come from running the original code (ppanzx/CHAN lib/coding.py
// and lib/loss.py, CPU, by hand-checked inputs); then `naaf train` and `naaf eval --method chan`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { chanSimilarityRef } from '../../src/ref/chan.js';
import type { RefBatch } from '../../src/ref/naaf.js';
import { ScoreBackwardRefOptions, scoreBackwardRef, scoreForwardRef } from '../../src/ref/scoreBackward.js';
import type { SimilarityOptions } from '../../src/types.js';
import { BackwardBatch, runScoreBackward } from '../backward.js';
import { maxAbsDiff } from '../fixtures.js';
import { sharedEngine } from '../gpu.js';
import { randomBatch, rng } from '../random.js';
import { writeSyntheticDataset } from '../train/dataset.js';

const engine = await sharedEngine();
const ctx = (engine as unknown as { ctx: GpuContext }).ctx;

function inputs(b: RefBatch & { images: Float32Array; captions: Float32Array; lengths: Int32Array | number[] }) {
  return [{ data: b.images, shape: [b.N, b.R, b.D] as const }, { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths }] as const;
}

/** Example B of the CHAN study: 2 images of 3 regions, 2 captions (2 and 1 words), D = 2, unit vectors. */
const exampleB = {
  N: 2, R: 3, M: 2, L: 2, D: 2,
  images: Float32Array.from([1, 0, 0, 1, 0.6, 0.8, /* image 1 */ 0.8, 0.6, -1, 0, 0, 0]),
  captions: Float32Array.from([1, 0, 0, 1, /* caption 1 */ 0.6, -0.8, 0, 0]),
  lengths: Int32Array.from([2, 1]),
};

function gpuBackward(b: BackwardBatch, options: ScoreBackwardRefOptions, grads: ArrayLike<number>, kernel: 'split' | 'fused') {
  return runScoreBackward(ctx, b, options, grads, undefined, { kernel });
}

/** The smallest gap between a word's best and second-best region (the max's kink). */
function argmaxGap(b: ReturnType<typeof randomBatch>): number {
  let worst = Infinity;
  for (let n = 0; n < b.N; n++) for (let m = 0; m < b.M; m++) for (let w = 0; w < b.lengths[m]; w++) {
    const s = Array.from({ length: b.R }, (_, r) => {
      let dot = 0;
      for (let d = 0; d < b.D; d++) dot += b.captions[(m * b.L + w) * b.D + d] * b.images[(n * b.R + r) * b.D + d];
      return dot;
    }).sort((x, y) => y - x);
    if (b.R > 1) worst = Math.min(worst, s[0] - s[1]);
  }
  return worst;
}

function awayFromKinks(seed: number, make: (s: number) => ReturnType<typeof randomBatch>, gap: number) {
  for (let s = seed; s < seed + 200; s++) {
    const b = make(s);
    if (argmaxGap(b) > gap) return b;
  }
  throw new Error('no batch away from the kinks');
}

describe('CHAN forward', () => {
  it('the original code\'s numbers (example B): LSE with belta 0.1, and the mean', async () => {
    const [images, captions] = inputs(exampleB);
    const lse = await engine.similarity(images, captions, { method: 'chan' });
    expect(maxAbsDiff(lse, [10 + Math.log(2), 6, 8 + Math.log(1 + Math.exp(-2)), 0])).toBeLessThan(1e-5);
    const mean = await engine.similarity(images, captions, { method: 'chan', pooling: 'mean' });
    expect(maxAbsDiff(mean, [1, 0.6, 0.7, 0])).toBeLessThan(1e-6);
    expect(maxAbsDiff(chanSimilarityRef(exampleB), [10.693147, 6, 8.126928, 0])).toBeLessThan(1e-6);
  });

  it('split kernel against the float64 reference: LSE (belta 0.1, 0.5) and mean, R = 36 and R = 7, odd D, a tile of many captions', async () => {
    const cases: [ReturnType<typeof randomBatch>, SimilarityOptions][] = [];
    const big = randomBatch(51, 3, 36, [6, 2, 1, 4, 5, 3, 6, 6, 2], 6, 24);
    const odd = randomBatch(52, 4, 7, [3, 5], 5, 13);
    for (const b of [big, odd]) {
      cases.push([b, { method: 'chan' }], [b, { method: 'chan', belta: 0.5 }], [b, { method: 'chan', pooling: 'mean' }]);
    }
    for (const [b, options] of cases) {
      const [images, captions] = inputs(b);
      const gpu = await engine.similarity(images, captions, options);
      const o = options as { pooling?: 'lse' | 'mean'; belta?: number };
      expect(maxAbsDiff(gpu, chanSimilarityRef(b, o)), JSON.stringify(options)).toBeLessThan(1e-5 * (o.pooling === 'mean' ? 1 : 10));
    }
  });

  it('refuses the fused kernel and bad options by name', async () => {
    const [images, captions] = inputs(exampleB);
    await expect(engine.similarity(images, captions, { method: 'chan', kernel: 'fused' })).rejects.toThrow(/method 'chan' has no fused kernel/);
    await expect(engine.similarity(images, captions, { method: 'chan', pooling: 'max' } as never)).rejects.toThrow(/options\.pooling must be 'lse' or 'mean', got "max"/);
    await expect(engine.similarity(images, captions, { method: 'chan', belta: 0 })).rejects.toThrow(/options\.belta must be a finite number > 0, got 0/);
    await expect(engine.similarity(images, captions, { method: 'chan', threshold: 0.1 } as never)).rejects.toThrow(/unknown option "threshold" for method 'chan'/);
  });
});

describe('CHAN backward', () => {
  it('the original code\'s gradients (example B, dL/dS of its hinge loss, margin 0.05)', async () => {
    const grads = [0, 1, 1, -2]; // image-major: S01 and S10 violate, S11 (the diagonal) twice
    const p = 1 / (1 + Math.exp(-2));
    const expectedImages = [6, -8, 0, 0, 0, 0, /* image 1 */ 10 * p - 12, 10 * (1 - p) + 16, 0, 0, 0, 0];
    const expectedCaptions = [10 * p * 0.8, 10 * p * 0.6, 10 * (1 - p) * 0.8, 10 * (1 - p) * 0.6, /* caption 1 */ -6, -12, 0, 0];
    const ref = scoreBackwardRef(exampleB, { method: 'chan', lambdaSoftmax: 10, lse: true }, grads);
    expect(maxAbsDiff(ref.gradImages, expectedImages)).toBeLessThan(1e-6);
    expect(maxAbsDiff(ref.gradCaptions, expectedCaptions)).toBeLessThan(1e-6);
    // The study's printed values: image 1's region 1 (-3.192, 17.192), caption 0's words (7.0464, 5.2848), (0.9536, 0.7152).
    expect(maxAbsDiff([ref.gradImages[6], ref.gradImages[7], ref.gradCaptions[0], ref.gradCaptions[1]], [-3.192, 17.192, 7.0464, 5.2848])).toBeLessThan(1e-3);
    for (const kernel of ['split', 'fused'] as const) {
      const gpu = await gpuBackward(exampleB, { method: 'chan', lambdaSoftmax: 10, lse: true }, grads, kernel);
      expect(maxAbsDiff(gpu.gradImages, expectedImages), kernel).toBeLessThan(1e-4);
      expect(maxAbsDiff(gpu.gradCaptions, expectedCaptions), kernel).toBeLessThan(1e-4);
    }
  });

  it('float64 reference against central finite differences (LSE and mean)', () => {
    const b = awayFromKinks(60, (s) => randomBatch(s, 2, 5, [4, 2, 1], 4, 6), 1e-3);
    const images = Float64Array.from(b.images);
    const captions = Float64Array.from(b.captions);
    const batch: RefBatch = { ...b, images, captions };
    const next = rng(8);
    const grads = Float64Array.from({ length: b.N * b.M }, () => 2 * next() - 1);
    for (const options of [{ method: 'chan', lambdaSoftmax: 10, lse: true }, { method: 'chan', lambdaSoftmax: 10, lse: false }] as ScoreBackwardRefOptions[]) {
      const { gradImages, gradCaptions } = scoreBackwardRef(batch, options, grads);
      const objective = () => scoreForwardRef(batch, options).reduce((sum, x, i) => sum + grads[i] * x, 0);
      const h = 1e-6;
      const fd = (data: Float64Array) => Float64Array.from(data, (x, i) => {
        data[i] = x + h;
        const up = objective();
        data[i] = x - h;
        const down = objective();
        data[i] = x;
        return (up - down) / (2 * h);
      });
      expect(maxAbsDiff(gradImages, fd(images)), `lse ${options.lse} dV`).toBeLessThan(1e-5);
      expect(maxAbsDiff(gradCaptions, fd(captions)), `lse ${options.lse} dU`).toBeLessThan(1e-5);
    }
  });

  it('GPU (split and fused, several caption tiles, R = 36) against the float64 reference; padding written 0', async () => {
    const lengths = [6, 5, 6, 4, 6, 3, 6, 5, 2, 6, 6, 4];
    const b = awayFromKinks(70, (s) => randomBatch(s, 3, 36, lengths, 6, 24), 1e-4);
    const next = rng(9);
    const grads = Float32Array.from({ length: b.N * b.M }, () => 2 * next() - 1);
    for (const options of [{ method: 'chan', lambdaSoftmax: 10, lse: true }, { method: 'chan', lambdaSoftmax: 2, lse: false }] as ScoreBackwardRefOptions[]) {
      const ref = scoreBackwardRef(b, options, grads);
      const scale = Math.max(1, ...ref.gradImages.map(Math.abs), ...ref.gradCaptions.map(Math.abs));
      for (const kernel of ['split', 'fused'] as const) {
        const gpu = await gpuBackward(b, options, grads, kernel);
        expect(maxAbsDiff(gpu.gradImages, ref.gradImages) / scale, `${kernel} lse ${options.lse} dV`).toBeLessThan(1e-5);
        expect(maxAbsDiff(gpu.gradCaptions, ref.gradCaptions) / scale, `${kernel} lse ${options.lse} dU`).toBeLessThan(1e-5);
        for (let m = 0; m < b.M; m++) {
          expect(gpu.gradCaptions.subarray((m * b.L + b.lengths[m]) * b.D, (m + 1) * b.L * b.D).every((x) => x === 0), `${kernel} padding of ${m}`).toBe(true);
        }
      }
    }
  });
});

describe('CHAN through the CLI', () => {
  it('naaf train --method chan trains with its own defaults (margin 0.05, a warm-up epoch), and naaf eval --method chan evaluates it', () => {
    const root = mkdtempSync(join(tmpdir(), 'naaf-chan-'));
    const data = join(root, 'data');
    writeSyntheticDataset(data, { train: 40, dev: 20, regions: 4, imgDim: 12, concepts: 8, seed: 21 });
    const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
    const out = join(root, 'run');
    const train = spawnSync(process.execPath, [cli, 'train', '--data', data, '--out', out, '--method', 'chan', '--epochs', '3', '--batch-size', '16',
      '--embed-size', '16', '--word-dim', '8', '--lr', '5e-3'], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
    expect(train.status, train.stderr).toBe(0);
    const rsums = [...train.stdout.matchAll(/^epoch \d+: .*dev rsum ([\d.]+)/gm)].map((m) => Number(m[1]));
    expect(rsums.length).toBe(3);
    const evalRun = spawnSync(process.execPath, [cli, 'eval', '--data', data, '--split', 'dev', '--checkpoint', join(out, 'model_best.safetensors'), '--method', 'chan', '--json'], { encoding: 'utf8' });
    expect(evalRun.status, evalRun.stderr).toBe(0);
    expect(JSON.parse(evalRun.stdout).rsum).toBeCloseTo(Math.max(...rsums), 1);
    const bad = spawnSync(process.execPath, [cli, 'train', '--data', data, '--out', out, '--method', 'vse'], { encoding: 'utf8' });
    expect(bad.stderr).toMatch(/--method must be naaf, scan-t2i, scan-i2t or chan, got vse/);
  });
});
