// Streaming top-K against sorting the full similarity matrix, in blocks, both directions.
import { describe, expect, it } from 'vitest';
import type { SimilarityOptions } from '../../src/types.js';
import { sharedEngine } from '../gpu.js';
import { randomBatch, randomLengths } from '../random.js';

const engine = await sharedEngine();

function expectedTopK(sims: Float32Array, N: number, M: number, k: number, direction: 't2i' | 'i2t') {
  const [queries, candidates] = direction === 't2i' ? [M, N] : [N, M];
  const score = (q: number, c: number) => (direction === 't2i' ? sims[c * M + q] : sims[q * M + c]);
  const indices: number[] = [];
  for (let q = 0; q < queries; q++) {
    const order = Array.from({ length: candidates }, (_, c) => c).sort((a, b) => score(q, b) - score(q, a) || a - b);
    indices.push(...order.slice(0, k));
  }
  return indices;
}

describe('topK', () => {
  const b = randomBatch(51, 9, 8, randomLengths(52, 13, 2, 7), 7, 12);
  const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
  const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };

  for (const options of [{ method: 'naaf', threshold: 0.3 }, { method: 'scan-i2t' }] as SimilarityOptions[]) {
    for (const direction of ['t2i', 'i2t'] as const) {
      it(`${options.method} ${direction}: blocks of 4 give the same ranking as the full matrix`, async () => {
        const full = await engine.similarity(images, captions, options);
        const k = 3;
        const result = await engine.topK(images, captions, { ...options, k, direction, blockSize: 4 });
        expect(Array.from(result.indices)).toEqual(expectedTopK(full, b.N, b.M, k, direction));
        const queries = direction === 't2i' ? b.M : b.N;
        for (let q = 0; q < queries; q++) {
          for (let j = 0; j < k; j++) {
            const c = result.indices[q * k + j];
            const want = direction === 't2i' ? full[c * b.M + q] : full[q * b.M + c];
            expect(result.scores[q * k + j]).toBe(want);
          }
        }
      });
    }
  }

  it('GPU-buffer inputs, k = all candidates, and bad k / direction', async () => {
    const device = engine.device;
    const buffer = (data: Float32Array) => {
      const out = device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(out, 0, data);
      return out;
    };
    const gi = buffer(b.images);
    const gc = buffer(b.captions);
    const options = { method: 'scan-t2i' as const, k: b.N, direction: 't2i' as const, blockSize: 2 };
    const viaGpu = await engine.topK({ buffer: gi, shape: [b.N, b.R, b.D] }, { buffer: gc, shape: [b.M, b.L, b.D], lengths: b.lengths }, options);
    const viaCpu = await engine.topK(images, captions, options);
    expect(Array.from(viaGpu.indices)).toEqual(Array.from(viaCpu.indices));
    await expect(engine.topK(images, captions, { method: 'scan-t2i', k: 0, direction: 't2i' })).rejects.toThrow(/options\.k must be an integer in \[1, 9\] \(the images\), got 0/);
    await expect(engine.topK(images, captions, { method: 'scan-t2i', k: 14, direction: 'i2t' })).rejects.toThrow(/options\.k must be an integer in \[1, 13\] \(the captions\), got 14/);
    await expect(engine.topK(images, captions, { method: 'scan-t2i', k: 1, direction: 'x' as 't2i' })).rejects.toThrow(/options\.direction must be 't2i' or 'i2t'/);
    gi.destroy();
    gc.destroy();
  });
});
