// Launcher of the split path's epilogue kernels (kernels/common/split_tile.wgsl + one file per
// method): reads S^T from the GEMM's scratch, one workgroup per (caption tile, image).
import naafSplitWgsl from '../../kernels/naaf_split.wgsl';
import scanI2tSplitWgsl from '../../kernels/scan_i2t_split.wgsl';
import scanT2iSplitWgsl from '../../kernels/scan_t2i_split.wgsl';
import scoreMathWgsl from '../../kernels/common/score_math.wgsl';
import splitTileWgsl from '../../kernels/common/split_tile.wgsl';
import type { BufferBinding, GpuContext } from '../gpu/context.js';
import type { WgslConstants, WgslPart } from '../gpu/shader.js';
import type { ScoreFlags, ScoreMethod } from './score.js';
import type { GpuPass } from '../gpu/pass.js';

export interface SplitEpilogueConfig {
  WG: number; R: number; RQ: number; ROWS: number; CAPS: number; CAPS_R: number; WT_SIZE: number;
  S_SHARED: boolean; S_SIZE: number; GRAM_SHARED: boolean; GRAM_SIZE: number;
  /** Tiles from a job list (exact re-scoring of chosen pairs). */
  PAIRS: boolean;
}

/** Workgroup bytes of a split epilogue tile (split_tile.wgsl's arrays plus NAAF's rowM). */
export function splitEpilogueSharedBytes(method: ScoreMethod, R: number, ROWS: number, CAPS: number, sShared: boolean, gramShared: boolean): number {
  return 4 * ((sShared ? R * ROWS : 1) + weightSize(method, R, ROWS) + (gramShared ? 16 * Math.ceil(R / 4) ** 2 : 4) + CAPS * R + 5 * ROWS + 2 * CAPS + 2);
}

/** Per (region, row) weights in workgroup memory: scan-i2t's softmax over words only. */
function weightSize(method: ScoreMethod, R: number, ROWS: number): number {
  return method === 'scan-i2t' ? R * ROWS : 1;
}

export function makeSplitEpilogueConfig(method: ScoreMethod, R: number, ROWS: number, CAPS: number, sShared: boolean, gramShared: boolean, pairs = false): SplitEpilogueConfig {
  return {
    WG: Math.min(ROWS, 256), R, RQ: Math.ceil(R / 4), ROWS, CAPS, CAPS_R: CAPS * R, WT_SIZE: weightSize(method, R, ROWS),
    S_SHARED: sShared, S_SIZE: sShared ? R * ROWS : 1, GRAM_SHARED: gramShared, GRAM_SIZE: gramShared ? 4 * Math.ceil(R / 4) ** 2 : 1,
    PAIRS: pairs,
  };
}

/**
 * The epilogue tile for captions of up to `maxWords` words: `rows` word rows (default 64, at
 * least the longest caption rounded up to 8), as many captions per tile as fit (at most 32),
 * S^T and the Gram in workgroup memory where they fit (S first to go).
 */
export function chooseSplitEpilogue(method: ScoreMethod, R: number, maxWords: number, sharedBytesLimit: number, rows?: number, pairs = false): SplitEpilogueConfig {
  const minRows = Math.ceil(maxWords / 8) * 8;
  const ROWS = Math.max(minRows, Math.ceil((rows ?? 64) / 8) * 8);
  for (const [sShared, gramShared] of [[true, true], [false, true], [false, false]]) {
    for (const CAPS of [32, 16, 8, 4, 2, 1].filter((c) => c <= ROWS)) {
      if (splitEpilogueSharedBytes(method, R, ROWS, CAPS, sShared, gramShared) <= sharedBytesLimit) return makeSplitEpilogueConfig(method, R, ROWS, CAPS, sShared, gramShared, pairs);
    }
  }
  throw new Error(
    `similarity: the split kernel with regions R=${R} and captions of up to L=${maxWords} words needs ` +
    `${splitEpilogueSharedBytes(method, R, ROWS, 1, false, false)} bytes of workgroup memory for one tile, more than this device's maxComputeWorkgroupStorageSize ${sharedBytesLimit}; use kernel 'fused'`,
  );
}

const EPILOGUES: Record<ScoreMethod, WgslPart> = {
  naaf: { name: 'kernels/naaf_split.wgsl', code: naafSplitWgsl },
  'scan-t2i': { name: 'kernels/scan_t2i_split.wgsl', code: scanT2iSplitWgsl },
  'scan-i2t': { name: 'kernels/scan_i2t_split.wgsl', code: scanI2tSplitWgsl },
};

function methodConstants(method: ScoreMethod, flags: ScoreFlags): WgslConstants {
  return method === 'naaf' ? { INTRA: !!flags.intra, WORD_TERMS: !!flags.wordTerms } : { LSE: !!flags.lse };
}

export function splitEpiloguePipeline(ctx: GpuContext, method: ScoreMethod, config: SplitEpilogueConfig, flags: ScoreFlags): Promise<GPUComputePipeline> {
  return ctx.pipeline(`${method.replace('-', '_')}_split${config.PAIRS ? '_pairs' : ''}`, [
    { name: 'kernels/common/score_math.wgsl', code: scoreMathWgsl },
    { name: 'kernels/common/split_tile.wgsl', code: splitTileWgsl },
    EPILOGUES[method],
  ], { ...config, ...methodConstants(method, flags) });
}

export interface SplitEpilogueArgs {
  scratch: BufferBinding; // S^T [pass images, R, WP]
  wordStride: number; // WP
  lengths: GPUBuffer;
  tiles: GPUBuffer; numTiles: number;
  tileRows: GPUBuffer;
  captionChunkStart: number;
  regionGram: GPUBuffer; gramBase: number; // the pass's first image in regionGram
  wordGram: GPUBuffer;
  out: BufferBinding; outBase: number; outStride: number;
  maxWords: number;
  numImages: number; imageStart: number;
  threshold: number; lambdaSoftmax: number; lambdaLse: number;
  wordTerms?: GPUBuffer; // naaf
  /** PAIRS: the tile jobs (8 u32 each, see split_tile.wgsl), the caption and the result index of each list entry. */
  pairs?: { jobs: GPUBuffer; count: number; captionList: GPUBuffer; pairOut: GPUBuffer };
}

export function encodeSplitEpilogue(ctx: GpuContext, pass: GpuPass, pipeline: GPUComputePipeline, method: ScoreMethod,
  a: SplitEpilogueArgs, transient: GPUBuffer[]): void {
  const uniforms = ctx.uniforms([
    [a.wordStride, 'u32'], [a.captionChunkStart, 'u32'], [a.outBase, 'u32'], [a.outStride, 'u32'],
    [a.maxWords, 'u32'], [a.numImages, 'u32'], [a.imageStart, 'u32'], [a.gramBase, 'u32'],
    [a.threshold, 'f32'], [a.lambdaSoftmax, 'f32'], [a.lambdaLse, 'f32'], [0, 'u32'],
  ], 'split epilogue params');
  transient.push(uniforms);
  const placeholder = (label: string) => {
    const buffer = ctx.pool.acquire(16, GPUBufferUsage.STORAGE, label);
    transient.push(buffer);
    return buffer;
  };
  const bindings: (BufferBinding | null)[] = [
    uniforms, a.scratch, a.lengths, a.tiles, a.tileRows, a.regionGram, a.wordGram, a.out,
    method === 'naaf' ? a.wordTerms ?? placeholder('no word terms') : null,
    a.pairs?.jobs ?? placeholder('no pair jobs'), a.pairs?.captionList ?? placeholder('no caption list'), a.pairs?.pairOut ?? placeholder('no pair results'),
  ];
  const group = ctx.bindGroup(pipeline, bindings, 'split epilogue');
  if (a.pairs) ctx.dispatch(pass, pipeline, group, a.pairs.count);
  else ctx.dispatch(pass, pipeline, group, a.numTiles, a.numImages);
}
