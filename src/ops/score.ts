// Launcher of the fused score kernels (kernels/common/score_tile.wgsl + one epilogue file per
// method): tile shapes from the device's workgroup memory, caption packing, dispatch.
import scoreTileWgsl from '../../kernels/common/score_tile.wgsl';
import naafScoreWgsl from '../../kernels/naaf_score.wgsl';
import scanI2tScoreWgsl from '../../kernels/scan_i2t_score.wgsl';
import scanT2iScoreWgsl from '../../kernels/scan_t2i_score.wgsl';
import type { BufferBinding, GpuContext } from '../gpu/context.js';

export type ScoreMethod = 'naaf' | 'scan-t2i' | 'scan-i2t';

export interface ScoreConfig {
  WG: number; R: number; RQ: number; ROWS: number; CAPS: number; CAPS_R: number; KC: number;
  JOBS_PER_THREAD: number; S_SIZE: number;
}

export interface TileShape {
  R: number; ROWS: number; CAPS: number; KC: number;
}

export function scoreSharedBytes(c: TileShape): number {
  const RQ = Math.ceil(c.R / 4);
  return 4 * (c.ROWS * c.R + c.KC * (c.ROWS + 4 * RQ) + c.CAPS * c.R + 4 * c.ROWS + 2 * c.CAPS) + 16;
}

/**
 * The kernel constants of a tile: one thread per 4x4 block of S (rows x regions) where
 * possible, at least 64 and at most 256 threads.
 */
export function makeScoreConfig(t: TileShape): ScoreConfig {
  const RQ = Math.ceil(t.R / 4);
  const jobs = (t.ROWS / 4) * RQ;
  const WG = Math.min(256, Math.max(64, Math.ceil(jobs / 32) * 32));
  return { WG, R: t.R, RQ, ROWS: t.ROWS, CAPS: t.CAPS, CAPS_R: t.CAPS * t.R, KC: t.KC, JOBS_PER_THREAD: Math.ceil(jobs / WG), S_SIZE: t.ROWS * t.R };
}

/**
 * The largest tile that fits the device's workgroup memory: ROWS >= the longest caption
 * (whole captions per tile), preferring more rows, then more captions per tile, then deeper
 * staging. Throws when even one caption cannot fit.
 */
export function chooseScoreConfig(regions: number, maxWords: number, sharedBytesLimit: number): ScoreConfig {
  const minRows = Math.ceil(maxWords / 4) * 4;
  const rowCandidates = [...new Set([Math.max(32, 2 ** Math.ceil(Math.log2(maxWords))), minRows])].filter((r) => r >= minRows);
  for (const ROWS of rowCandidates) {
    for (const CAPS of [32, 16, 8, 4, 2, 1].filter((c) => c <= ROWS)) {
      for (const KC of [16, 8, 4]) {
        const shape = { R: regions, ROWS, CAPS, KC };
        if (scoreSharedBytes(shape) <= sharedBytesLimit) return makeScoreConfig(shape);
      }
    }
  }
  const needed = scoreSharedBytes({ R: regions, ROWS: minRows, CAPS: 1, KC: 4 });
  throw new Error(
    `similarity: regions R=${regions} with captions of up to L=${maxWords} words need ${needed} bytes of workgroup memory ` +
    `for one tile, more than this device's maxComputeWorkgroupStorageSize ${sharedBytesLimit}`,
  );
}

/** Greedy packing, in caption order, of whole captions into tiles of <= ROWS words and <= CAPS captions. */
export function packCaptionTiles(lengths: ArrayLike<number>, start: number, count: number, rows: number, caps: number): Uint32Array {
  const tiles: number[] = [];
  let first = 0;
  let used = 0;
  for (let local = 0; local < count; local++) {
    const len = lengths[start + local];
    const size = local - first;
    if (size > 0 && (used + len > rows || size >= caps)) {
      tiles.push(first, size);
      first = local;
      used = 0;
    }
    used += len;
  }
  if (count > first) tiles.push(first, count - first);
  return Uint32Array.from(tiles);
}

export interface ScoreFlags {
  intra?: boolean; // naaf
  lse?: boolean; // scan
  wordTerms?: boolean; // naaf: also write every word's terms
}

export function scorePipeline(ctx: GpuContext, method: ScoreMethod, config: ScoreConfig, flags: ScoreFlags): Promise<GPUComputePipeline> {
  const common = { name: 'kernels/common/score_tile.wgsl', code: scoreTileWgsl };
  const constants = { ...config };
  switch (method) {
    case 'naaf':
      return ctx.pipeline('naaf_score', [common, { name: 'kernels/naaf_score.wgsl', code: naafScoreWgsl }], { ...constants, INTRA: !!flags.intra, WORD_TERMS: !!flags.wordTerms });
    case 'scan-t2i':
      return ctx.pipeline('scan_t2i_score', [common, { name: 'kernels/scan_t2i_score.wgsl', code: scanT2iScoreWgsl }], { ...constants, LSE: !!flags.lse });
    case 'scan-i2t':
      return ctx.pipeline('scan_i2t_score', [common, { name: 'kernels/scan_i2t_score.wgsl', code: scanI2tScoreWgsl }], { ...constants, LSE: !!flags.lse });
  }
}

export interface ScoreArgs {
  images: BufferBinding; imageBase: number; numImages: number;
  captions: BufferBinding; captionBase: number; captionChunkStart: number;
  tiles: GPUBuffer; numTiles: number;
  lengths: GPUBuffer;
  regionGram: GPUBuffer; wordGram: GPUBuffer;
  out: BufferBinding; outBase: number; outStride: number;
  dim: number; maxWords: number;
  threshold: number; lambdaSoftmax: number; lambdaLse: number;
  imageStart: number; // global index of the chunk's first image
  /** naaf only: [N, M, L] vec4 word terms, or a placeholder when the pipeline does not write them. */
  wordTerms?: GPUBuffer;
}

export function encodeScore(ctx: GpuContext, pass: GPUComputePassEncoder, pipeline: GPUComputePipeline,
  a: ScoreArgs, transient: GPUBuffer[]): void {
  const uniforms = ctx.uniforms([
    [a.imageBase, 'u32'], [a.captionBase, 'u32'], [a.outBase, 'u32'], [a.outStride, 'u32'],
    [a.captionChunkStart, 'u32'], [a.dim, 'u32'], [a.maxWords, 'u32'], [a.numImages, 'u32'],
    [a.threshold, 'f32'], [a.lambdaSoftmax, 'f32'], [a.lambdaLse, 'f32'], [a.imageStart, 'u32'],
  ], 'score params');
  transient.push(uniforms);
  const group = ctx.bindGroup(pipeline,
    [uniforms, a.images, a.captions, a.lengths, a.tiles, a.regionGram, a.wordGram, a.out, ...(a.wordTerms ? [a.wordTerms] : [])], 'score');
  ctx.dispatch(pass, pipeline, group, a.numTiles, a.numImages);
}
