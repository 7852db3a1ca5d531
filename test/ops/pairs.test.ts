// Pair scoring (the split kernel's pair mode) against the dense split kernel, bit for bit, and
// topK's exact mode: low-precision candidates re-scored in f32 give exactly the f32 top-k.
import { describe, expect, it } from 'vitest';
import type { SimilarityOptions } from '../../src/types.js';
import { sharedEngine } from '../gpu.js';
import { randomBatch, randomLengths, rng } from '../random.js';

const engine = await sharedEngine();

const METHODS: SimilarityOptions[] = [
  { method: 'naaf', threshold: 0.3 }, { method: 'naaf', threshold: 0.3, intra: false },
  { method: 'scan-t2i' }, { method: 'scan-i2t', aggregation: 'mean' }, { method: 'chan' },
];

describe('scorePairs', () => {
  const b = randomBatch(201, 7, 36, randomLengths(202, 11, 1, 12), 12, 40);
  const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
  const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
  const next = rng(203);
  // Unsorted, with repeats, every image and caption present at least once.
  const pairImages = [...Array.from({ length: b.N }, (_, n) => n), ...Array.from({ length: 40 }, () => Math.floor(next() * b.N))].reverse();
  const pairCaptions = pairImages.map((_, i) => (i < b.M ? i : Math.floor(next() * b.M)));

  it.each(METHODS)('%j: each pair equals the dense split score bit for bit, also over several passes', async (options) => {
    const dense = await engine.similarity(images, captions, { ...options, kernel: 'split' });
    const expected = pairImages.map((n, i) => dense[n * b.M + pairCaptions[i]]);
    const scores = await engine.scorePairs(images, captions, { images: pairImages, captions: pairCaptions }, options);
    expect(Array.from(scores)).toEqual(expected);
    // A scratch of about one image's block: many passes, images split into several groups.
    const small = await engine.scorePairs(images, captions, { images: pairImages, captions: pairCaptions }, { ...options, maxScratchBytes: 36 * 16 * 4 });
    expect(Array.from(small)).toEqual(expected);
  });

  it.each([METHODS[0], METHODS[2]])('%j: shortlists (one caption or one caption list over runs of images) keep the bits', async (options) => {
    // Runs of consecutive images with the same captions share GEMM problems whose BM-row tiles
    // cross image boundaries (R 7): each score must still be the dense one.
    const dense = await engine.similarity(images, captions, { ...options, kernel: 'split' });
    const one = Array.from({ length: b.N }, (_, n) => n);
    const single = await engine.scorePairs(images, captions, { images: one, captions: one.map(() => 3) }, options);
    expect(Array.from(single)).toEqual(one.map((n) => dense[n * b.M + 3]));
    // Each image with captions 5 then 1, except a gap and one image with only caption 5.
    const ids = one.filter((n) => n !== 20).flatMap((n) => (n === 9 ? [[n, 5]] : [[n, 5], [n, 1]]));
    const mixed = await engine.scorePairs(images, captions, { images: ids.map(([n]) => n), captions: ids.map(([, m]) => m) }, options);
    expect(Array.from(mixed)).toEqual(ids.map(([n, m]) => dense[n * b.M + m]));
    // One caption over 30 images of R 36: its problems span several 256-row tiles of the tall
    // narrow GEMM tile (a shortlist's), in any order and with gaps.
    const w = randomBatch(203, 30, 36, randomLengths(204, 2, 3, 12), 12, 40);
    const wImages = { data: w.images, shape: [w.N, w.R, w.D] as const };
    const wCaptions = { data: w.captions, shape: [w.M, w.L, w.D] as const, lengths: w.lengths };
    const wDense = await engine.similarity(wImages, wCaptions, { ...options, kernel: 'split' });
    const list = Array.from({ length: w.N }, (_, n) => w.N - 1 - n).filter((n) => n % 7 !== 3);
    const wide = await engine.scorePairs(wImages, wCaptions, { images: list, captions: list.map(() => 1) }, options);
    expect(Array.from(wide)).toEqual(list.map((n) => wDense[n * w.M + 1]));
  });

  it('other GEMM and epilogue tiles give the same bits', async () => {
    const options = METHODS[0];
    const dense = await engine.similarity(images, captions, { ...options, kernel: 'split' });
    const expected = pairImages.map((n, i) => dense[n * b.M + pairCaptions[i]]);
    const tiled = await engine.scorePairs(images, captions, { images: pairImages, captions: pairCaptions }, { ...options, tile: { gemmRows: 128, gemmCols: 64, depth: 8, rows: 32 } });
    expect(Array.from(tiled)).toEqual(expected);
  });

  it('bad pairs and options name the problem', async () => {
    const pairs = { images: [0, 1], captions: [2, 3] };
    const naaf = METHODS[0];
    await expect(engine.scorePairs(images, captions, { images: [0], captions: [1, 2] }, naaf)).rejects.toThrow(/pairs\.images has 1 entries but pairs\.captions has 2/);
    await expect(engine.scorePairs(images, captions, { images: [], captions: [] }, naaf)).rejects.toThrow(/pairs is empty/);
    await expect(engine.scorePairs(images, captions, { images: [7], captions: [0] }, naaf)).rejects.toThrow(/pairs\.images\[0\] must be an image index in \[0, 7\), got 7/);
    await expect(engine.scorePairs(images, captions, { images: [0], captions: [-1] }, naaf)).rejects.toThrow(/pairs\.captions\[0\] must be a caption index in \[0, 11\), got -1/);
    await expect(engine.scorePairs(images, captions, pairs, { ...naaf, precision: 'int8' })).rejects.toThrow(/options\.precision must be 'f32'/);
    await expect(engine.scorePairs(images, captions, pairs, { ...naaf, kernel: 'fused' })).rejects.toThrow(/split kernel; drop options\.kernel 'fused'/);
    // The plan's pair mode owns these checks, named for the call.
    await expect(engine.scorePairs(images, captions, pairs, { ...naaf, tile: { images: 2 } })).rejects.toThrow(/^scorePairs: options\.tile\.images is a fused-kernel option/);
    await expect(engine.scorePairs(images, captions, pairs, { ...naaf, maxScratchBytes: 64 })).rejects.toThrow(/^scorePairs: the split kernel's scratch \(options\.maxScratchBytes = 64.*cannot hold one caption of L = 12 words against one image of R = 36 regions.*raise it$/);
  });
});

describe('topK exact', () => {
  // Many candidates with close scores, so the low-precision rankings differ from f32.
  const b = randomBatch(211, 48, 12, randomLengths(212, 60, 3, 10), 10, 32);
  const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
  const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };

  for (const [precision, method] of [['int8', 'naaf'], ['f16', 'naaf'], ['int8', 'scan-t2i']] as const) {
    for (const direction of ['t2i', 'i2t'] as const) {
      it(`${method}, ${precision}, ${direction}: exactly the f32 top-k; plain ${precision} differs`, async () => {
        const base = (method === 'naaf' ? { method, threshold: 0.2 } : { method }) as SimilarityOptions;
        const k = 5;
        const f32 = await engine.topK(images, captions, { ...base, k, direction });
        const plain = await engine.topK(images, captions, { ...base, precision, k, direction });
        const exact = await engine.topK(images, captions, { ...base, precision, k, direction, exact: true });
        expect(Array.from(exact.indices)).toEqual(Array.from(f32.indices));
        expect(Array.from(exact.scores)).toEqual(Array.from(f32.scores));
        expect(exact.exact!.rescoredPairs).toBeGreaterThan(0);
        if (precision === 'int8') expect(Array.from(plain.indices)).not.toEqual(Array.from(f32.indices));
        // Starting from k candidates per query forces further rounds; the answer is the same.
        const tight = await engine.topK(images, captions, { ...base, precision, k, direction, exact: true, candidates: k });
        expect(Array.from(tight.indices)).toEqual(Array.from(f32.indices));
        expect(tight.exact!.rounds).toBeGreaterThan(1);
      });
    }
  }

  it('blocks and a fused tile for the low-precision pass do not reach the f32 re-scoring', async () => {
    const base = { method: 'naaf', threshold: 0.2, k: 4, direction: 't2i' } as const;
    const f32 = await engine.topK(images, captions, base);
    const exact = await engine.topK(images, captions, { ...base, precision: 'int8', kernel: 'fused', tile: { images: 2 }, blockSize: 7, exact: true });
    expect(Array.from(exact.indices)).toEqual(Array.from(f32.indices));
  });

  it('rejects bad exact options', async () => {
    const naaf = { method: 'naaf', threshold: 0.2 } as const;
    await expect(engine.topK(images, captions, { ...naaf, k: 3, direction: 't2i', candidates: 5 })).rejects.toThrow(/options\.candidates is for exact: true/);
    await expect(engine.topK(images, captions, { ...naaf, precision: 'int8', k: 3, direction: 't2i', exact: true, candidates: 2 })).rejects.toThrow(/options\.candidates must be an integer >= k = 3, got 2/);
    await expect(engine.topK(images, captions, { ...naaf, k: 3, direction: 't2i', exact: 'yes' as never })).rejects.toThrow(/options\.exact must be a boolean/);
  });
});
