// The Gram kernels on their own, against their float64 references.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { encodeRegionGram, encodeWordGram, regionGramPipeline, wordGramPipeline } from '../../src/ops/gram.js';
import { regionGramRef, wordGramRef } from '../../src/ref/gram.js';
import { maxAbsDiff } from '../fixtures.js';
import { sharedEngine } from '../gpu.js';
import { randomBatch } from '../random.js';
import type { GpuPass } from '../../src/gpu/pass.js';

const engine = await sharedEngine();
const ctx = (engine as unknown as { ctx: GpuContext }).ctx;

async function run(size: number, encode: (pass: GpuPass, out: GPUBuffer, transient: GPUBuffer[]) => void) {
  const out = ctx.pool.acquire(size * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'test out');
  const transient: GPUBuffer[] = [out];
  const encoder = ctx.createEncoder('test');
  const pass = ctx.beginPass(encoder, 'test');
  encode(pass, out, transient);
  pass.end();
  const result = await ctx.readFloat32(out, 0, size, encoder);
  transient.forEach((b) => ctx.pool.release(b));
  return result;
}

describe('Gram kernels', () => {
  it('region Gram, for a window that starts mid-buffer', async () => {
    const b = randomBatch(41, 5, 7, [1], 1, 13);
    const images = ctx.upload(b.images, 'images');
    const pipeline = await regionGramPipeline(ctx, b.R);
    // images 2..4 only, addressed through imageBase
    const gram = await run(3 * 7 * 7, (pass, out, transient) => {
      transient.push(images);
      encodeRegionGram(ctx, pass, pipeline, { images, imageBase: 2 * 7 * 13, numImages: 3, dim: 13, gram: out }, transient);
    });
    expect(maxAbsDiff(gram, regionGramRef(b.images.subarray(2 * 7 * 13), 3, 7, 13))).toBeLessThan(1e-6);
  });

  for (const softmax of [false, true]) {
    it(`word Gram${softmax ? ' with the intra-text softmax' : ''}, zero outside each caption`, async () => {
      const b = randomBatch(42, 1, 1, [3, 1, 5, 2], 5, 9);
      const captions = ctx.upload(b.captions, 'captions');
      const lengths = ctx.upload(Uint32Array.from(b.lengths), 'lengths');
      const pipeline = await wordGramPipeline(ctx, softmax);
      // captions 1..3 as a chunk starting at caption 1
      const result = await run(3 * 25, (pass, out, transient) => {
        transient.push(captions, lengths);
        encodeWordGram(ctx, pass, pipeline, {
          captions, captionBase: 5 * 9, captionChunkStart: 1, numCaptions: 3, maxWords: 5, dim: 9, lengths, lambdaIntra: 5, wordGram: out,
        }, transient);
      });
      const expected = wordGramRef(b.captions.subarray(5 * 9), b.lengths.subarray(1), 5, 9, softmax ? 5 : undefined);
      expect(maxAbsDiff(result, expected)).toBeLessThan(1e-6);
    });
  }
});
