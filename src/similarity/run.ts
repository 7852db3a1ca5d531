// similarity(): validates, resolves one plan for the call (src/similarity/plan.ts), encodes
// every dispatch into one submit (src/similarity/encode.ts), and reads the N x M result back once.
import type { GpuContext } from '../gpu/context.js';
import type { CaptionInput, ImageInput, OutputTarget, SimilarityOptions } from '../types.js';
import { encodeSimilarity, vec4Aligned } from './encode.js';
import { resolvePlan } from './plan.js';
import { checkInputs, checkOutput, checkPrecisionRange, resolveOptions } from './validate.js';

export async function runSimilarity(
  ctx: GpuContext, images: ImageInput, captions: CaptionInput, options: SimilarityOptions, target?: OutputTarget,
): Promise<Float32Array | undefined> {
  const what = target ? 'similarityInto' : 'similarity';
  ctx.checkUsable(what);
  const opts = resolveOptions(options);
  const dims = checkInputs(images, captions);
  checkPrecisionRange(opts.precision, images, captions);
  const targetOffset = target ? checkOutput(target, dims.N, dims.M) : 0;
  const imageOffset = 'data' in images ? 0 : images.offset ?? 0;
  const captionOffset = 'data' in captions ? 0 : captions.offset ?? 0;
  // Rejects what cannot run here before any GPU work (encodeSimilarity resolves the same plan).
  await resolvePlan(ctx, dims, opts, vec4Aligned({ imageOffset, captionOffset }, dims.D));

  return ctx.scoped(what, async () => {
    const transient: GPUBuffer[] = [];
    const own = (buffer: GPUBuffer) => (transient.push(buffer), buffer);
    try {
      const imageBuffer = 'data' in images ? own(ctx.upload(images.data, 'images')) : images.buffer;
      const captionBuffer = 'data' in captions ? own(ctx.upload(captions.data, 'captions')) : captions.buffer;
      const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
      const result = target ? target.buffer : own(ctx.pool.acquire(dims.N * dims.M * 4, storage, 'similarity result'));
      const encoder = ctx.createEncoder(what);
      await encodeSimilarity(ctx, encoder, { imageBuffer, imageOffset, captionBuffer, captionOffset }, dims, opts, { buffer: result, offset: targetOffset }, transient);
      if (target) {
        ctx.submit(encoder);
        return undefined;
      }
      return await ctx.readFloat32(result, 0, dims.N * dims.M, encoder);
    } finally {
      for (const buffer of transient) ctx.pool.release(buffer);
    }
  });
}
