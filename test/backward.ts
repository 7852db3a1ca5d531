// The score backward on a test's engine from CPU arrays: every output starts as NaN, so every
// value, padding included, must be overwritten. Shared by test/ops/scoreBackward.test.ts and
// test/ops/chan.test.ts.
import type { GpuContext } from '../src/gpu/context.js';
import { ScoreBackwardArgs, encodeScoreBackward } from '../src/ops/scoreBackward.js';
import type { ScoreBackwardRefOptions } from '../src/ref/scoreBackward.js';

export interface BackwardBatch {
  N: number; R: number; M: number; L: number; D: number;
  images: Float32Array; captions: Float32Array; lengths: Int32Array | Uint32Array;
}

/** The launcher's per-device choices, pinned (defaults: the device's). */
export type BackwardVariant = Pick<ScoreBackwardArgs, 'workgroupSize' | 'runtimeRegions' | 'kernel' | 'maxScratchBytes'>;

export async function runScoreBackward(ctx: GpuContext, b: BackwardBatch, options: ScoreBackwardRefOptions, grads: ArrayLike<number>,
  groups?: ScoreBackwardArgs['groups'], variant: BackwardVariant = {}): Promise<{ gradImages: Float32Array; gradCaptions: Float32Array }> {
  const { N, R, M, L, D } = b;
  return ctx.scoped('scoreBackward test', async () => {
    const transient: GPUBuffer[] = [];
    const upload = (data: Float32Array, label: string) => { const buffer = ctx.upload(data, label); transient.push(buffer); return buffer; };
    try {
      const gradImages = upload(new Float32Array(N * R * D).fill(NaN), 'gradImages');
      const gradCaptions = upload(new Float32Array(M * L * D).fill(NaN), 'gradCaptions');
      const encoder = ctx.createEncoder('scoreBackward test');
      await encodeScoreBackward(ctx, encoder, {
        method: options.method, N, R, M, L, D,
        images: upload(b.images, 'images'), captions: upload(b.captions, 'captions'), lengths: b.lengths,
        thresholds: options.thresholds ? upload(Float32Array.from(options.thresholds), 'thresholds') : undefined,
        lambdaSoftmax: options.lambdaSoftmax, lse: options.lse, lambdaLse: options.lambdaLse,
        gradScores: upload(Float32Array.from(grads), 'gradScores'), gradImages, gradCaptions, groups, ...variant,
      }, transient);
      return {
        gradImages: await ctx.readFloat32(gradImages, 0, N * R * D, encoder),
        gradCaptions: await ctx.readFloat32(gradCaptions, 0, M * L * D),
      };
    } finally {
      transient.forEach((buffer) => ctx.pool.release(buffer));
    }
  });
}
