// Launcher of the fused score backward (kernels/common/score_bwd_tile.wgsl + one method file +
// kernels/score.bwd.wgsl): the region and word Grams, then two dispatches that recompute the
// word-region similarities per (caption tile, image): one writes dU (workgroups per caption
// tile), one writes dV (workgroups per image). On a GPU each owner's loop is split over a few
// groups of workgroups writing partials that kernels/score_reduce.bwd.wgsl adds up (a batch of
// 128 would otherwise occupy only about 64 + 128 workgroups). No B x B x L x R tensor is stored.
import scoreBwdWgsl from '../../kernels/score.bwd.wgsl';
import scoreReduceBwdWgsl from '../../kernels/score_reduce.bwd.wgsl';
import type { BufferBinding, GpuContext } from '../gpu/context.js';
import { encodeRegionGram, encodeWordGram, regionGramPipeline, wordGramPipeline } from './gram.js';
import { methodOfBackward } from '../methods/index.js';
import {
  CPU_WG, GPU_WG, backwardMethodParts, uploadBackwardTables, checkScoreBackwardArgs, chooseScoreBackwardConfig,
  type BackwardMethod, type CheckedScoreBackwardArgs, type ScoreBackwardArgs, type ScoreBackwardConfig,
} from './scoreBackwardArgs.js';
import { encodeSplitScoreBackward, splitFits } from './scoreBackwardSplit.js';

export { chooseScoreBackwardConfig, scoreBackwardSharedBytes } from './scoreBackwardArgs.js';
export type { BackwardMethod, ScoreBackwardArgs, ScoreBackwardConfig } from './scoreBackwardArgs.js';

const REDUCE_WG = 64;


export function scoreBackwardPipeline(ctx: GpuContext, method: BackwardMethod, config: ScoreBackwardConfig,
  imageSide: boolean, lse: boolean, runtimeRegions = false): Promise<GPUComputePipeline> {
  const parts = [...backwardMethodParts(method), { name: 'kernels/score.bwd.wgsl', code: scoreBwdWgsl }];
  const constants = { ...config, IMAGE_SIDE: imageSide, RUNTIME_R: runtimeRegions, ...(methodOfBackward(method).backwardTerms.aggregation ? { LSE: lse } : {}) };
  return ctx.pipeline(`${method} score backward (${imageSide ? 'images' : 'captions'})`, parts, constants);
}

/**
 * Encodes, into `encoder`, dV = d/dV and dU = d/dU of sum_{n,m} gradScores[n, m] * score(n, m):
 * by the split path (GEMMs and an epilogue, scoreBackwardSplit.ts) unless args.kernel is
 * 'fused'. Buffers it creates are pushed to `transient` (release them to ctx.pool after the submit).
 */
export async function encodeScoreBackward(ctx: GpuContext, encoder: GPUCommandEncoder, args: ScoreBackwardArgs, transient: GPUBuffer[]): Promise<void> {
  ctx.checkUsable('scoreBackward');
  const checked = checkScoreBackwardArgs(ctx, args);
  // The fused kernels where S of one image does not fit (unless the split path was asked for).
  const split = checked.kernel === 'split' && (args.kernel === 'split' || splitFits(ctx, args, checked));
  if (split) return encodeSplitScoreBackward(ctx, encoder, args, checked, transient);
  return encodeFusedScoreBackward(ctx, encoder, args, checked, transient);
}

/** The fused backward (one compute pass): S recomputed per (caption tile, image) on each side. */
async function encodeFusedScoreBackward(ctx: GpuContext, encoder: GPUCommandEncoder, args: ScoreBackwardArgs,
  checked: CheckedScoreBackwardArgs, transient: GPUBuffer[]): Promise<void> {
  const { lengths, maxWords, lse, lambdaLse, bindings, thresholds, workgroupSize: wg, runtimeRegions } = checked;
  const { method, N, R, M, L, D } = args;
  const config = chooseScoreBackwardConfig(R, maxWords, ctx.limits.maxComputeWorkgroupStorageSize, wg);
  const terms = methodOfBackward(method).backwardTerms;
  const scan = terms.input === 'wordGram';
  const wordGramGrad = terms.gram === 'words'; // else over regions
  const [gramPipe, wordPipe, captionPipe, imagePipe] = await Promise.all([
    regionGramPipeline(ctx, R),
    scan ? wordGramPipeline(ctx, false) : null,
    scoreBackwardPipeline(ctx, method, config, false, lse, runtimeRegions),
    scoreBackwardPipeline(ctx, method, config, true, lse, runtimeRegions),
  ]);

  const own = (buffer: GPUBuffer) => (transient.push(buffer), buffer);
  const { buffer: layoutBuffer, numTiles, lengthsBase } = uploadBackwardTables(ctx, lengths, config, transient);
  const regionGram = own(ctx.pool.acquire(N * R * R * 4, GPUBufferUsage.STORAGE, 'score backward region gram'));
  // Method binding 8: per-caption thresholds (NAAF) or the word Gram (SCAN).
  let methodBinding: BufferBinding | null = null;
  if (scan) {
    methodBinding = own(ctx.pool.acquire(M * L * L * 4, GPUBufferUsage.STORAGE, 'score backward word gram'));
  } else if (terms.input === 'thresholds') {
    methodBinding = thresholds!;
  }
  // Sum over images of dW_m (i2t, caption side) and over captions of dG_n (NAAF, t2i, image side).
  const captionScratch = own(ctx.pool.acquire(wordGramGrad ? M * L * L * 4 : 16, GPUBufferUsage.STORAGE, 'score backward dW'));
  const imageScratch = own(ctx.pool.acquire(wordGramGrad ? 16 : N * R * R * 4, GPUBufferUsage.STORAGE, 'score backward dG'));

  const pass = ctx.beginPass(encoder, 'score backward');
  if (terms.regionGram) encodeRegionGram(ctx, pass, gramPipe, { images: bindings.images, imageBase: 0, numImages: N, dim: D, gram: regionGram }, transient);
  if (scan) {
    encodeWordGram(ctx, pass, wordPipe!, {
      captions: bindings.captions, captionBase: 0, captionChunkStart: lengthsBase, numCaptions: M, maxWords: L, dim: D,
      lengths: layoutBuffer, lambdaIntra: 0, wordGram: methodBinding as GPUBuffer,
    }, transient);
  }
  // Groups per side: one on a CPU driver (it runs a few workgroups at a time; more would only
  // add the reduction), else enough for about 256 workgroups, at most 8 and within one binding.
  const cpu = ctx.info.architecture === 'software';
  const captionFloats = M * L * D;
  const imageFloats = N * R * D;
  const captionScratchFloats = wordGramGrad ? M * L * L : 0;
  const imageScratchFloats = wordGramGrad ? 0 : N * R * R;
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  const groupsOf = (pinned: number | undefined, owners: number, loop: number, floats: number, scratchFloats: number) => {
    const wanted = pinned ?? (cpu ? 1 : Math.ceil(256 / owners));
    const fit = Math.floor(maxBinding / (4 * Math.max(floats, scratchFloats, 1)));
    return Math.max(1, Math.min(wanted, 8, loop, fit));
  };
  const captionGroups = groupsOf(args.groups?.captions, numTiles, N, captionFloats, captionScratchFloats);
  const imageGroups = groupsOf(args.groups?.images, N, numTiles, imageFloats, imageScratchFloats);
  const sides = [
    { imageSide: false, groups: captionGroups, groupSize: Math.ceil(N / captionGroups), owners: numTiles, floats: captionFloats, scratchFloats: captionScratchFloats,
      pipe: captionPipe, out: bindings.gradCaptions, scratch: captionScratch, features: bindings.captions, rows: M, items: L, gram: wordGramGrad },
    { imageSide: true, groups: imageGroups, groupSize: Math.ceil(numTiles / imageGroups), owners: N, floats: imageFloats, scratchFloats: imageScratchFloats,
      pipe: imagePipe, out: bindings.gradImages, scratch: imageScratch, features: bindings.images, rows: N, items: R, gram: !wordGramGrad },
  ];
  for (const side of sides) {
    const params = own(ctx.uniforms([
      [D, 'u32'], [L, 'u32'], [N, 'u32'], [M, 'u32'], [numTiles, 'u32'], [lengthsBase, 'u32'],
      [args.lambdaSoftmax, 'f32'], [lambdaLse, 'f32'], [side.groups, 'u32'], [side.groupSize, 'u32'], [side.floats, 'u32'], [side.scratchFloats, 'u32'],
      [R, 'u32'], [config.PER_THREAD, 'u32'], [0, 'u32'], [0, 'u32'], [0, 'u32'], [0, 'u32'], [0, 'u32'], // the last 5: split only
    ], 'score backward params'));
    let out: BufferBinding = side.out;
    let scratch: BufferBinding = side.scratch;
    if (side.groups > 1) {
      // Bound at their exact size: the pool rounds up, possibly past the binding limit.
      const exact = (floats: number, label: string) => ({ buffer: own(ctx.pool.acquire(floats * 4, GPUBufferUsage.STORAGE, label)), offset: 0, size: floats * 4 });
      out = exact(side.groups * side.floats, 'score backward partial gradients');
      if (side.scratchFloats > 0) scratch = exact(side.groups * side.scratchFloats, 'score backward partial Gram gradients');
    }
    const group = ctx.bindGroup(side.pipe, [params, bindings.images, bindings.captions, layoutBuffer, bindings.gradScores, terms.regionGram ? regionGram : null, out, scratch, methodBinding],
      `score backward ${side.imageSide ? 'images' : 'captions'}`);
    ctx.dispatch(pass, side.pipe, group, side.owners, side.groups);
    if (side.groups > 1) {
      const reducePipe = await ctx.pipeline('score backward reduce', [{ name: 'kernels/score_reduce.bwd.wgsl', code: scoreReduceBwdWgsl }],
        { WG: REDUCE_WG, IMAGE_SIDE: side.imageSide, GRAM: side.gram });
      const reduceParams = own(ctx.uniforms([
        [side.rows, 'u32'], [side.items, 'u32'], [D, 'u32'], [side.groups, 'u32'],
        [side.floats, 'u32'], [side.scratchFloats, 'u32'], [lengthsBase, 'u32'], [0, 'u32'],
      ], 'score backward reduce params'));
      const workgroups = Math.ceil(side.floats / REDUCE_WG);
      const x = Math.min(workgroups, ctx.limits.maxComputeWorkgroupsPerDimension);
      ctx.dispatch(pass, reducePipe, ctx.bindGroup(reducePipe, [reduceParams, side.features, out, scratch, layoutBuffer, side.out], 'score backward reduce'),
        x, Math.ceil(workgroups / x));
    }
  }
  pass.end();
}
