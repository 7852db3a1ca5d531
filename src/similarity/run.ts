// similarity(): validates, resolves one plan for the call (src/similarity/plan.ts) and runs it
// in blocks (src/similarity/blocks.ts): any N and M, within options.maxGpuBytes, submitted in
// bounded pieces, cancellable with options.signal; the scores come back block by block into the
// N x M result (or are written into the caller's buffer by similarityInto).
import type { GpuContext } from '../gpu/context.js';
import type { CaptionInput, OutputTarget, SimilarityOptions } from '../types.js';
import { copyBlockInto, runBlocks } from './blocks.js';
import { resolvePlan } from './plan.js';
import { ImageRowsInput, captionSource, imageSource, sourceOffset } from './sources.js';
import { checkInputs, checkOutput, checkPrecisionRange, resolveOptions } from './validate.js';

/** Whether the f32 product may read both inputs as vec4: D % 4 == 0 and 16-byte aligned offsets. */
export function vec4Aligned(imageOffset: number, captionOffset: number, D: number): boolean {
  return D % 4 === 0 && imageOffset % 16 === 0 && captionOffset % 16 === 0;
}

export async function runSimilarity(
  ctx: GpuContext, images: ImageRowsInput, captions: CaptionInput, options: SimilarityOptions, target?: OutputTarget,
): Promise<Float32Array | undefined> {
  const what = target ? 'similarityInto' : 'similarity';
  ctx.checkUsable(what);
  const opts = resolveOptions(options);
  const dims = checkInputs(images, captions);
  const { N, R, D, M, L } = dims;
  checkPrecisionRange(opts.precision, images, captions);
  const targetOffset = target ? checkOutput(target, N, M) : 0;
  // Rejects what cannot run here before any GPU work.
  const plan = await resolvePlan(ctx, { R, D, L }, opts, vec4Aligned(sourceOffset(images), sourceOffset(captions), D));
  const result = target ? undefined : new Float32Array(N * M);
  await ctx.scoped(what, () => runBlocks(ctx, {
    what, plan, opts, maxGpuBytes: opts.maxGpuBytes, signal: opts.signal,
    images: imageSource(images, N, R, D, opts.precision), captions: captionSource(captions, M, L, D, dims.lengths),
    // The captions once, the images streamed past them: today's order (a gallery's images are many).
    outer: 'captions',
    target: target && { buffer: target.buffer, offset: targetOffset },
    onBlock: result && ((block) => copyBlockInto(result, M, block)),
  }));
  return result;
}
