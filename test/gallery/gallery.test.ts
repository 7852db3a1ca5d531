// The resident gallery: the same scores and rankings as the engine's calls on the same images,
// bit for bit, across several shards, added to later; its bytes; and every misuse refused.
import { describe, expect, it } from 'vitest';
import { AbortedError, DeviceLostError, NaafEngine } from '../../src/index.js';
import type { SimilarityOptions } from '../../src/types.js';
import { sharedEngine } from '../gpu.js';
import { randomBatch, randomLengths } from '../random.js';

const engine = await sharedEngine();
const b = randomBatch(301, 11, 7, randomLengths(302, 9, 1, 8), 8, 20);
const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
const naaf: SimilarityOptions = { method: 'naaf', threshold: 0.25 };
const METHODS: SimilarityOptions[] = [naaf, { method: 'scan-t2i' }, { method: 'scan-i2t', aggregation: 'mean' }];

const same = (a: Float32Array, b: Float32Array) => expect(Array.from(a)).toEqual(Array.from(b));

describe('resident gallery', () => {
  it.each(['f32', 'f16', 'int8'] as const)('%s: similarity equals engine.similarity bit for bit, over 3 shards, for every method', async (precision) => {
    const gallery = await engine.createGallery(images, { precision, maxImagesPerShard: 4 });
    expect(gallery.size).toBe(11);
    for (const options of METHODS) {
      const want = await engine.similarity(images, captions, { ...options, precision });
      same(await gallery.similarity(captions, options), want);
      if (precision !== 'f16') same(await gallery.similarity(captions, { ...options, kernel: 'fused' }), await engine.similarity(images, captions, { ...options, precision, kernel: 'fused' }));
    }
    gallery.destroy();
  });

  it('topK both ways equals engine.topK; a small memory budget streams the captions in blocks', async () => {
    const gallery = await engine.createGallery(images, { maxImagesPerShard: 3 });
    for (const direction of ['t2i', 'i2t'] as const) {
      const want = await engine.topK(images, captions, { ...naaf, k: 4, direction });
      const got = await gallery.topK(captions, { ...naaf, k: 4, direction });
      expect(Array.from(got.indices)).toEqual(Array.from(want.indices));
      same(got.scores, want.scores);
      // A budget that holds 2 captions at a time (each [L = 8, D = 20] takes about 1 KiB).
      const blocked = await gallery.topK(captions, { ...naaf, k: 4, direction, maxGpuBytes: 300_000 });
      expect(Array.from(blocked.indices)).toEqual(Array.from(want.indices));
    }
    gallery.destroy();
  });

  it('int8 gallery: exact topK is the f32 top-k (re-scored from the rows it was made from); scorePairs is f32', async () => {
    const gallery = await engine.createGallery(images, { precision: 'int8', maxImagesPerShard: 5 });
    const f32 = await engine.topK(images, captions, { ...naaf, k: 3, direction: 't2i' });
    const exact = await gallery.topK(captions, { ...naaf, k: 3, direction: 't2i', exact: true });
    expect(Array.from(exact.indices)).toEqual(Array.from(f32.indices));
    same(exact.scores, f32.scores);
    const pairs = { images: [10, 0, 4, 4], captions: [2, 8, 0, 1] };
    same(await gallery.scorePairs(captions, pairs, naaf), await engine.scorePairs(images, captions, pairs, naaf));
    gallery.destroy();
  });

  it('add(): later images get the next indices and score as if the gallery had them from the start; shards grow', async () => {
    const first = { data: b.images.subarray(0, 3 * b.R * b.D), shape: [3, b.R, b.D] as const };
    const rest = { data: b.images.subarray(3 * b.R * b.D), shape: [8, b.R, b.D] as const };
    for (const precision of ['f32', 'int8'] as const) {
      const gallery = await engine.createGallery(first, { precision, maxImagesPerShard: 6 });
      const bytesBefore = gallery.bytes;
      await gallery.add(rest);
      expect(gallery.size).toBe(11);
      expect(gallery.bytes).toBeGreaterThan(bytesBefore);
      same(await gallery.similarity(captions, naaf), await engine.similarity(images, captions, { ...naaf, precision }));
      const pairs = { images: [3, 10, 2], captions: [0, 0, 5] };
      same(await gallery.scorePairs(captions, pairs, naaf), await engine.scorePairs(images, captions, pairs, naaf));
      // A shortlist of one caption whose runs of ids cross the shard boundaries (gathered side by side).
      const all = Array.from({ length: 11 }, (_, n) => n);
      const shortlist = { images: [...all, 4, 0], captions: [...all.map(() => 1), 2, 2] };
      same(await gallery.scorePairs(captions, shortlist, naaf), await engine.scorePairs(images, captions, shortlist, naaf));
      gallery.destroy();
      // Long runs of consecutive ids are copied, short ones and scattered ids gathered by the kernel: both in one pass.
      const tall = await engine.createGallery(images, { precision, maxImagesPerShard: 10 });
      const mixed = { images: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 4, 0, 7], captions: [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1] };
      same(await tall.scorePairs(captions, mixed, naaf), await engine.scorePairs(images, captions, mixed, naaf));
      if (precision === 'f32') {
        // One caption's shortlist over the resident gallery (spanning GEMM problems): a run of 8
        // is copied, the same count with a gap is gathered, two dispatches (rows, Grams) more.
        const run = { images: [0, 1, 2, 3, 4, 5, 6, 7], captions: Array(8).fill(4) };
        const gap = { images: [0, 1, 2, 3, 4, 5, 6, 8], captions: Array(8).fill(4) };
        const d0 = engine.stats().dispatches;
        same(await tall.scorePairs(captions, run, naaf), await engine.scorePairs(images, captions, run, naaf));
        const d1 = engine.stats().dispatches;
        same(await tall.scorePairs(captions, gap, naaf), await engine.scorePairs(images, captions, gap, naaf));
        const d2 = engine.stats().dispatches;
        expect(d2 - d1 - (d1 - d0)).toBe(2);
      }
      tall.destroy();
    }
  });

  it('expectedImages sizes the shards once: adds up to it grow nothing', async () => {
    const part = (n0: number, n: number) => ({ data: b.images.subarray(n0 * b.R * b.D, (n0 + n) * b.R * b.D), shape: [n, b.R, b.D] as const });
    const sized = await engine.createGallery(part(0, 3), { expectedImages: 100 });
    const grownFrom = await engine.createGallery(part(0, 3));
    const bytes = sized.bytes;
    await sized.add(part(3, 8));
    expect(sized.bytes).toBe(bytes); // room for 100 from the start
    expect(bytes).toBeGreaterThan(grownFrom.bytes); // (the default first shard holds 64)
    same(await sized.similarity(captions, naaf), await engine.similarity(images, captions, naaf));
    sized.destroy();
    grownFrom.destroy();
    await expect(engine.createGallery(part(0, 3), { expectedImages: 0 })).rejects.toThrow(/options.expectedImages must be an integer >= 1, got 0/);
  });

  it('stays within its maxGpuBytes as it grows, and a cancelled low-precision add holds nothing', async () => {
    const one = { data: b.images.subarray(0, b.R * b.D), shape: [1, b.R, b.D] as const };
    const probe = await engine.createGallery(one, { precision: 'int8' });
    const limit = 5 * probe.bytesPerImage + 4096;
    probe.destroy();
    const gallery = await engine.createGallery(one, { precision: 'int8', maxGpuBytes: limit });
    for (let i = 0; i < 3; i++) {
      await gallery.add(one);
      expect(gallery.bytes).toBeLessThanOrEqual(limit);
    }
    await expect(gallery.add(images)).rejects.toThrow(/gallery\.add: 11 more images need \d+ bytes .*options\.maxGpuBytes/);
    expect(gallery.size).toBe(4);
    const before = engine.stats().buffersInUse;
    const controller = new AbortController();
    const big = await engine.createGallery(one, { precision: 'int8' });
    await expect(big.add(images, { signal: controller.signal, onProgress: () => controller.abort() })).rejects.toBeInstanceOf(AbortedError);
    expect(engine.stats().buffersInUse).toBe(before);
    expect(big.size).toBe(1);
    big.destroy();
    gallery.destroy();
  });

  it('keeps f16 and int8 images packed (no f32 copy): bytes per image at R 36, D 1024 and what the engine counts', async () => {
    const R = 36;
    const D = 1024;
    const data = new Float32Array(2 * R * D).fill(1 / 32);
    const made = await Promise.all((['f32', 'f16', 'int8'] as const).map((precision) => engine.createGallery({ data, shape: [2, R, D] }, { precision })));
    const [f32, f16, int8] = made.map((g) => g.bytesPerImage);
    expect(f32).toBe(R * D * 4 + R * R * 4);
    expect(f16).toBe(R * D * 2 + R * R * 4);
    expect(int8 / f32).toBeLessThanOrEqual(0.3);
    const resident = engine.stats().bytesResident;
    const held = made.reduce((total, g) => total + g.bytes, 0);
    expect(resident).toBe(held);
    for (const g of made) g.destroy();
    expect(engine.stats().bytesResident).toBe(resident - held);
  });

  it('refuses misuse with clear errors and holds nothing after', async () => {
    const gallery = await engine.createGallery(images);
    const wrongD = { data: new Float32Array(2 * 3 * 21), shape: [2, 3, 21] as const, lengths: [3, 1] };
    await expect(gallery.topK(wrongD, { ...naaf, k: 1, direction: 't2i' })).rejects.toThrow(/gallery\.topK: captions\.shape D = 21 must equal the gallery's D = 20/);
    await expect(gallery.add({ data: new Float32Array(6 * 20), shape: [1, 6, 20] })).rejects.toThrow(/gallery\.add: images\.shape \[N, R, D\] = \[1, 6, 20\] must match the gallery's R = 7, D = 20/);
    await expect(gallery.similarity(captions, { ...naaf, precision: 'int8' })).rejects.toThrow(/options\.precision "int8" does not match the gallery's 'f32'/);
    await expect(gallery.topK(captions, { ...naaf, k: 1, direction: 't2i', maxGpuBytes: 1000 })).rejects.toThrow(/maxGpuBytes = 1000 is too small: one caption \[L=8, D=20\] needs \d+ bytes.*raise maxGpuBytes to at least \d+/);
    await expect(engine.createGallery(images, { maxGpuBytes: 1000 })).rejects.toThrow(/gallery\.add: 11 more images need \d+ bytes .*options\.maxGpuBytes = 1000/);
    await expect(engine.createGallery(images, { precision: 'int4' as 'int8' })).rejects.toThrow(/createGallery: options\.precision must be 'f32', 'f16' or 'int8', got "int4"/);
    const before = engine.stats();
    const held = gallery.bytes;
    gallery.destroy();
    expect(engine.stats().bytesResident).toBe(before.bytesResident - held);
    await expect(gallery.topK(captions, { ...naaf, k: 1, direction: 't2i' })).rejects.toThrow(/gallery\.topK: the gallery was destroyed/);
    await expect(gallery.add(images)).rejects.toThrow(/gallery\.add: the gallery was destroyed/);
    {
      using scoped = await engine.createGallery(images);
      expect(scoped.size).toBe(11);
    }
    expect(engine.stats().buffersInUse).toBe(before.buffersInUse);
  });

  it('a cancelled query throws AbortError, frees what it took, and the engine goes on', async () => {
    const gallery = await engine.createGallery(images, { maxImagesPerShard: 2 });
    const before = engine.stats().buffersInUse;
    const controller = new AbortController();
    const call = gallery.topK(captions, { ...naaf, k: 2, direction: 't2i', blockSize: 2, signal: controller.signal, onProgress: () => controller.abort('enough') });
    await expect(call).rejects.toBeInstanceOf(AbortedError);
    await expect(call).rejects.toThrow(/gallery\.topK: aborted \(enough\)/);
    expect(engine.stats().buffersInUse).toBe(before);
    const already = new AbortController();
    already.abort();
    await expect(engine.similarity(images, captions, { ...naaf, signal: already.signal })).rejects.toThrow(/similarity: aborted/);
    expect((await gallery.topK(captions, { ...naaf, k: 2, direction: 't2i' })).indices.length).toBe(2 * b.M);
    // A cancelled add leaves the gallery as it was.
    const adding = new AbortController();
    await expect(gallery.add(images, { signal: adding.signal, onProgress: () => adding.abort() })).rejects.toBeInstanceOf(AbortedError);
    expect(gallery.size).toBe(11);
    gallery.destroy();
  });

  it('a device lost mid-call gives DeviceLostError and holds nothing', async () => {
    const device = await (await (engine as unknown as { ctx: { runtimeGpu(): GPU } }).ctx.runtimeGpu().requestAdapter())!.requestDevice();
    const adopted = await NaafEngine.create({ device });
    const gallery = await adopted.createGallery(images, { maxImagesPerShard: 2 });
    const call = gallery.topK(captions, { ...naaf, k: 2, direction: 't2i', blockSize: 2, onProgress: () => device.destroy() });
    await expect(call).rejects.toBeInstanceOf(DeviceLostError);
    const inUse = [...((adopted as unknown as { ctx: { pool: { inUse: Set<GPUBuffer> } } }).ctx.pool.inUse)].map((b) => b.label);
    expect(inUse).toEqual([]);
    adopted.destroy();
  });
});
