// Bad input: each a clear Error naming the argument, the expectation and what was given, and
// nothing computed.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { ScorePlan, chunkLimits } from '../../src/similarity/plan.js';
import { resolveOptions } from '../../src/similarity/validate.js';
import { sharedEngine } from '../gpu.js';
import { captions, describeBadInput, images, naaf, rejectsOn } from '../badInput.js';

const engine = await sharedEngine();
const rejects = (imgs: unknown, caps: unknown, options: unknown, message: RegExp) => rejectsOn(engine, imgs, caps, options, message);

describeBadInput('WebGPU', engine);

describe('bad input on WebGPU only', () => {
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
