// The int8 variants of the fused score kernels: the same tile and epilogues as src/ops/score.ts,
// with S computed from per-row int8-quantised embeddings (src/ops/quantize.ts), either with
// dot4I8Packed (portable) or with subgroup matrices (tensor cores; chromium-experimental-subgroup-matrix).
import scoreI8Wgsl from '../../kernels/common/score_i8.wgsl';
import scoreI8Dot4Wgsl from '../../kernels/common/score_i8_dot4.wgsl';
import scoreI8MmaWgsl from '../../kernels/common/score_i8_mma.wgsl';
import type { GpuContext } from '../gpu/context.js';
import { SCORE_TILE_PARTS, blockedProduct, checkTileRequest, epilogueSharedBytes, preferredRows, quadThreads, scoreEpilogue } from './score.js';
import type { ScoreFlags, ScoreMethod, TileRequest } from './score.js';

export type Int8Kernel = 'dot4' | 'subgroup-matrix';

export interface I8ScoreConfig {
  kernel: Int8Kernel;
  constants: Record<string, number | boolean>;
  ROWS: number; CAPS: number; IMGS: number;
}

/** Workgroup bytes of an int8 tile (score_tile's arrays + accS + scales + dot4 staging). */
function i8SharedBytes(kernel: Int8Kernel, R: number, ROWS: number, CAPS: number, IMGS: number, KCW: number, QT: number, gramShared: boolean): number {
  const RS = kernel === 'dot4' ? R : 16 * Math.ceil(R / 16);
  const staging = kernel === 'dot4' ? KCW * (ROWS + 4 * IMGS * Math.ceil(R / 4)) : 0;
  return 4 * (ROWS * IMGS * RS + ROWS + IMGS * R + staging) + epilogueSharedBytes(R, ROWS, CAPS, QT, gramShared);
}

/** Subgroup-matrix jobs per 16-row block: the image columns in groups of CPS blocks. */
function jobsPerRowBlock(R: number, IMGS: number, CPS: number): number {
  return Math.ceil((IMGS * Math.ceil(R / 16)) / CPS);
}

function i8Workgroup(kernel: Int8Kernel, R: number, ROWS: number, IMGS: number, subgroupSize: number, CPS: number): number {
  if (kernel === 'dot4') return blockedProduct(R, ROWS, IMGS, 1, 1).WG;
  const jobs = (ROWS / 16) * jobsPerRowBlock(R, IMGS, CPS);
  return Math.max(1, Math.min(Math.floor(256 / subgroupSize), jobs)) * subgroupSize;
}

/**
 * The tile of an int8 score kernel: ROWS >= the longest caption (a multiple of 16 for subgroup
 * matrices), the most captions per tile that fit, `request.images` images per workgroup.
 */
export function chooseI8Config(kernel: Int8Kernel, R: number, maxWords: number, sharedBytesLimit: number, subgroupSize: number,
  request: TileRequest = {}): I8ScoreConfig {
  checkTileRequest(request);
  if (Object.keys(request).length === 0) {
    // Untuned default: what won engine.tune() on an H200 for both int8 kernels, where it fits.
    try {
      return chooseI8Config(kernel, R, maxWords, sharedBytesLimit, subgroupSize, { images: 2, rows: 64 });
    } catch {
      return chooseI8Config(kernel, R, maxWords, sharedBytesLimit, subgroupSize, { images: 1 });
    }
  }
  const IMGS = request.images ?? 1;
  const quantum = kernel === 'dot4' ? 4 : 16;
  const minRows = Math.ceil(maxWords / quantum) * quantum;
  const ROWS = Math.max(minRows, Math.ceil((request.rows ?? preferredRows(maxWords)) / quantum) * quantum);
  const KCW = Math.max(1, Math.floor((request.depth ?? 16) / 4)); // depth in bytes of D -> packed words
  const CPS = request.blocksPerJob ?? 3;
  const WG = i8Workgroup(kernel, R, ROWS, IMGS, subgroupSize, CPS);
  const QT = quadThreads(WG, ROWS, R);
  // As for f32 (fitScoreConfig): the Gram in workgroup memory first, with fewer captions per
  // tile if need be; it goes to global memory only when one caption per tile cannot hold it.
  const fits = (CAPS: number, gramShared: boolean) => i8SharedBytes(kernel, R, ROWS, CAPS, IMGS, KCW, QT, gramShared) <= sharedBytesLimit;
  const capsCandidates = [32, 16, 8, 4, 2, 1].filter((c) => c <= ROWS);
  const gramShared = capsCandidates.some((c) => fits(c, true));
  for (const CAPS of capsCandidates) {
    if (!fits(CAPS, gramShared)) continue;
    const base = { R, IMGS, ROWS, CAPS, CAPS_R: CAPS * R, ROWS_R: ROWS * R, QT, WG, GRAM_SHARED: gramShared, GRAM_SIZE: gramShared ? R * R : 1 };
    if (kernel === 'dot4') {
      return { kernel, ROWS, CAPS, IMGS, constants: { ...base, ...blockedProduct(R, ROWS, IMGS, 1, KCW), RS: R, ACOLS: IMGS * R, KCW } };
    }
    const CB = Math.ceil(R / 16);
    return {
      kernel, ROWS, CAPS, IMGS,
      constants: { ...base, SG: subgroupSize, NSG: WG / subgroupSize, CB, RS: 16 * CB, ACOLS: IMGS * 16 * CB, CPS, SPR: jobsPerRowBlock(R, IMGS, CPS) },
    };
  }
  throw new Error(
    `similarity: precision 'int8' (${kernel}) with regions R=${R}, captions of up to L=${maxWords} words and ${IMGS} image(s) per workgroup ` +
    `needs ${i8SharedBytes(kernel, R, ROWS, 1, IMGS, KCW, QT, false)} bytes of workgroup memory, more than this device's maxComputeWorkgroupStorageSize ${sharedBytesLimit}`,
  );
}

export function i8ScorePipeline(ctx: GpuContext, method: ScoreMethod, config: I8ScoreConfig, flags: ScoreFlags): Promise<GPUComputePipeline> {
  const product = config.kernel === 'dot4'
    ? { name: 'kernels/common/score_i8_dot4.wgsl', code: scoreI8Dot4Wgsl }
    : { name: 'kernels/common/score_i8_mma.wgsl', code: scoreI8MmaWgsl };
  const epilogue = scoreEpilogue(method, flags);
  const mma = config.kernel === 'subgroup-matrix';
  // The block offsets depend on the subgroup index, which Tint's workgroup-scope uniformity
  // analysis cannot prove subgroup-uniform; every call is made by whole subgroups.
  const enables = mma ? ['chromium_experimental_subgroup_matrix', 'diagnostic(off, chromium.subgroup_matrix_uniformity)'] : [];
  return ctx.pipeline(`${method}_score_i8_${config.kernel}`, [
    ...SCORE_TILE_PARTS,
    { name: 'kernels/common/score_i8.wgsl', code: scoreI8Wgsl },
    product,
    epilogue.part,
  ], { ...config.constants, ...epilogue.constants }, mma, enables);
}
