// Overlapping calls on one CPU engine (two worker threads): each gets the bits it gets alone,
// a failing call rejects with its own message and leaves the others and later calls untouched,
// and the working memory all comes back.
import { describe, expect, it } from 'vitest';
import type { SimilarityOptions } from '../../src/types.js';
import { randomBatch, randomLengths } from '../random.js';
import { wasmEngine } from './engine.js';

const engine = await wasmEngine({ threads: 2 });
const b = randomBatch(401, 13, 9, randomLengths(402, 11, 1, 9), 12, 20);
const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
const naaf: SimilarityOptions = { method: 'naaf', threshold: 0.2 };
const METHODS: SimilarityOptions[] = [naaf, { method: 'scan-t2i' }, { method: 'scan-i2t' }, { method: 'chan' }];
const pairs = { images: [12, 0, 5, 5, 3], captions: [0, 10, 2, 3, 7] };

describe('overlapping calls on the CPU backend', () => {
  it('give the bits they give alone; failures stay with their call; memory comes back', async () => {
    const gallery = await engine.createGallery(images, { precision: 'int8', maxImagesPerShard: 5 });
    const run = () => [
      ...METHODS.map((o) => engine.similarity(images, captions, o)),
      engine.topK(images, captions, { ...naaf, k: 3, direction: 'i2t' }).then((r) => r.indices),
      engine.scorePairs(images, captions, pairs, naaf),
      gallery.similarity(captions, naaf),
      gallery.topK(captions, { ...naaf, k: 4, direction: 't2i', exact: true }).then((r) => r.indices),
    ];
    const alone: unknown[] = [];
    for (const call of run()) alone.push(Array.from((await call) as ArrayLike<number>));
    const before = engine.stats();

    const bad = { ...captions, data: b.captions.slice() };
    bad.data[5] = NaN;
    const failing = [
      engine.similarity(images, bad, naaf),
      engine.scorePairs(images, captions, { images: [0, 13], captions: [0, 0] }, naaf),
      engine.topK(images, captions, { ...naaf, k: 0, direction: 't2i' }),
      gallery.add({ data: new Float32Array(2 * b.R * b.D).fill(NaN), shape: [2, b.R, b.D] }),
    ];
    const together = await Promise.allSettled([...run(), ...failing, ...run()]);
    const n = alone.length;
    for (const [i, r] of together.entries()) {
      if (i >= n && i < n + failing.length) continue;
      expect(r.status, `call ${i}`).toBe('fulfilled');
      expect(Array.from((r as PromiseFulfilledResult<ArrayLike<number>>).value), `call ${i}`).toEqual(alone[i % (n + failing.length)]);
    }
    const reasons = together.slice(n, n + failing.length).map((r) => (r.status === 'rejected' ? String(r.reason) : 'fulfilled'));
    expect(reasons[0]).toMatch(/^Error: similarity: captions\.data/);
    expect(reasons[1]).toMatch(/^Error: scorePairs: pairs\.images/);
    expect(reasons[2]).toMatch(/^Error: topK: options\.k/);
    expect(reasons[3]).toMatch(/^Error: gallery\.add: images/);

    expect(gallery.size).toBe(b.N);
    const after = engine.stats();
    expect(after.workingBytes).toBe(0);
    expect(after.bytesAllocated).toBe(before.bytesAllocated);
    for (const [i, call] of run().entries()) expect(Array.from((await call) as ArrayLike<number>), `after, call ${i}`).toEqual(alone[i]);
    gallery.destroy();
  });
});
