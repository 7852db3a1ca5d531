// Every public path on a device adopted with exactly WebGPU's default limits (what a browser
// page or a host app hands us: 8 storage buffers per stage, 16 KiB of workgroup memory, 128 MiB
// bindings, 256 MiB buffers), at small shapes and at R 36, D 1024; REQUIRED_LIMITS is the most
// any pipeline built here binds; and calls larger than a buffer run in blocks under a memory
// budget, submitted in bounded pieces, with the same results.
import { afterAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { pipelineResources } from '../../src/gpu/resources.js';
import { NaafEngine, REQUIRED_LIMITS, initialState } from '../../src/index.js';
import type { ModelConfig } from '../../src/model/weights.js';
import type { SimilarityOptions } from '../../src/types.js';
import { methodNames } from '../../src/methods/index.js';
import { maxAbsDiff } from '../fixtures.js';
import { ALL_VARIANTS, sharedEngine } from '../gpu.js';
import { methodReference, randomBatch, randomLengths, rng } from '../random.js';

const engine = await sharedEngine();
const ctxOf = (e: NaafEngine) => (e as unknown as { ctx: GpuContext }).ctx;
const adapter = (await ctxOf(engine).runtimeGpu()!.requestAdapter())!;
const device = await adapter.requestDevice(); // no requiredLimits: WebGPU's defaults
const small = await NaafEngine.create({ device });
afterAll(() => {
  small.destroy();
  device.destroy();
});
const METHODS: SimilarityOptions[] = [{ method: 'naaf', threshold: 0.2 }, { method: 'naaf', threshold: 0.2, intra: false }, { method: 'scan-t2i' }, { method: 'scan-i2t' }];

describe("a device with WebGPU's default limits", () => {
  it('is what the test asked for', () => {
    expect(device.limits.maxStorageBuffersPerShaderStage).toBe(8);
    expect(device.limits.maxComputeWorkgroupStorageSize).toBe(16384);
    expect(device.limits.maxBufferSize).toBe(268435456);
    expect(device.limits.maxStorageBufferBindingSize).toBe(134217728);
  });

  it('similarity: every method, kernel and precision matches the float64 reference', async () => {
    const b = randomBatch(401, 5, 9, randomLengths(402, 7, 1, 9), 9, 24);
    const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
    const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
    for (const options of METHODS) {
      for (const kernel of ['split', 'fused'] as const) {
        for (const precision of ['f32', 'f16', 'int8'] as const) {
          if (kernel === 'fused' && precision === 'f16') continue;
          // Without ALL_VARIANTS: every method's split f32 and fused int8 (the most bindings), and NAAF's split f16 and int8.
          const kept = (kernel === 'split' && precision === 'f32') || (kernel === 'fused' && precision === 'int8') || (options === METHODS[0] && kernel === 'split');
          if (!ALL_VARIANTS && !kept) continue;
          const sims = await small.similarity(images, captions, { ...options, kernel, precision });
          const tolerance = precision === 'f32' ? 1e-5 : precision === 'f16' ? 1e-2 : 5e-2;
          expect(maxAbsDiff(sims, methodReference(b, options)), `${options.method} ${kernel} ${precision}`).toBeLessThan(tolerance);
          if (precision !== 'f32') {
            // The same bits as on the engine's own device (full limits): only tiles differ.
            expect(Array.from(sims), `${kernel} ${precision}`).toEqual(Array.from(await engine.similarity(images, captions, { ...options, kernel, precision })));
          }
        }
      }
    }
  });

  it('topK, exact topK, scorePairs, word terms and a gallery', async () => {
    const b = randomBatch(403, 7, 6, randomLengths(404, 6, 2, 7), 7, 16);
    const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
    const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
    const naaf = METHODS[0];
    const full = await engine.topK(images, captions, { ...naaf, k: 3, direction: 't2i' });
    expect(Array.from((await small.topK(images, captions, { ...naaf, k: 3, direction: 't2i' })).indices)).toEqual(Array.from(full.indices));
    expect(Array.from((await small.topK(images, captions, { ...naaf, k: 3, direction: 't2i', precision: 'int8', exact: true })).indices)).toEqual(Array.from(full.indices));
    expect(Array.from((await small.topK(images, captions, { ...naaf, k: 2, direction: 'i2t', precision: 'f16', exact: true })).indices))
      .toEqual(Array.from((await engine.topK(images, captions, { ...naaf, k: 2, direction: 'i2t' })).indices));
    const pairs = { images: [0, 6, 3], captions: [5, 0, 3] };
    expect(Array.from(await small.scorePairs(images, captions, pairs, naaf))).toEqual(Array.from(await engine.scorePairs(images, captions, pairs, naaf)));
    const terms = await small.naafWordTerms(images, captions, { method: 'naaf', threshold: 0.2 });
    expect(maxAbsDiff(terms.sims, methodReference(b, naaf))).toBeLessThan(1e-5);
    for (const precision of ['f32', 'int8'] as const) {
      const gallery = await small.createGallery(images, { precision });
      expect(Array.from((await gallery.topK(captions, { ...naaf, k: 3, direction: 't2i', exact: precision !== 'f32' })).indices)).toEqual(Array.from(full.indices));
      gallery.destroy();
    }
  });

  it('R 36, D 1024: similarity, a gallery and topK both ways, every precision', async () => {
    const b = randomBatch(405, 3, 36, [12, 5, 28], 28, 1024);
    const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
    const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
    for (const options of METHODS.slice(0, 3)) {
      expect(maxAbsDiff(await small.similarity(images, captions, options), methodReference(b, options)), options.method).toBeLessThan(1e-5);
    }
    for (const precision of ['f32', 'f16', 'int8'] as const) {
      const gallery = await small.createGallery(images, { precision });
      const want = await small.similarity(images, captions, { ...METHODS[0], precision });
      expect(Array.from(await gallery.similarity(captions, METHODS[0]))).toEqual(Array.from(want));
      const top = await gallery.topK(captions, { ...METHODS[0], k: 2, direction: 'i2t' });
      expect(top.indices.length).toBe(6);
      gallery.destroy();
    }
  });

  it('model encoding and a training step for every method', async () => {
    const config: ModelConfig = { imgDim: 12, embedSize: 16, wordDim: 8, vocabSize: 20, textEncoder: 'basic', threshold: 0.1, lambdaSoftmax: 20 };
    const next = rng(7);
    const B = 4;
    const feats = { data: Float32Array.from({ length: B * 6 * 12 }, () => next()), shape: [B, 6, 12] as const };
    const ids = { ids: Int32Array.from({ length: B * 5 }, () => 4 + Math.floor(next() * 16)), shape: [B, 5] as const, lengths: [5, 4, 3, 2] };
    for (const method of methodNames()) { // every registered method
      const model = small.createModel(initialState(config, 3), config);
      expect((await model.encodeImages(feats)).shape).toEqual([B, 6, 16]);
      expect((await model.encodeCaptions(ids)).shape).toEqual([B, 5, 16]);
      const trainer = await small.createTrainer(model, { method });
      const { loss } = await trainer.step({ regionFeats: feats, tokenIds: ids });
      expect(Number.isFinite(loss)).toBe(true);
    }
  });

  it('REQUIRED_LIMITS is the most any pipeline built above binds, and the counts match what the kernels declare', () => {
    const built = ctxOf(small).pipelineResources();
    expect(built.length).toBeGreaterThan(20);
    const most = Math.max(...built.map((p) => p.storageBuffers));
    expect(most).toBe(REQUIRED_LIMITS.maxStorageBuffersPerShaderStage);
    for (const p of built) {
      expect(p.storageBuffers, p.label).toBeLessThanOrEqual(REQUIRED_LIMITS.maxStorageBuffersPerShaderStage);
      expect(p.uniformBuffers, p.label).toBeLessThanOrEqual(1);
      expect(p.workgroupBytes, p.label).toBeLessThanOrEqual(REQUIRED_LIMITS.maxComputeWorkgroupStorageSize);
      expect(p.invocations, p.label).toBeLessThanOrEqual(REQUIRED_LIMITS.maxComputeInvocationsPerWorkgroup);
    }
    // The counter itself: constants size arrays, vec3 rounds to 16 bytes, comments do not count.
    const counted = pipelineResources(`const N: u32 = 3u;
      @group(0) @binding(0) var<uniform> p: P;
      @group(0) @binding(1) var<storage, read> a: array<f32>; // @group(0) @binding(9) var<storage, read> no: array<f32>;
      @group(0) @binding(2) var<storage, read_write> b: array<f32>;
      var<workgroup> x: array<vec3<f32>, N * K>;
      var<workgroup> y: vec2u;
      @compute @workgroup_size(WG, 2) fn main() {}`, { K: 2, WG: 64 });
    expect(counted).toEqual({ storageBuffers: 2, uniformBuffers: 1, workgroupBytes: 6 * 16 + 16, invocations: 128 });
  });

  it('refuses a pipeline past the device limits by name, before Dawn does', async () => {
    const code = Array.from({ length: 9 }, (_, i) => `@group(0) @binding(${i}) var<storage, read_write> b${i}: array<f32>;`).join('\n') +
      '\n@compute @workgroup_size(1) fn main() { ' + Array.from({ length: 9 }, (_, i) => `b${i}[0] = 1.0;`).join(' ') + ' }';
    await expect(ctxOf(small).pipeline('nine buffers', [{ name: 'nine.wgsl', code }], {})).rejects.toThrow(
      /pipeline "nine buffers" needs 9 storage buffers \(maxStorageBuffersPerShaderStage 8\), more than this device has/);
  });
});

describe('calls larger than one buffer or a memory budget', () => {
  it('similarity and topK in blocks under a small maxGpuBytes give the one-block results; work is submitted in pieces', async () => {
    const b = randomBatch(407, 13, 5, randomLengths(408, 11, 1, 6), 6, 32);
    const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
    const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
    const options = METHODS[0];
    const whole = await small.similarity(images, captions, options);
    const ctx = ctxOf(small);
    ctx.pacer.fixedBudget = 50_000; // a few images per piece
    try {
      const submits = small.stats().submits;
      // One image [5, 32] takes 640 bytes uploaded plus its Gram: 8 KiB hold about a few at a time.
      for (const precision of ['f32', 'int8'] as const) {
        const blocked = await small.similarity(images, captions, { ...options, precision, maxGpuBytes: 300_000 });
        const once = await small.similarity(images, captions, { ...options, precision });
        expect(Array.from(blocked), precision).toEqual(Array.from(once));
      }
      expect(small.stats().submits - submits).toBeGreaterThan(8);
      for (const direction of ['t2i', 'i2t'] as const) {
        const top = await small.topK(images, captions, { ...options, k: 4, direction, maxGpuBytes: 300_000 });
        const ref = await small.topK(images, captions, { ...options, k: 4, direction });
        expect(Array.from(top.indices), direction).toEqual(Array.from(ref.indices));
        expect(Array.from(top.scores)).toEqual(Array.from(ref.scores));
      }
      expect(maxAbsDiff(whole, methodReference(b, options))).toBeLessThan(1e-5);
      // The peak of a call stays within its budget (the pool was emptied first).
      small.trim();
      ctx.pool.resetPeak();
      const base = small.stats().bytesAllocated;
      await small.topK(images, captions, { ...options, k: 4, direction: 't2i', maxGpuBytes: 300_000 });
      expect(small.stats().peakBytesAllocated - base).toBeLessThanOrEqual(300_000);
    } finally {
      ctx.pacer.fixedBudget = null;
    }
  });

  it('images larger than the memory budget stream in blocks, from a Float32Array and from a .npy file read as it goes', async () => {
    const b = randomBatch(409, 40, 4, randomLengths(410, 5, 1, 5), 5, 64);
    const images = { data: b.images, shape: [b.N, b.R, b.D] as const }; // 40 KiB
    const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
    const options = METHODS[2];
    const want = await engine.topK(images, captions, { ...options, k: 5, direction: 't2i' });
    const got = await engine.topK(images, captions, { ...options, k: 5, direction: 't2i', maxGpuBytes: 64 * 1024 });
    expect(Array.from(got.indices)).toEqual(Array.from(want.indices));
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { NpyReader, encodeNpy } = await import('../../src/index.js');
    const file = join(mkdtempSync(join(tmpdir(), 'naaf-npy-')), 'ims.npy');
    writeFileSync(file, encodeNpy(b.images, [b.N, b.R, b.D]));
    const reader = await NpyReader.open(file);
    const fromFile = await engine.topK(reader, captions, { ...options, k: 5, direction: 't2i', maxGpuBytes: 64 * 1024 });
    expect(Array.from(fromFile.indices)).toEqual(Array.from(want.indices));
    const gallery = await engine.createGallery(reader, { precision: 'int8', maxImagesPerShard: 16 });
    expect(gallery.size).toBe(40);
    expect(Array.from((await gallery.topK(captions, { ...options, k: 5, direction: 't2i', exact: true })).indices)).toEqual(Array.from(want.indices));
    gallery.destroy();
    await reader.close();
    // A NaN in a later block of the file: the call fails naming the row, after its blocks before it (nothing left in use).
    const bad = Float32Array.from(b.images);
    bad[(30 * b.R + 2) * b.D + 7] = NaN;
    const badFile = join(mkdtempSync(join(tmpdir(), 'naaf-npy-')), 'bad.npy');
    writeFileSync(badFile, encodeNpy(bad, [b.N, b.R, b.D]));
    const badReader = await NpyReader.open(badFile);
    const inUse = engine.stats().buffersInUse;
    await expect(engine.topK(badReader, captions, { ...options, k: 5, direction: 't2i', maxGpuBytes: 64 * 1024 })).rejects.toThrow(
      /topK: images \(.*bad\.npy\) must be finite, got NaN at \[30, 2, 7\]/);
    expect(engine.stats().buffersInUse).toBe(inUse);
    await badReader.close();
    // GPU inputs that pair scoring gathers by copies need COPY_SRC, and say so.
    const storageOnly = engine.device.createBuffer({ size: b.images.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    await expect(engine.scorePairs({ buffer: storageOnly, shape: [b.N, b.R, b.D] }, captions, { images: [0], captions: [0] }, options)).rejects.toThrow(
      /scorePairs: images\.buffer is read by buffer copies here .* needs usage STORAGE \| COPY_SRC; got usage flags/);
    storageOnly.destroy();
    await expect(engine.topK(images, captions, { ...options, k: 5, direction: 't2i', maxGpuBytes: 1000 })).rejects.toThrow(
      /topK: options\.maxGpuBytes = 1000 is too small: one image \[R=4, D=64\] needs \d+ bytes on the GPU/);
  });
});
