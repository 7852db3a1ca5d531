// The CPU backend's calls beyond similarity(): topK both ways and exact from f16 / int8, pair
// scores, resident galleries (every precision, shards, growth, several WASM memories), NAAF's
// word terms, .npy inputs and cancellation; every score bit for bit what similarity() gives.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NpyReader, encodeNpy } from '../../src/index.js';
import type { SimilarityOptions } from '../../src/types.js';
import { randomBatch, randomLengths } from '../random.js';
import { wasmEngine } from './engine.js';

const engine = await wasmEngine({ threads: 2 });
const single = await wasmEngine({ threads: 1 });
const b = randomBatch(301, 11, 7, randomLengths(302, 9, 1, 8), 8, 20);
const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
const naaf: SimilarityOptions = { method: 'naaf', threshold: 0.25 };
const METHODS: SimilarityOptions[] = [naaf, { method: 'scan-t2i' }, { method: 'scan-i2t', aggregation: 'mean' }, { method: 'chan' }];

const same = (a: Float32Array, b: Float32Array) => expect(Array.from(a)).toEqual(Array.from(b));

/** Each query's k best from the full matrix (score descending, lower index first). */
function rankOf(sims: Float32Array, N: number, M: number, k: number, direction: 't2i' | 'i2t'): number[] {
  const [queries, total] = direction === 't2i' ? [M, N] : [N, M];
  const score = (q: number, c: number) => (direction === 't2i' ? sims[c * M + q] : sims[q * M + c]);
  return Array.from({ length: queries }, (_, q) => Array.from({ length: total }, (_, c) => c).sort((x, y) => score(q, y) - score(q, x) || x - y).slice(0, k)).flat();
}

describe('topK and pairs on the CPU backend', () => {
  it('topK both ways ranks as the similarity matrix; blocks and one thread change nothing', async () => {
    for (const options of METHODS) {
      const sims = await engine.similarity(images, captions, options);
      for (const direction of ['t2i', 'i2t'] as const) {
        const top = await engine.topK(images, captions, { ...options, k: 4, direction });
        expect(Array.from(top.indices), `${options.method} ${direction}`).toEqual(rankOf(sims, b.N, b.M, 4, direction));
        const blocked = await single.topK(images, captions, { ...options, k: 4, direction, blockSize: 3, maxGpuBytes: 2_000_000 }); // blocks of 3 candidates
        expect(Array.from(blocked.indices)).toEqual(Array.from(top.indices));
        same(blocked.scores, top.scores);
      }
    }
  });

  it('captions in blocks (the images made ready once for all of them) and images in blocks give the same bits', async () => {
    for (const precision of ['f32', 'int8'] as const) {
      const whole = await engine.similarity(images, captions, { ...naaf, precision });
      same(await engine.similarity(images, captions, { ...naaf, precision, maxCaptionsPerChunk: 2 }), whole);
      same(await engine.similarity(images, captions, { ...naaf, precision, maxCaptionsPerChunk: 4, maxImagesPerChunk: 3 }), whole);
    }
  });

  it('exact topK from f16 and int8 is the f32 top-k, ids and scores, on any thread count', async () => {
    for (const precision of ['f16', 'int8'] as const) {
      for (const direction of ['t2i', 'i2t'] as const) {
        const f32 = await engine.topK(images, captions, { ...naaf, k: 3, direction });
        const exact = await engine.topK(images, captions, { ...naaf, k: 3, direction, precision, exact: true });
        expect(Array.from(exact.indices), `${precision} ${direction}`).toEqual(Array.from(f32.indices));
        same(exact.scores, f32.scores);
        expect(exact.exact!.rescoredPairs).toBeGreaterThan(0);
        const one = await single.topK(images, captions, { ...naaf, k: 3, direction, precision, exact: true });
        expect(Array.from(one.indices)).toEqual(Array.from(exact.indices));
      }
    }
  });

  it('scorePairs is bit for bit the dense scores, in any order, with repeats', async () => {
    for (const options of METHODS) {
      const sims = await engine.similarity(images, captions, options);
      const pairs = { images: [10, 0, 4, 4, 10, 3, 3], captions: [2, 8, 0, 1, 2, 8, 0] };
      const scores = await engine.scorePairs(images, captions, pairs, options);
      expect(Array.from(scores)).toEqual(pairs.images.map((n, i) => sims[n * b.M + pairs.captions[i]]));
      // A pass budget that takes one image at a time.
      same(await single.scorePairs(images, captions, pairs, { ...options, maxGpuBytes: 20_000 }), scores);
    }
  });

  it("NAAF's word terms: [N, M, L], their mean the score", async () => {
    const terms = await engine.naafWordTerms(images, captions, naaf as Extract<SimilarityOptions, { method: 'naaf' }>);
    same(terms.sims, await engine.similarity(images, captions, naaf));
    for (let n = 0; n < b.N; n++) {
      for (let m = 0; m < b.M; m++) {
        let sum = 0;
        for (let w = 0; w < b.lengths[m]; w++) {
          const i = (n * b.M + m) * b.L + w;
          sum += terms.neg[i] + terms.posF[i] + terms.posR[i];
        }
        expect(Math.abs(sum / b.lengths[m] - terms.sims[n * b.M + m])).toBeLessThan(1e-5);
        expect(terms.sMax.subarray((n * b.M + m) * b.L + b.lengths[m], (n * b.M + m + 1) * b.L).every((v) => v === 0)).toBe(true);
      }
    }
  });

  it('images from a .npy file score as the same rows in memory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'naaf-wasm-'));
    writeFileSync(join(dir, 'ims.npy'), encodeNpy(b.images, [b.N, b.R, b.D]));
    const reader = await NpyReader.open(join(dir, 'ims.npy'));
    try {
      same(await engine.similarity(reader, captions, naaf), await engine.similarity(images, captions, naaf));
      const pairs = { images: [5, 6, 7, 1], captions: [0, 0, 0, 3] };
      same(await engine.scorePairs(reader, captions, pairs, naaf), await engine.scorePairs(images, captions, pairs, naaf));
    } finally {
      await reader.close();
    }
  });

  it('an aborted signal stops the call with an AbortError', async () => {
    const stop = new AbortController();
    stop.abort();
    await expect(engine.similarity(images, captions, { ...naaf, signal: stop.signal })).rejects.toThrow(/aborted/);
  });
});

describe('resident gallery on the CPU backend', () => {
  it.each(['f32', 'f16', 'int8'] as const)('%s: similarity and topK equal the engine\'s, bit for bit, over 3 shards', async (precision) => {
    const gallery = await engine.createGallery(images, { precision, maxImagesPerShard: 4 });
    expect(gallery.size).toBe(11);
    expect(gallery.bytes).toBe(12 * gallery.bytesPerImage);
    for (const options of METHODS) {
      same(await gallery.similarity(captions, options), await engine.similarity(images, captions, { ...options, precision }));
      const top = await gallery.topK(captions, { ...options, k: 3, direction: 't2i' });
      const want = await engine.topK(images, captions, { ...options, precision, k: 3, direction: 't2i' });
      expect(Array.from(top.indices)).toEqual(Array.from(want.indices));
    }
    if (precision !== 'f32') {
      const exact = await gallery.topK(captions, { ...naaf, k: 3, direction: 'i2t', exact: true });
      expect(Array.from(exact.indices)).toEqual(Array.from((await engine.topK(images, captions, { ...naaf, k: 3, direction: 'i2t' })).indices));
    }
    const pairs = { images: [10, 0, 4, 4], captions: [2, 8, 0, 1] };
    same(await gallery.scorePairs(captions, pairs, naaf), await engine.scorePairs(images, captions, pairs, naaf));
    gallery.destroy();
    await expect(gallery.similarity(captions, naaf)).rejects.toThrow(/gallery\.similarity: the gallery was destroyed/);
  });

  it('add() grows it (later images take the next indices); a failed add leaves it as it was', async () => {
    const first = { data: b.images.subarray(0, 3 * b.R * b.D), shape: [3, b.R, b.D] as const };
    const rest = { data: b.images.subarray(3 * b.R * b.D), shape: [8, b.R, b.D] as const };
    const gallery = await engine.createGallery(first, { precision: 'int8' });
    await gallery.add(rest);
    expect(gallery.size).toBe(11);
    same(await gallery.similarity(captions, naaf), await engine.similarity(images, captions, { ...naaf, precision: 'int8' }));
    const bad = new Float32Array(2 * b.R * b.D);
    bad[5] = NaN;
    await expect(gallery.add({ data: bad, shape: [2, b.R, b.D] })).rejects.toThrow(/images\.data must be finite, got NaN at \[0, 0, 5\]/);
    await expect(gallery.add({ data: b.images.subarray(0, 2 * 7 * 20), shape: [1, 14, 20] })).rejects.toThrow(/must match the gallery's R = 7, D = 20/);
    expect(gallery.size).toBe(11);
    const stop = new AbortController();
    stop.abort();
    await expect(gallery.add(rest, { signal: stop.signal })).rejects.toThrow(/aborted/);
    expect(gallery.size).toBe(11);
    same(await gallery.similarity(captions, naaf), await engine.similarity(images, captions, { ...naaf, precision: 'int8' }));
    gallery.destroy();
  });

  it('a gallery larger than one WASM memory spans several, and scores as one', async () => {
    // 16 MiB memories (12 for a shard); 100 images of R 36 x D 1024 (152 KiB each with their Grams) take two.
    const small = await wasmEngine({ threads: 2, maxMemoryBytes: 16 * 2 ** 20 });
    const big = randomBatch(9, 100, 36, [12, 9], 12, 1024);
    const bigImages = { data: big.images, shape: [100, 36, 1024] as const };
    const bigCaptions = { data: big.captions, shape: [2, 12, 1024] as const, lengths: big.lengths };
    const gallery = await small.createGallery(bigImages);
    expect(gallery.size).toBe(100);
    const memories = (small as unknown as { impl: { runtime: { allHeaps(): unknown[] } } }).impl.runtime.allHeaps().length;
    expect(memories).toBeGreaterThan(1);
    same(await gallery.similarity(bigCaptions, naaf), await engine.similarity(bigImages, bigCaptions, naaf));
    const pairs = { images: [99, 0, 80, 81, 79], captions: [1, 0, 1, 0, 0] };
    same(await gallery.scorePairs(bigCaptions, pairs, naaf), await engine.scorePairs(bigImages, bigCaptions, pairs, naaf));
    gallery.destroy();
  });

  it('maxGpuBytes counts what the shards hold: images added into room already held are taken; f16 galleries refuse captions past 65504', async () => {
    const one = { data: b.images.subarray(0, b.R * b.D), shape: [1, b.R, b.D] as const };
    const per = (await engine.createGallery(one)).bytesPerImage;
    const gallery = await engine.createGallery(one, { maxGpuBytes: 10 * per });
    expect(gallery.bytes).toBe(10 * per); // one shard of what the budget allows
    await gallery.add(one);
    await gallery.add({ data: b.images.subarray(0, 8 * b.R * b.D), shape: [8, b.R, b.D] });
    expect(gallery.size).toBe(10);
    await expect(gallery.add(one)).rejects.toThrow(/would pass options.maxGpuBytes/);
    gallery.destroy();
    const f16 = await engine.createGallery(images, { precision: 'f16' });
    const big = b.captions.slice();
    big[3] = 70000;
    await expect(f16.similarity({ ...captions, data: big }, naaf)).rejects.toThrow(/precision 'f16' holds magnitudes up to 65504, but captions.data\[3\] is 70000/);
    await expect(f16.topK({ ...captions, data: big }, { ...naaf, k: 1, direction: 't2i' })).rejects.toThrow(/65504/);
    f16.destroy();
  });

  it('maxGpuBytes bounds what it keeps; options are checked', async () => {
    await expect(engine.createGallery(images, { maxGpuBytes: 1000 })).rejects.toThrow(/would pass options.maxGpuBytes = 1000/);
    await expect(engine.createGallery(images, { precision: 'f8' as never })).rejects.toThrow(/options.precision must be 'f32', 'f16' or 'int8', got "f8"/);
    const before = engine.stats().bytesResident;
    const gallery = await engine.createGallery(images, { precision: 'f16' });
    expect(engine.stats().bytesResident - before).toBe(gallery.bytes); // stats() counts what galleries keep
    await expect(gallery.similarity(captions, { ...naaf, precision: 'int8' })).rejects.toThrow(/does not match the gallery's 'f16'/);
    gallery.destroy();
    expect(engine.stats().bytesResident).toBe(before);
  });
});
