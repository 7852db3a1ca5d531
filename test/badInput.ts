// Bad input that every backend refuses before any work, with the same clear Error naming the
// argument, the expectation and what was given (test/ops/bad-input.test.ts runs them on WebGPU,
// test/wasm/bad-input.test.ts on the CPU backend).
import { describe, expect, it } from 'vitest';
import type { NaafEngine } from '../src/index.js';
import type { CaptionInput, ImageInput, SimilarityOptions } from '../src/types.js';
import { randomBatch } from './random.js';

export const b = randomBatch(31, 2, 4, [2, 3], 3, 8);
export const images: ImageInput = { data: b.images, shape: [2, 4, 8] };
export const captions: CaptionInput = { data: b.captions, shape: [2, 3, 8], lengths: [2, 3] };
export const naaf: SimilarityOptions = { method: 'naaf', threshold: 0.3 };

/** The call is refused with `message`, and nothing ran (no dispatch, no submission). */
export async function rejectsOn(engine: NaafEngine, imgs: unknown, caps: unknown, options: unknown, message: RegExp): Promise<void> {
  const before = engine.stats();
  await expect(engine.similarity(imgs as ImageInput, caps as CaptionInput, options as SimilarityOptions)).rejects.toThrow(message);
  const after = engine.stats();
  expect(after.dispatches).toBe(before.dispatches);
  expect(after.submits).toBe(before.submits);
}

export function describeBadInput(label: string, engine: NaafEngine): void {
  describe(`bad input is rejected with a clear error (${label})`, () => {
    const rejects = (imgs: unknown, caps: unknown, options: unknown, message: RegExp) => rejectsOn(engine, imgs, caps, options, message);

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
  });
}
