// NAAF's per-word terms for inspection (a report, a debugger, tests): for every (image, caption,
// word), max_r s, neg, pos_f and pos_r, whose mean over a caption's words is its score. Written
// by the same fused kernel as the scores (naaf_score.wgsl with WORD_TERMS), so it is meant for
// small batches: the result is N x M x L x 4 floats.
import type { GpuContext } from '../gpu/context.js';
import type { CaptionInput, ImageInput, SimilarityOptions } from '../types.js';
import { encodeSimilarity } from './encode.js';
import { checkInputs, resolveOptions } from './validate.js';

export interface NaafWordTerms {
  /** Each [N, M, L] (image-major, then caption, then word); 0 past a caption's length. */
  sMax: Float32Array;
  neg: Float32Array;
  posF: Float32Array;
  posR: Float32Array;
  /** The scores themselves, [N, M]. */
  sims: Float32Array;
}

export async function naafWordTerms(ctx: GpuContext, images: ImageInput, captions: CaptionInput, options: Extract<SimilarityOptions, { method: 'naaf' }>): Promise<NaafWordTerms> {
  const what = 'naafWordTerms';
  ctx.checkUsable(what);
  const opts = resolveOptions(options);
  if (opts.method !== 'naaf') throw new Error(`${what}: options.method must be 'naaf', got ${JSON.stringify(options.method)}`);
  const dims = checkInputs(images, captions);
  const { N, M, L } = dims;
  const termBytes = N * M * L * 16;
  if (termBytes > ctx.limits.maxStorageBufferBindingSize) {
    throw new Error(`${what}: N*M*L = ${N * M * L} words' terms need ${termBytes} bytes, more than one storage binding (${ctx.limits.maxStorageBufferBindingSize}); inspect fewer pairs at a time`);
  }
  return ctx.scoped(what, async () => {
    const transient: GPUBuffer[] = [];
    const own = (buffer: GPUBuffer) => (transient.push(buffer), buffer);
    try {
      const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
      const imageBuffer = 'data' in images ? own(ctx.upload(images.data, 'images')) : images.buffer;
      const captionBuffer = 'data' in captions ? own(ctx.upload(captions.data, 'captions')) : captions.buffer;
      const terms = own(ctx.pool.acquire(termBytes, usage, 'word terms'));
      const result = own(ctx.pool.acquire(N * M * 4, usage, 'similarity result'));
      const encoder = ctx.createEncoder(what);
      encoder.clearBuffer(terms, 0, termBytes);
      await encodeSimilarity(ctx, encoder, {
        imageBuffer, imageOffset: 'data' in images ? 0 : images.offset ?? 0,
        captionBuffer, captionOffset: 'data' in captions ? 0 : captions.offset ?? 0,
      }, dims, opts, { buffer: result, offset: 0 }, transient, terms);
      ctx.submit(encoder);
      const sims = await ctx.readFloat32(result, 0, N * M);
      const packed = await ctx.readFloat32(terms, 0, N * M * L * 4);
      const split = (k: number) => Float32Array.from({ length: N * M * L }, (_, i) => packed[4 * i + k]);
      return { sMax: split(0), neg: split(1), posF: split(2), posR: split(3), sims };
    } finally {
      for (const buffer of transient) ctx.pool.release(buffer);
    }
  });
}
