// Bad input: each a clear Error naming the argument, the expectation and what was given, and
// nothing computed.
import { describe, expect, it } from 'vitest';
import type { CaptionInput, ImageInput, SimilarityOptions } from '../../src/types.js';
import type { GpuContext } from '../../src/gpu/context.js';
import { ScorePlan, chunkLimits } from '../../src/similarity/plan.js';
import { resolveOptions } from '../../src/similarity/validate.js';
import { sharedEngine } from '../gpu.js';
import { randomBatch } from '../random.js';

const engine = await sharedEngine();
const b = randomBatch(31, 2, 4, [2, 3], 3, 8);
const images: ImageInput = { data: b.images, shape: [2, 4, 8] };
const captions: CaptionInput = { data: b.captions, shape: [2, 3, 8], lengths: [2, 3] };
const naaf: SimilarityOptions = { method: 'naaf', threshold: 0.3 };

async function rejects(imgs: unknown, caps: unknown, options: unknown, message: RegExp) {
  const before = engine.stats();
  await expect(engine.similarity(imgs as ImageInput, caps as CaptionInput, options as SimilarityOptions)).rejects.toThrow(message);
  const after = engine.stats();
  expect(after.dispatches).toBe(before.dispatches);
  expect(after.submits).toBe(before.submits);
}

describe('bad input is rejected with a clear error', () => {
  it('data length not matching the shape', async () => {
    await rejects({ data: b.images.subarray(1), shape: [2, 4, 8] }, captions, naaf,
      /images\.data has 63 values, expected 64 for shape \[2, 4, 8\]/);
    await rejects(images, { ...captions, data: new Float32Array(5) }, naaf, /captions\.data has 5 values, expected 48/);
  });

  it('malformed shapes, non-Float32Array data and empty batches', async () => {
    await rejects({ data: b.images, shape: [2, 32] }, captions, naaf, /images\.shape must be \[N, R, D\].*got \[2, 32\]/);
    await rejects({ data: b.images, shape: [2, 4.5, 8] }, captions, naaf, /images\.shape must be/);
    await rejects({ data: Array.from(b.images), shape: [2, 4, 8] }, captions, naaf, /images\.data must be a Float32Array, got \[object Array\]/);
    await rejects({ data: new Float32Array(0), shape: [0, 4, 8] }, captions, naaf, /images\.shape \[N, R, D\] has N = 0: empty batch/);
    await rejects(images, { data: new Float32Array(0), shape: [0, 3, 8], lengths: [] }, naaf, /captions\.shape \[M, L, D\] has M = 0: empty batch/);
    await rejects({ data: new Float32Array(0), shape: [2, 0, 8] }, captions, naaf, /every size >= 1/);
  });

  it('D differing between images and captions', async () => {
    await rejects(images, { data: new Float32Array(2 * 3 * 4), shape: [2, 3, 4], lengths: [2, 3] }, naaf,
      /captions\.shape D = 4 must equal images\.shape D = 8/);
  });

  it('lengths: wrong count, < 1, > L, not an integer', async () => {
    await rejects(images, { ...captions, lengths: [2] }, naaf, /captions\.lengths has 1 entries, expected M = 2/);
    await rejects(images, { ...captions, lengths: [0, 3] }, naaf, /captions\.lengths\[0\] must be an integer in \[1, L = 3\], got 0/);
    await rejects(images, { ...captions, lengths: [2, 4] }, naaf, /captions\.lengths\[1\] must be an integer in \[1, L = 3\], got 4/);
    await rejects(images, { ...captions, lengths: [2, 2.5] }, naaf, /lengths\[1\].*got 2\.5/);
    await rejects(images, { data: b.captions, shape: [2, 3, 8] }, naaf, /captions\.lengths must be an array of M = 2 integers/);
  });

  it('NaN or Inf in any input, with its position', async () => {
    const badImages = b.images.slice();
    badImages[4 * 8 + 2 * 8 + 5] = NaN;
    await rejects({ data: badImages, shape: [2, 4, 8] }, captions, naaf, /images\.data must be finite, got NaN at \[1, 2, 5\]/);
    const badCaptions = b.captions.slice();
    badCaptions[7] = -Infinity;
    await rejects(images, { ...captions, data: badCaptions }, naaf, /captions\.data must be finite, got -Infinity at \[0, 0, 7\]/);
  });

  it('unknown method, aggregation or option', async () => {
    await rejects(images, captions, { method: 'vse' }, /options\.method must be 'naaf', 'scan-t2i', 'scan-i2t' or 'chan', got "vse"/);
    await rejects(images, captions, undefined, /options must be an object with a method/);
    await rejects(images, captions, { method: 'scan-t2i', aggregation: 'max' }, /options\.aggregation must be 'lse' or 'mean', got "max"/);
    await rejects(images, captions, { method: 'scan-t2i', threshold: 0.3 }, /unknown option "threshold" for method 'scan-t2i'/);
    await rejects(images, captions, { method: 'naaf', threshold: 0.3, lamdaSoftmax: 9 }, /unknown option "lamdaSoftmax"/);
  });

  it('non-finite threshold or lambda', async () => {
    await rejects(images, captions, { method: 'naaf' }, /options\.threshold must be a finite number.*got undefined/);
    await rejects(images, captions, { method: 'naaf', threshold: NaN }, /options\.threshold must be a finite number.*got NaN/);
    await rejects(images, captions, { method: 'naaf', threshold: 0.3, lambdaSoftmax: Infinity }, /options\.lambdaSoftmax must be a finite number > 0, got Infinity/);
    await rejects(images, captions, { method: 'naaf', threshold: 0.3, lambdaIntra: -1 }, /options\.lambdaIntra must be a finite number > 0, got -1/);
    await rejects(images, captions, { method: 'scan-i2t', lambdaLse: NaN }, /options\.lambdaLse must be a finite number > 0, got NaN/);
    await rejects(images, captions, { method: 'naaf', threshold: 0.3, maxImagesPerChunk: 0 }, /options\.maxImagesPerChunk must be an integer >= 1, got 0/);
  });

  it('GPU buffers that are too small, misaligned or lack STORAGE', async () => {
    const device = engine.device;
    const small = device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE });
    const noStorage = device.createBuffer({ size: 1024, usage: GPUBufferUsage.COPY_DST });
    await rejects({ buffer: small, shape: [2, 4, 8] }, captions, naaf, /images\.buffer holds 64 bytes, expected at least 256/);
    await rejects({ buffer: noStorage, shape: [2, 4, 8] }, captions, naaf, /images\.buffer must have usage STORAGE/);
    await rejects({ buffer: small, shape: [1, 1, 8], offset: 2 }, captions, naaf, /images\.offset must be a non-negative multiple of 4/);
    await expect(engine.similarityInto(images, captions, naaf, { buffer: small, offset: 60 })).rejects.toThrow(
      /output\.buffer holds 64 bytes, expected at least 76/);
    small.destroy();
    noStorage.destroy();
  });

  it('sizes that cannot fit even when tiled', async () => {
    const limits = engine.device.limits;
    // One caption row longer than a workgroup's memory can hold next to the regions: the fused
    // kernel cannot take R = 2000 (the split kernel can); neither can take R = 20000, so the
    // default (split) falls back to fused and reports that.
    const caption = { data: new Float32Array(600), shape: [1, 600, 1], lengths: [600] };
    for (const [R, options] of [[2000, { ...naaf, kernel: 'fused' }], [20000, naaf]] as const) {
      await rejects({ data: new Float32Array(R), shape: [1, R, 1] }, caption, options,
        new RegExp(`regions R=${R} with captions of up to L=600 words need \\d+ bytes of workgroup memory.*maxComputeWorkgroupStorageSize ${limits.maxComputeWorkgroupStorageSize}`));
    }
    await rejects({ data: new Float32Array(20000), shape: [1, 20000, 1] }, caption, { ...naaf, kernel: 'split' },
      new RegExp(`split kernel with regions R=20000 and captions of up to L=600 words needs \\d+ bytes of workgroup memory.*maxComputeWorkgroupStorageSize ${limits.maxComputeWorkgroupStorageSize}`));
    // Binding and buffer limits, on a small pretend device: planning needs only the limits.
    const tiny = { limits: { maxStorageBufferBindingSize: 1280, minStorageBufferOffsetAlignment: 256, maxComputeWorkgroupsPerDimension: 65535, maxBufferSize: 4096 } } as unknown as GpuContext;
    const plan = (N: number, R: number, D: number, M: number, L: number) =>
      chunkLimits(tiny, { format: 'f32' } as ScorePlan, { N, R, D, M, L }, resolveOptions({ ...naaf }));
    // (1280-256) / (R*D*4 = 128) = 8 images, / (L*D*4 = 96) = 10 captions; larger calls run in blocks (test/ops/limits.test.ts).
    expect(plan(10, 4, 8, 20, 3)).toEqual({ imagesPerChunk: 8, captionsPerChunk: 10, wordsPerChunk: Infinity });
    expect(() => plan(1, 40, 8, 2, 2)).toThrow(/cannot fit this device even when tiled: one image \[R=40, D=8\] needs 1280 bytes.*maxStorageBufferBindingSize is 1280/);
  });
});
