// Launcher of the fused score kernels (kernels/common/score_tile.wgsl + one epilogue file per
// method): tile shapes from the device's workgroup memory, caption packing, dispatch.
import scoreTileWgsl from '../../kernels/common/score_tile.wgsl';
import naafScoreWgsl from '../../kernels/naaf_score.wgsl';
import scanI2tScoreWgsl from '../../kernels/scan_i2t_score.wgsl';
import scanT2iScoreWgsl from '../../kernels/scan_t2i_score.wgsl';
import type { BufferBinding, GpuContext } from '../gpu/context.js';

export type ScoreMethod = 'naaf' | 'scan-t2i' | 'scan-i2t';

export interface ScoreConfig {
  WG: number; R: number; ROWS: number; CAPS: number; KC: number;
  PER_THREAD: number; SMEM_MAIN: number; CAPS_R: number;
}

const WG = 256;

export function scoreSharedBytes(c: Omit<ScoreConfig, 'WG' | 'PER_THREAD' | 'SMEM_MAIN' | 'CAPS_R'>): number {
  const main = Math.max(c.ROWS * c.R, (c.ROWS + c.R) * c.KC);
  return 4 * (main + c.CAPS * c.R + 4 * c.ROWS + 2 * c.CAPS) + 16;
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
        const needed = scoreSharedBytes({ R: regions, ROWS, CAPS, KC });
        if (needed <= sharedBytesLimit) {
          return {
            WG, R: regions, ROWS, CAPS, KC,
            PER_THREAD: Math.ceil((ROWS * regions) / WG),
            SMEM_MAIN: Math.max(ROWS * regions, (ROWS + regions) * KC),
            CAPS_R: CAPS * regions,
          };
        }
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
}

export function scorePipeline(ctx: GpuContext, method: ScoreMethod, config: ScoreConfig, flags: ScoreFlags): Promise<GPUComputePipeline> {
  const common = { name: 'kernels/common/score_tile.wgsl', code: scoreTileWgsl };
  const constants = { ...config };
  switch (method) {
    case 'naaf':
      return ctx.pipeline('naaf_score', [common, { name: 'kernels/naaf_score.wgsl', code: naafScoreWgsl }], { ...constants, INTRA: !!flags.intra });
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
}

export function encodeScore(ctx: GpuContext, pass: GPUComputePassEncoder, pipeline: GPUComputePipeline,
  a: ScoreArgs, transient: GPUBuffer[]): void {
  const uniforms = ctx.uniforms([
    [a.imageBase, 'u32'], [a.captionBase, 'u32'], [a.outBase, 'u32'], [a.outStride, 'u32'],
    [a.captionChunkStart, 'u32'], [a.dim, 'u32'], [a.maxWords, 'u32'], [a.numImages, 'u32'],
    [a.threshold, 'f32'], [a.lambdaSoftmax, 'f32'], [a.lambdaLse, 'f32'], [0, 'f32'],
  ], 'score params');
  transient.push(uniforms);
  const group = ctx.bindGroup(pipeline,
    [uniforms, a.images, a.captions, a.lengths, a.tiles, a.regionGram, a.wordGram, a.out], 'score');
  ctx.dispatch(pass, pipeline, group, a.numTiles, a.numImages);
}
