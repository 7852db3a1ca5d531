// Launcher of the fused score kernels (kernels/common/score_tile.wgsl + a product file + one
// epilogue file per method; the int8 products are chosen in src/ops/scoreI8.ts): tile shapes from the device's workgroup memory, caption packing, dispatch.
import scoreF32Wgsl from '../../kernels/common/score_f32.wgsl';
import relevanceNormWgsl from '../../kernels/common/relevance_norm.wgsl';
import scoreMathWgsl from '../../kernels/common/score_math.wgsl';
import scoreTileWgsl from '../../kernels/common/score_tile.wgsl';
import tileRowsWgsl from '../../kernels/common/tile_rows.wgsl';
import type { BufferBinding, GpuContext } from '../gpu/context.js';
import type { WgslConstants, WgslPart } from '../gpu/shader.js';
import type { GpuPass } from '../gpu/pass.js';
import { methodSpec, type ScoreFlags, type ScoreMethod } from '../methods/index.js';

export type { ScoreFlags, ScoreMethod } from '../methods/index.js';

export interface ScoreConfig {
  WG: number; R: number; RQ: number; IMGS: number; COLQ: number; ROWS: number; RB: number; CAPS: number; CAPS_R: number;
  KC: number; JOBS_PER_THREAD: number; ROWS_R: number; QT: number; UPER: number; VPER: number;
  GRAM_SHARED: boolean; GRAM_SIZE: number;
}

/** Workgroup bytes of score_tile.wgsl's own arrays (layout and epilogue scratch) for a tile. */
export function epilogueSharedBytes(R: number, ROWS: number, CAPS: number, QT: number, gramShared = true): number {
  return 4 * (CAPS * R + 4 * ROWS + 2 * CAPS + 4 + ROWS * R + ROWS + 4 * ROWS * QT + (gramShared ? R * R : 1)); // parts: vec3, 16-byte stride
}

/** Threads per row of the epilogue's quadratic forms: the workgroup spread over the rows, at most R. */
export function quadThreads(WG: number, ROWS: number, R: number): number {
  return Math.max(1, Math.min(R, Math.floor(WG / ROWS)));
}

/** A tile: ROWS word rows of whole captions (at most CAPS) against IMGS images, staged KC deep. */
export interface TileShape {
  R: number; ROWS: number; CAPS: number; KC: number;
  /** Images per workgroup (default 1). */
  IMGS?: number;
  /** Row quads per thread block (default 1): each thread accumulates (4 RB) x 4 entries of S per job. */
  RB?: number;
  /** Stage each image's Gram in workgroup memory (default true; false for large R). */
  gramShared?: boolean;
}

/** Tile choices a caller may force (tuning, tests); the rest is chosen from the device's limits. */
export interface TileRequest {
  rows?: number; // ROWS, >= the longest caption, rounded up to 4 * rowBlocks
  images?: number; // IMGS
  rowBlocks?: number; // RB
  depth?: number; // KC
  blocksPerJob?: number; // int8 subgroup-matrix path: 16-region column blocks per subgroup job (1..3, default 3)
  gemmRows?: number; // split kernel: regions per GEMM tile, 64 or 128
  gemmCols?: number; // split kernel: word rows per GEMM tile, 64 or 128
}

export function scoreSharedBytes(c: TileShape): number {
  const config = makeScoreConfig(c);
  const product = 4 * (config.IMGS * c.ROWS * c.R + c.KC * (c.ROWS + 4 * config.COLQ) + c.ROWS);
  return product + epilogueSharedBytes(c.R, c.ROWS, c.CAPS, config.QT, config.GRAM_SHARED);
}

/**
 * The kernel constants of a tile: one thread per (4 RB) x 4 block of S where possible, at
 * least 64 and at most 256 threads.
 */
export function makeScoreConfig(t: TileShape): ScoreConfig {
  const IMGS = t.IMGS ?? 1;
  const RB = t.RB ?? 1;
  if (t.ROWS % (4 * RB) !== 0) throw new Error(`score tile: ROWS=${t.ROWS} must be a multiple of 4 * RB = ${4 * RB}`);
  const layout = blockedProduct(t.R, t.ROWS, IMGS, RB, t.KC);
  return {
    ...layout, R: t.R, IMGS, ROWS: t.ROWS, RB, CAPS: t.CAPS, CAPS_R: t.CAPS * t.R, KC: t.KC,
    ROWS_R: t.ROWS * t.R, QT: quadThreads(layout.WG, t.ROWS, t.R),
    GRAM_SHARED: t.gramShared ?? true, GRAM_SIZE: (t.gramShared ?? true) ? t.R * t.R : 1,
  };
}

/**
 * Threads of a register-blocked product staged in chunks (score_f32.wgsl, score_i8_dot4.wgsl):
 * one job per (4 RB rows) x (4 columns) block of ROWS x (IMGS * 4 RQ), at least 64 and at most
 * 256 threads; UPER / VPER staging elements per thread for chunks `depth` deep.
 */
export function blockedProduct(R: number, ROWS: number, IMGS: number, RB: number, depth: number) {
  const RQ = Math.ceil(R / 4);
  const COLQ = IMGS * RQ;
  const jobs = (ROWS / (4 * RB)) * COLQ;
  const WG = Math.min(256, Math.max(64, Math.ceil(jobs / 32) * 32));
  return {
    WG, RQ, COLQ, JOBS_PER_THREAD: Math.ceil(jobs / WG),
    UPER: Math.ceil((ROWS * depth) / WG), VPER: Math.ceil((COLQ * 4 * depth) / WG),
  };
}

/** The tile height tried first for captions of up to maxWords words: a power of two, at least 32. */
export function preferredRows(maxWords: number): number {
  return Math.max(32, 2 ** Math.ceil(Math.log2(Math.max(1, maxWords))));
}

export function checkTileRequest(tile: TileRequest): void {
  const keys = ['rows', 'images', 'rowBlocks', 'depth', 'blocksPerJob', 'gemmRows', 'gemmCols'];
  for (const [key, value] of Object.entries(tile)) {
    if (!keys.includes(key)) throw new Error(`similarity: unknown option "tile.${key}" (allowed: ${keys.join(', ')})`);
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 4096)) {
      throw new Error(`similarity: options.tile.${key} must be an integer in [1, 4096], got ${String(value)}`);
    }
  }
  if (tile.rowBlocks !== undefined && tile.rowBlocks > 2) throw new Error(`similarity: options.tile.rowBlocks must be 1 or 2, got ${tile.rowBlocks}`);
  if (tile.blocksPerJob !== undefined && tile.blocksPerJob > 3) throw new Error(`similarity: options.tile.blocksPerJob must be 1, 2 or 3, got ${tile.blocksPerJob}`);
  if (tile.depth !== undefined && ![4, 8, 16, 32].includes(tile.depth)) throw new Error(`similarity: options.tile.depth must be 4, 8, 16 or 32, got ${tile.depth}`);
  for (const key of ['gemmRows', 'gemmCols'] as const) {
    if (tile[key] !== undefined && tile[key] !== 64 && tile[key] !== 128) throw new Error(`similarity: options.tile.${key} must be 64 or 128, got ${tile[key]}`);
  }
}

/**
 * The largest tile that fits the device's workgroup memory: ROWS >= the longest caption
 * (whole captions per tile), preferring more rows, then more captions per tile, then deeper
 * staging; `request` pins any of rows, images, row blocks and depth. Throws when even one
 * caption cannot fit.
 */
export function chooseScoreConfig(regions: number, maxWords: number, sharedBytesLimit: number, request: TileRequest = {}): ScoreConfig {
  checkTileRequest(request);
  if (Object.keys(request).length === 0) {
    // Untuned default: the tile that won engine.tune() on an H200 (3 images, depth 8), else 2
    // images, where the workgroup memory still holds a few captions per tile.
    for (const preferred of DEFAULT_TILES) {
      const config = fitScoreConfig(regions, maxWords, sharedBytesLimit, preferred);
      if (config && config.CAPS >= Math.min(4, config.ROWS / 4)) return config;
    }
  }
  return fitScoreConfig(regions, maxWords, sharedBytesLimit, request) ?? failScoreConfig(regions, maxWords, sharedBytesLimit, request);
}

const DEFAULT_TILES: TileRequest[] = [{ images: 3, depth: 8 }, { images: 2, depth: 8 }];

function fitScoreConfig(regions: number, maxWords: number, sharedBytesLimit: number, request: TileRequest): ScoreConfig | null {
  const RB = request.rowBlocks ?? 1;
  const IMGS = request.images ?? 1;
  const minRows = Math.ceil(maxWords / (4 * RB)) * 4 * RB;
  const rowCandidates = request.rows !== undefined
    ? [Math.max(minRows, Math.ceil(request.rows / (4 * RB)) * 4 * RB)]
    : [...new Set([preferredRows(maxWords), minRows])].filter((r) => r >= minRows && r % (4 * RB) === 0);
  // The Gram in workgroup memory first; it goes to global memory only for large R.
  for (const gramShared of [true, false]) {
    for (const ROWS of rowCandidates) {
      for (const CAPS of [32, 16, 8, 4, 2, 1].filter((c) => c <= ROWS)) {
        for (const KC of request.depth !== undefined ? [request.depth] : [16, 8, 4]) {
          const shape = { R: regions, ROWS, CAPS, KC, IMGS, RB, gramShared };
          if (scoreSharedBytes(shape) <= sharedBytesLimit) return makeScoreConfig(shape);
        }
      }
    }
  }
  return null;
}

function failScoreConfig(regions: number, maxWords: number, sharedBytesLimit: number, request: TileRequest): never {
  const RB = request.rowBlocks ?? 1;
  const IMGS = request.images ?? 1;
  const minRows = Math.ceil(maxWords / (4 * RB)) * 4 * RB;
  const needed = scoreSharedBytes({ R: regions, ROWS: minRows, CAPS: 1, KC: request.depth ?? 4, IMGS, RB, gramShared: false });
  throw new Error(
    `similarity: regions R=${regions} with captions of up to L=${maxWords} words` +
    (IMGS > 1 || request.rows !== undefined ? ` (tile ${JSON.stringify(request)})` : '') +
    ` need ${needed} bytes of workgroup memory for one tile, more than this device's maxComputeWorkgroupStorageSize ${sharedBytesLimit}`,
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

/** The epilogue file of a method and its flag constants (shared by the f32 and int8 pipelines): the registry's. */
export function scoreEpilogue(method: ScoreMethod, flags: ScoreFlags): { part: WgslPart; constants: WgslConstants } {
  const { fused } = methodSpec(method).kernels;
  if (!fused) throw new Error(`similarity: method '${method}' has no fused kernel; use kernel 'split'`);
  return { part: fused.part, constants: fused.constants(flags) };
}

/** The fused kernels' shared parts: the scalar helpers and the tile (layout and epilogue phases). */
export const SCORE_TILE_PARTS: readonly WgslPart[] = [
  { name: 'kernels/common/relevance_norm.wgsl', code: relevanceNormWgsl },
  { name: 'kernels/common/score_math.wgsl', code: scoreMathWgsl },
  { name: 'kernels/common/tile_rows.wgsl', code: tileRowsWgsl },
  { name: 'kernels/common/score_tile.wgsl', code: scoreTileWgsl },
];

export function scorePipeline(ctx: GpuContext, method: ScoreMethod, config: ScoreConfig, flags: ScoreFlags): Promise<GPUComputePipeline> {
  const epilogue = scoreEpilogue(method, flags);
  return ctx.pipeline(`${method.replace('-', '_')}_score`, [
    ...SCORE_TILE_PARTS,
    { name: 'kernels/common/score_f32.wgsl', code: scoreF32Wgsl },
    epilogue.part,
  ], { ...config, ...epilogue.constants });
}

export interface ScoreArgs {
  /** f32: the embeddings (imageBase: element offset of the chunk's first image); int8: packed rows and their scales (imageBase: the chunk's first row). */
  images: BufferBinding; imageBase: number; numImages: number;
  captions: BufferBinding; captionBase: number; captionChunkStart: number;
  /** The caption lengths [M] from 0, then the tile table at tileBase (int8: and each tile's first packed row at tileRowBase). */
  tables: GPUBuffer; tileBase: number; numTiles: number; tileRowBase?: number;
  regionGram: BufferBinding; gramBase: number; // the chunk's first image in regionGram
  wordGram: GPUBuffer;
  out: BufferBinding; outBase: number; outStride: number;
  dim: number; maxWords: number;
  threshold: number; lambdaSoftmax: number; lambdaLse: number;
  imageStart: number; // global index of the chunk's first image
  imagesPerGroup: number; // the config's IMGS
  /** naaf only: [N, M, L] vec4 word terms, or a placeholder when the pipeline does not write them. */
  wordTerms?: GPUBuffer;
  /** int8 kernels: where the chunk's region scales and the chunk's word scales start in images and captions (u32 index). */
  int8?: { imageScaleBase: number; wordScaleBase: number };
}

/** score_tile.wgsl's Params (20 words), shared by every kernel built on it. */
export function scoreTileParams(p: {
  imageBase: number; captionBase: number; outBase: number; outStride: number; captionChunkStart: number; dim: number; maxWords: number;
  numImages: number; threshold: number; lambdaSoftmax: number; lambdaLse: number; imageStart: number; tileBase: number;
  tileRowBase?: number; imageScaleBase?: number; wordScaleBase?: number; gramBase?: number;
}): [number, 'u32' | 'f32'][] {
  return [
    [p.imageBase, 'u32'], [p.captionBase, 'u32'], [p.outBase, 'u32'], [p.outStride, 'u32'],
    [p.captionChunkStart, 'u32'], [p.dim, 'u32'], [p.maxWords, 'u32'], [p.numImages, 'u32'],
    [p.threshold, 'f32'], [p.lambdaSoftmax, 'f32'], [p.lambdaLse, 'f32'], [p.imageStart, 'u32'],
    [p.tileBase, 'u32'], [p.tileRowBase ?? 0, 'u32'], [p.imageScaleBase ?? 0, 'u32'], [p.wordScaleBase ?? 0, 'u32'],
    [p.gramBase ?? 0, 'u32'], [0, 'u32'], [0, 'u32'], [0, 'u32'],
  ];
}

export function encodeScore(ctx: GpuContext, pass: GpuPass, pipeline: GPUComputePipeline,
  a: ScoreArgs, transient: GPUBuffer[]): void {
  const uniforms = ctx.uniforms(scoreTileParams({ ...a, ...a.int8 }), 'score params');
  transient.push(uniforms);
  const group = ctx.bindGroup(pipeline,
    [uniforms, a.images, a.captions, a.tables, null, a.regionGram, a.wordGram, a.out, a.wordTerms ?? null], 'score');
  ctx.dispatch(pass, pipeline, group, a.numTiles, Math.ceil(a.numImages / a.imagesPerGroup));
}
