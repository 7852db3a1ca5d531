// Launcher of the split path's epilogue kernels (kernels/common/split_tile.wgsl + one file per
// method): reads S^T from the GEMM's scratch, one workgroup per (caption tile, image).
import relevanceNormWgsl from '../../kernels/common/relevance_norm.wgsl';
import scoreMathWgsl from '../../kernels/common/score_math.wgsl';
import splitTileWgsl from '../../kernels/common/split_tile.wgsl';
import tileRowsWgsl from '../../kernels/common/tile_rows.wgsl';
import type { BufferBinding, GpuContext } from '../gpu/context.js';
import type { WgslConstants, WgslPart } from '../gpu/shader.js';
import type { ScoreFlags, ScoreMethod } from './score.js';
import type { GpuPass } from '../gpu/pass.js';
import { methodSpec } from '../methods/index.js';

export interface SplitEpilogueConfig {
  WG: number; R: number; RQ: number; ROWS: number; CAPS: number; CAPS_R: number; WT_SIZE: number;
  S_SHARED: boolean; S_SIZE: number; GRAM_SHARED: boolean; GRAM_SIZE: number;
  /** Tiles from a job list (exact re-scoring of chosen pairs). */
  PAIRS: boolean;
}

/**
 * Workgroup bytes of a split epilogue tile: split_tile.wgsl's arrays plus NAAF's rowM, each
 * rounded up to 16 bytes as the WGSL compiler lays them out.
 */
export function splitEpilogueSharedBytes(method: ScoreMethod, R: number, ROWS: number, CAPS: number, sShared: boolean, gramShared: boolean): number {
  const floats = [
    sShared ? R * ROWS : 1, weightSize(method, R, ROWS), gramShared ? 16 * Math.ceil(R / 4) ** 2 : 4, CAPS * R,
    ROWS, ROWS, ROWS, ROWS, ROWS, CAPS, CAPS, 2, // rowA, rowB, rowCap, rowWord, rowM, capStart, capLen, tileShape
  ];
  return floats.reduce((total, count) => total + Math.ceil((4 * count) / 16) * 16, 0);
}

/** Per (region, row) weights in workgroup memory, for a method whose epilogue keeps them (SCAN i2t's softmax over words). */
function weightSize(method: ScoreMethod, R: number, ROWS: number): number {
  return methodSpec(method).kernels.split.regionRowWeights ? R * ROWS : 1;
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

/** The parts every split epilogue starts with. */
export const SPLIT_TILE_PARTS: WgslPart[] = [
  { name: 'kernels/common/relevance_norm.wgsl', code: relevanceNormWgsl },
  { name: 'kernels/common/score_math.wgsl', code: scoreMathWgsl },
  { name: 'kernels/common/tile_rows.wgsl', code: tileRowsWgsl },
  { name: 'kernels/common/split_tile.wgsl', code: splitTileWgsl },
];

export function splitEpiloguePipeline(ctx: GpuContext, method: ScoreMethod, config: SplitEpilogueConfig, flags: ScoreFlags): Promise<GPUComputePipeline> {
  // Word terms are indexed by the chunk's captions, which a pair list does not have.
  if (config.PAIRS && flags.wordTerms) throw new Error('splitEpiloguePipeline: word terms are not written in the pair mode');
  const { split } = methodSpec(method).kernels;
  return ctx.pipeline(`${method.replace('-', '_')}_split${config.PAIRS ? '_pairs' : ''}`, [...SPLIT_TILE_PARTS, ...split.parts],
    { ...config, ...split.constants(flags) });
}

export interface SplitEpilogueArgs {
  scratch: BufferBinding; // S^T [pass images, R, WP]
  wordStride: number; // WP
  /**
   * The caption lengths [M] from index 0, then the tables (u32 offsets into this buffer): tiles
   * (first caption, count) at tileBase and each tile's first packed row at rowBase; with pairs,
   * 8 u32 per job at tileBase, each list entry's caption at rowBase and result index at resultBase.
   */
  layout: GPUBuffer; tileBase: number; rowBase: number; resultBase?: number;
  numTiles: number;
  captionChunkStart: number;
  regionGram: BufferBinding; gramBase: number; // the pass's first image in regionGram
  wordGram: BufferBinding;
  out: BufferBinding; outBase: number; outStride: number;
  maxWords: number;
  numImages: number; imageStart: number;
  threshold: number; lambdaSoftmax: number; lambdaLse: number;
  wordTerms?: GPUBuffer; // naaf
  /** The pipeline has PAIRS: numTiles jobs, one workgroup each. */
  pairs?: boolean;
}

/** The layout buffer's contents: lengths, then each table; returns the data and the tables' offsets. */
export function splitLayout(lengths: ArrayLike<number>, ...tables: ArrayLike<number>[]): { data: Uint32Array; offsets: number[] } {
  const offsets: number[] = [];
  let size = lengths.length;
  for (const table of tables) {
    offsets.push(size);
    size += table.length;
  }
  const data = new Uint32Array(Math.max(4, size));
  data.set(lengths as ArrayLike<number>);
  tables.forEach((table, i) => data.set(table as ArrayLike<number>, offsets[i]));
  return { data, offsets };
}

/** split_tile.wgsl's Params of these arguments, as a uniform buffer from ctx.pool. */
export function splitEpilogueParams(ctx: GpuContext, a: Omit<SplitEpilogueArgs, 'scratch' | 'layout' | 'regionGram' | 'wordGram' | 'out'>): GPUBuffer {
  return ctx.uniforms([
    [a.wordStride, 'u32'], [a.captionChunkStart, 'u32'], [a.outBase, 'u32'], [a.outStride, 'u32'],
    [a.maxWords, 'u32'], [a.numImages, 'u32'], [a.imageStart, 'u32'], [a.gramBase, 'u32'],
    [a.threshold, 'f32'], [a.lambdaSoftmax, 'f32'], [a.lambdaLse, 'f32'], [a.tileBase, 'u32'],
    [a.rowBase, 'u32'], [a.resultBase ?? 0, 'u32'], [0, 'u32'], [0, 'u32'],
  ], 'split epilogue params');
}

export function encodeSplitEpilogue(ctx: GpuContext, pass: GpuPass, pipeline: GPUComputePipeline, method: ScoreMethod,
  a: SplitEpilogueArgs, transient: GPUBuffer[]): void {
  const uniforms = splitEpilogueParams(ctx, a);
  transient.push(uniforms);
  let terms: GPUBuffer | null = null;
  if (methodSpec(method).wordTerms) {
    terms = a.wordTerms ?? ctx.pool.acquire(16, GPUBufferUsage.STORAGE, 'no word terms');
    if (!a.wordTerms) transient.push(terms);
  }
  const { split } = methodSpec(method).kernels;
  const bindings: (BufferBinding | null)[] = [uniforms, a.scratch, a.layout, null, null, a.regionGram, split.readsWordGram ? a.wordGram : null, a.out, terms];
  const group = ctx.bindGroup(pipeline, bindings, 'split epilogue');
  if (a.pairs) ctx.dispatch(pass, pipeline, group, a.numTiles);
  else ctx.dispatch(pass, pipeline, group, a.numTiles, a.numImages);
}
