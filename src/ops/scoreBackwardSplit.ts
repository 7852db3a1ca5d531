// Launcher of the split score backward: per pass of images (as many as keep S within
// maxScratchBytes and one binding),
//   S = U V_p^T                          a GEMM (kernels/matmul.wgsl, B transposed)
//   S -> dS in place, Gram gradients     kernels/score_epilogue.bwd.wgsl + the method file
//   dU (+)= dS V_p,  dV_p = dS^T U       GEMMs (the second with A transposed)
// then the Gram term and the norm scales (kernels/score_finish.bwd.wgsl). S is [M * L, pass
// images * R] with captions at their padded length L: the GEMMs stay plain dense products and
// dU's padding rows come out 0 (dS is 0 there). The fused backward recomputes S on each side
// for every (caption tile, image) and does these products in its own loops: on lavapipe they
// were 75-91% of a training step.
import scoreEpilogueBwdWgsl from '../../kernels/score_epilogue.bwd.wgsl';
import scoreFinishBwdWgsl from '../../kernels/score_finish.bwd.wgsl';
import type { BufferBinding, GpuContext } from '../gpu/context.js';
import { encodeRegionGram, encodeWordGram, regionGramPipeline, wordGramPipeline } from './gram.js';
import { encodeColumnSum } from './gruBackward.js';
import { encodeMatmul } from './matmul.js';
import { scratchBytesLimit } from '../gpu/limits.js';
import { methodOfBackward } from '../methods/index.js';
import {
  backwardMethodParts, chooseScoreBackwardConfig, uploadBackwardTables,
  type BackwardMethod, type CheckedScoreBackwardArgs, type ScoreBackwardArgs, type ScoreBackwardConfig,
} from './scoreBackwardArgs.js';

const FINISH_WG = 64;
const GEMM_LABEL = 'score backward matmul';

export function scoreEpilogueBackwardPipeline(ctx: GpuContext, method: BackwardMethod, config: ScoreBackwardConfig,
  lse: boolean, runtimeRegions: boolean): Promise<GPUComputePipeline> {
  const terms = methodOfBackward(method).backwardTerms;
  const constants = {
    ...config, IMAGE_SIDE: terms.gram !== 'words', RUNTIME_R: runtimeRegions, SCALES: terms.scales,
    ...(terms.aggregation ? { LSE: lse } : {}),
  };
  return ctx.pipeline(`${method} score backward epilogue`, [
    ...backwardMethodParts(method), { name: 'kernels/score_epilogue.bwd.wgsl', code: scoreEpilogueBwdWgsl },
  ], constants);
}

/** Images per pass: S of one image is M * L * R floats; throws when not even one fits. */
export function backwardImagesPerPass(ctx: GpuContext, N: number, R: number, M: number, L: number, maxScratchBytes: number): number {
  const limit = scratchBytesLimit(ctx.limits, maxScratchBytes);
  const perImage = M * L * R * 4;
  if (perImage > limit) {
    throw new Error(
      `scoreBackward: the split backward needs ${perImage} bytes of S for one image (M * L * R = ${M} * ${L} * ${R} floats), ` +
      `more than ${limit} (min of args.maxScratchBytes and this device's buffer limits); use args.kernel 'fused'`,
    );
  }
  return Math.min(N, Math.floor(limit / perImage));
}

/** Whether S of one image fits the split path's scratch (else the fused kernels run). */
export function splitFits(ctx: GpuContext, args: ScoreBackwardArgs, checked: CheckedScoreBackwardArgs): boolean {
  return args.M * args.L * args.R * 4 <= scratchBytesLimit(ctx.limits, checked.maxScratchBytes);
}

export async function encodeSplitScoreBackward(ctx: GpuContext, encoder: GPUCommandEncoder, args: ScoreBackwardArgs,
  checked: CheckedScoreBackwardArgs, transient: GPUBuffer[]): Promise<void> {
  const { lengths, maxWords, lse, lambdaLse, bindings, thresholds, workgroupSize, runtimeRegions } = checked;
  const { method, N, R, M, L, D } = args;
  const config = chooseScoreBackwardConfig(R, maxWords, ctx.limits.maxComputeWorkgroupStorageSize, workgroupSize);
  const { backwardTerms } = methodOfBackward(method);
  const scan = backwardTerms.input === 'wordGram';
  const imageOwned = backwardTerms.gram !== 'words'; // no Gram (CHAN): image-owned too
  const perPass = backwardImagesPerPass(ctx, N, R, M, L, checked.maxScratchBytes);
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  const [gramPipe, wordPipe, epiloguePipe] = await Promise.all([
    regionGramPipeline(ctx, R),
    scan ? wordGramPipeline(ctx, false) : null,
    scoreEpilogueBackwardPipeline(ctx, method, config, lse, runtimeRegions),
  ]);

  const own = (buffer: GPUBuffer) => (transient.push(buffer), buffer);
  const exact = (floats: number, label: string): { buffer: GPUBuffer; offset: number; size: number } => {
    const bytes = Math.max(4, floats) * 4;
    if (bytes > maxBinding) throw new Error(`scoreBackward: ${label} needs ${bytes} bytes, more than this device's maxStorageBufferBindingSize ${maxBinding}`);
    return { buffer: own(ctx.pool.acquire(bytes, GPUBufferUsage.STORAGE, label, true)), offset: 0, size: bytes };
  };
  const { buffer: layoutBuffer, numTiles, lengthsBase } = uploadBackwardTables(ctx, lengths, config, transient);
  const regionGram = exact(N * R * R, 'score backward region gram');
  const wordGram = scan ? exact(M * L * L, 'score backward word gram') : null;
  const methodBinding: BufferBinding | null = wordGram ?? (backwardTerms.input === 'thresholds' ? thresholds! : null);

  // Groups share one owner's loop on a GPU (a batch of 128 images would be 128 workgroups).
  const owners = imageOwned ? perPass : numTiles;
  const loop = imageOwned ? numTiles : perPass;
  const pinned = imageOwned ? args.groups?.images : args.groups?.captions;
  const groups = Math.max(1, Math.min(pinned ?? (ctx.info.architecture === 'software' ? 1 : Math.ceil(256 / owners)), 8, loop));
  // scratch: the groups' partial Gram gradients (dG [N, R, R] or dW [M, L, L]), then the scales.
  const gramFloats = backwardTerms.gram === 'none' ? 0 : imageOwned ? N * R * R : M * L * L;
  const scaleStride = imageOwned ? M * L : N * R;
  const scaleOwners = imageOwned ? N : numTiles;
  const scaleBase = groups * gramFloats;
  const hasScales = backwardTerms.scales;
  const scratch = exact(scaleBase + (hasScales ? scaleOwners * scaleStride : 0), 'score backward Gram gradients');
  const sims = exact(perPass * R * M * L, 'score backward S');

  const pass = ctx.beginPass(encoder, 'score backward');
  if (backwardTerms.regionGram) encodeRegionGram(ctx, pass, gramPipe, { images: bindings.images, imageBase: 0, numImages: N, dim: D, gram: regionGram.buffer }, transient);
  if (scan) {
    encodeWordGram(ctx, pass, wordPipe!, {
      captions: bindings.captions, captionBase: 0, captionChunkStart: lengthsBase, numCaptions: M, maxWords: L, dim: D,
      lengths: layoutBuffer, lambdaIntra: 0, wordGram: wordGram!.buffer,
    }, transient);
  }
  for (let p0 = 0; p0 < N; p0 += perPass) {
    const P = Math.min(perPass, N - p0);
    const columns = P * R;
    await encodeMatmul(ctx, pass, { transB: true }, { M: M * L, N: columns, K: D, a: args.captions, b: args.images, bBase: p0 * R * D, c: sims.buffer }, transient, `${GEMM_LABEL} S`);
    const groupSize = Math.ceil((imageOwned ? numTiles : P) / groups);
    const params = own(ctx.uniforms([
      [D, 'u32'], [L, 'u32'], [P, 'u32'], [M, 'u32'], [numTiles, 'u32'], [lengthsBase, 'u32'],
      [args.lambdaSoftmax, 'f32'], [lambdaLse, 'f32'], [groups, 'u32'], [groupSize, 'u32'], [0, 'u32'], [gramFloats, 'u32'],
      [R, 'u32'], [config.PER_THREAD, 'u32'], [p0, 'u32'], [columns, 'u32'], [p0 === 0 ? 1 : 0, 'u32'], [scaleBase, 'u32'],
      [scaleStride, 'u32'],
    ], 'score backward epilogue params'));
    const group = ctx.bindGroup(epiloguePipe, [params, null, null, layoutBuffer, bindings.gradScores, backwardTerms.regionGram ? regionGram : null, sims, scratch, methodBinding],
      'score backward epilogue');
    ctx.dispatch(pass, epiloguePipe, group, imageOwned ? P : numTiles, groups);
    await encodeMatmul(ctx, pass, { accumulate: p0 > 0 }, { M: M * L, N: D, K: columns, a: sims.buffer, b: args.images, bBase: p0 * R * D, c: args.gradCaptions }, transient, `${GEMM_LABEL} dU`);
    await encodeMatmul(ctx, pass, { transA: true }, { M: columns, N: D, K: M * L, a: sims.buffer, b: args.captions, c: args.gradImages, cBase: p0 * R * D }, transient, `${GEMM_LABEL} dV`);
  }

  // The per-vector sums of the scales (bound on every side: the finish kernel declares them).
  const scaleSums = exact(hasScales ? scaleStride : 4, 'score backward scale sums');
  if (hasScales) {
    await encodeColumnSum(ctx, pass, { rows: scaleOwners, cols: scaleStride, x: scratch.buffer, xBase: scaleBase, out: scaleSums.buffer }, transient);
  }
  // Image side: NAAF and SCAN t2i add the Gram term, SCAN i2t the region scales; caption side:
  // SCAN i2t the Gram term, SCAN t2i the word scales, NAAF nothing.
  const sides = [
    { imageSide: true, gram: backwardTerms.gram === 'regions', scale: !imageOwned, rows: N, items: R, features: bindings.images, out: bindings.gradImages },
    { imageSide: false, gram: backwardTerms.gram === 'words', scale: imageOwned && hasScales, rows: M, items: L, features: bindings.captions, out: bindings.gradCaptions },
  ];
  for (const side of sides) {
    if (!side.gram && !side.scale) continue;
    const pipe = await ctx.pipeline('score backward finish', [{ name: 'kernels/score_finish.bwd.wgsl', code: scoreFinishBwdWgsl }],
      { WG: FINISH_WG, IMAGE_SIDE: side.imageSide, GRAM: side.gram, SCALE: side.scale });
    const params = own(ctx.uniforms([
      [side.rows, 'u32'], [side.items, 'u32'], [D, 'u32'], [groups, 'u32'], [gramFloats, 'u32'], [lengthsBase, 'u32'], [0, 'u32'], [0, 'u32'],
    ], 'score backward finish params'));
    const gramParts = { buffer: scratch.buffer, offset: 0, size: Math.max(4, scaleBase) * 4 };
    const group = ctx.bindGroup(pipe, [params, side.features, gramParts, layoutBuffer, scaleSums, side.out], 'score backward finish');
    const workgroups = Math.ceil((side.rows * side.items * D) / FINISH_WG);
    const x = Math.min(workgroups, ctx.limits.maxComputeWorkgroupsPerDimension);
    ctx.dispatch(pass, pipe, group, x, Math.ceil(workgroups / x));
  }
  pass.end();
}
