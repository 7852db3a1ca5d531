// GPU-buffer inputs and outputs (embedding in other GPU apps), and stats() across calls.
import { describe, expect, it } from 'vitest';
import { naafSimilarityRef } from '../../src/ref/naaf.js';
import { maxAbsDiff } from '../fixtures.js';
import { sharedEngine } from '../gpu.js';
import { randomBatch } from '../random.js';

const engine = await sharedEngine();
const device = engine.device;

function gpuBuffer(data: Float32Array, padFloats = 0): GPUBuffer {
  const buffer = device.createBuffer({ size: (data.length + padFloats) * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buffer, padFloats * 4, data);
  return buffer;
}

async function readBuffer(buffer: GPUBuffer, offset: number, count: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: count * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, offset, staging, 0, count * 4);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return out;
}

describe('GPU buffers in and out', () => {
  const b = randomBatch(21, 3, 36, [4, 2, 5, 3], 5, 16);
  const options = { method: 'naaf' as const, threshold: 0.25 };
  const expected = naafSimilarityRef(b, options);

  it('reads images and captions from caller buffers (with offsets) and returns the result', async () => {
    const images = gpuBuffer(b.images, 3); // offset 12 bytes: not aligned to 256
    const captions = gpuBuffer(b.captions);
    const sims = await engine.similarity(
      { buffer: images, offset: 12, shape: [b.N, b.R, b.D] },
      { buffer: captions, shape: [b.M, b.L, b.D], lengths: b.lengths },
      options,
    );
    expect(maxAbsDiff(sims, expected)).toBeLessThan(1e-5);
    images.destroy();
    captions.destroy();
  });

  it('writes into a caller buffer at an offset, without a readback, also when chunked', async () => {
    const images = gpuBuffer(b.images);
    const captions = gpuBuffer(b.captions);
    const out = device.createBuffer({ size: 4 * (b.N * b.M + 10), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    for (const chunks of [{}, { maxImagesPerChunk: 1, maxCaptionsPerChunk: 2 }]) {
      const readbacks = engine.stats().readbacks;
      await engine.similarityInto(
        { buffer: images, shape: [b.N, b.R, b.D] },
        { buffer: captions, shape: [b.M, b.L, b.D], lengths: b.lengths },
        { ...options, ...chunks },
        { buffer: out, offset: 40 },
      );
      expect(engine.stats().readbacks).toBe(readbacks);
      expect(maxAbsDiff(await readBuffer(out, 40, b.N * b.M), expected)).toBeLessThan(1e-5);
    }
    for (const buffer of [images, captions, out]) buffer.destroy();
  });

  it('stats() shows no growth over repeated calls', async () => {
    const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
    const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
    await engine.similarity(images, captions, options);
    const before = engine.stats();
    for (let i = 0; i < 4; i++) await engine.similarity(images, captions, options);
    const after = engine.stats();
    expect(after.bytesAllocated).toBe(before.bytesAllocated);
    expect(after.buffersAllocated).toBe(before.buffersAllocated);
    expect(after.pipelinesCompiled).toBe(before.pipelinesCompiled);
    expect(after.buffersInUse).toBe(0);
    expect(after.bytesPooled).toBe(after.bytesAllocated);
    // NAAF: word gram + region gram + the split kernel's GEMM and epilogue, one submit and one readback per call.
    expect(after.dispatches - before.dispatches).toBe(4 * 4);
    expect(after.submits - before.submits).toBe(4);
    expect(after.readbacks - before.readbacks).toBe(4);
    engine.trim();
    expect(engine.stats().bytesAllocated).toBe(0);
  });
});
