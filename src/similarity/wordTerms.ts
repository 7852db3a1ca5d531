// NAAF's per-word terms for inspection (a report, a debugger, tests): for every (image, caption,
// word), max_r s, neg, pos_f and pos_r, whose mean over a caption's words is its score. Written
// by the same fused kernel as the scores (naaf_score.wgsl with WORD_TERMS), so it is meant for
// small batches: the result is N x M x L x 4 floats.
import { methodSpec } from '../methods/index.js';
import type { GpuContext } from '../gpu/context.js';
import type { CaptionInput, ImageInput, SimilarityOptions } from '../types.js';
import { CommandStream } from '../gpu/submit.js';
import { runBlocks } from './blocks.js';
import { resolvePlan } from './plan.js';
import { vec4Aligned } from './run.js';
import { captionSource, imageSource, sourceOffset } from './sources.js';
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
  if (!methodSpec(opts.method).wordTerms) throw new Error(`${what}: options.method must be 'naaf', got ${JSON.stringify(options.method)}`);
  const dims = checkInputs(images, captions);
  const { N, R, D, M, L } = dims;
  const termBytes = N * M * L * 16;
  if (termBytes > ctx.limits.maxStorageBufferBindingSize) {
    throw new Error(`${what}: N*M*L = ${N * M * L} words' terms need ${termBytes} bytes, more than one storage binding (${ctx.limits.maxStorageBufferBindingSize}); inspect fewer pairs at a time`);
  }
  const plan = await resolvePlan(ctx, { R, D, L }, opts, vec4Aligned(sourceOffset(images), sourceOffset(captions), D), 'word-terms');
  return ctx.scoped(what, async () => {
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const terms = ctx.pool.acquire(termBytes, usage, 'word terms');
    const result = ctx.pool.acquire(N * M * 4, usage, 'similarity result');
    try {
      const stream = new CommandStream(ctx, what, opts.signal);
      try {
        stream.commandEncoder().clearBuffer(terms, 0, termBytes);
        await runBlocks(ctx, {
          what, plan, opts, maxGpuBytes: Infinity, stream, singleBlock: true, outer: 'captions', wordTerms: terms,
          images: imageSource(images, N, R, D, opts.precision), captions: captionSource(captions, M, L, D, dims.lengths),
          target: { buffer: result, offset: 0 },
        });
        const sims = await stream.read(result, 0, N * M);
        const packed = await stream.read(terms, 0, N * M * L * 4);
        await stream.finish(false);
        const split = (k: number) => Float32Array.from({ length: N * M * L }, (_, i) => packed[4 * i + k]);
        return { sMax: split(0), neg: split(1), posF: split(2), posR: split(3), sims };
      } catch (error) {
        await stream.abandon();
        throw error;
      }
    } finally {
      ctx.pool.release(terms);
      ctx.pool.release(result);
    }
  });
}
