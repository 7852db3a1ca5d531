// Launcher of the split path's word-region product (kernels/score_gemm.wgsl with one operand
// part per format): S^T [pass images * R, WP] into a scratch buffer, tiles of BM regions x BN
// words, 8 x 8 per thread.
import scoreGemmWgsl from '../../kernels/score_gemm.wgsl';
import scoreGemmMmaWgsl from '../../kernels/score_gemm_mma.wgsl';
import gemmF16Wgsl from '../../kernels/common/gemm_f16.wgsl';
import gemmF32Wgsl from '../../kernels/common/gemm_f32.wgsl';
import gemmF32ScalarWgsl from '../../kernels/common/gemm_f32_scalar.wgsl';
import gemmF32Vec4Wgsl from '../../kernels/common/gemm_f32_vec4.wgsl';
import gemmI8Wgsl from '../../kernels/common/gemm_i8.wgsl';
import type { BufferBinding, GpuContext } from '../gpu/context.js';
import type { WgslPart } from '../gpu/shader.js';
import { packedRowWords } from './quantize.js';
import type { GpuPass } from '../gpu/pass.js';

/** The operand format of the product: f32 embeddings, packed f16, or packed int8 with dot4I8Packed. */
export type GemmFormat = 'f32' | 'f16' | 'int8';

export interface GemmConfig {
  format: GemmFormat;
  /** f32 only: vec4 loads (D % 4 == 0, 16-byte aligned windows). */
  vec4: boolean;
  /** Tiles from a job list (exact re-scoring of chosen pairs), not a dense grid. */
  pairs: boolean;
  /** int8 on tensor cores (score_gemm_mma.wgsl): the subgroup size; BM x BN is then 64 x 128. */
  mmaSubgroup?: number;
  BM: number; BN: number; KT: number; KG: number; WG: number; LA: number; LB: number; AS: number; BS: number;
}

/** Depth elements per staged element: int8 packs four per u32. */
function depthPerElement(format: GemmFormat): number {
  return format === 'int8' ? 4 : 1;
}

/**
 * A GEMM tile: BM x BN (each 64 or 128, or narrow: see below) results per workgroup, KT depth elements staged per
 * step (a multiple of 4; int8 elements hold 4 values each). Throws for shapes the kernel's
 * thread layout cannot take.
 */
export function makeGemmConfig(format: GemmFormat, vec4: boolean, BM = 128, BN = 128, KT = 16, pairs = false): GemmConfig {
  // 64 or 128 each; narrow tiles (16 or 32 word columns, with 128 or 256 region rows) for chunks of few words.
  const narrow = (BN === 16 || BN === 32) && (BM === 128 || BM === 256);
  if (!narrow && (![64, 128].includes(BM) || ![64, 128].includes(BN))) throw new Error(`gemm tile: BM and BN must be 64 or 128 (or BN 16 / 32 with BM 128 / 256), got ${BM} x ${BN}`);
  if (![8, 16, 32].includes(KT)) throw new Error(`gemm tile: depth must be 8, 16 or 32, got ${KT}`);
  // The pair mode reads word rows through the f32 part's row list only.
  if (pairs && format !== 'f32') throw new Error(`gemm tile: the pair mode takes f32 operands, got ${format}`);
  const WG = (BM * BN) / 64;
  const KG = KT / 4;
  if ((BM * KG) % WG !== 0 || (BN * KG) % WG !== 0) throw new Error(`gemm tile: ${BM} x ${BN} needs a depth of at least ${Math.max(BM, BN) / 4}, got ${KT}`);
  return { format, vec4: format === 'f32' && vec4, pairs, BM, BN, KT, KG, WG, LA: (BM * KG) / WG, LB: (BN * KG) / WG, AS: BM / 4 + 1, BS: BN / 4 + 1 };
}

/** The tensor-core int8 GEMM (score_gemm_mma.wgsl): 4 subgroups of `subgroupSize`, 64 x 128 tiles. */
export function makeMmaGemmConfig(subgroupSize: number): GemmConfig {
  return { format: 'int8', vec4: false, pairs: false, mmaSubgroup: subgroupSize, BM: 64, BN: 128, KT: 16, KG: 4, WG: 4 * subgroupSize, LA: 0, LB: 0, AS: 0, BS: 0 };
}

/** Workgroup bytes of a GEMM tile: the two padded staging arrays (tensor cores: and the result slots). */
export function gemmSharedBytes(c: GemmConfig): number {
  if (c.mmaSubgroup) return 64 * 80 + 128 * 80 + 4 * 256 * 4;
  return 16 * c.KT * (c.AS + c.BS);
}

/** Depth groups (4 staged elements) per row for dimension D. */
export function gemmGroups(format: GemmFormat, dim: number): number {
  return Math.ceil(dim / (4 * depthPerElement(format)));
}

/** One operand row in the part's unit: floats (f32), or u32 of the packed rows (2 halves, or 4 int8). */
export function gemmRowLength(format: GemmFormat, dim: number): number {
  return format === 'f32' ? dim : packedRowWords(format, dim);
}

function operandParts(c: GemmConfig): WgslPart[] {
  switch (c.format) {
    case 'f32':
      return [
        c.vec4 ? { name: 'kernels/common/gemm_f32_vec4.wgsl', code: gemmF32Vec4Wgsl } : { name: 'kernels/common/gemm_f32_scalar.wgsl', code: gemmF32ScalarWgsl },
        { name: 'kernels/common/gemm_f32.wgsl', code: gemmF32Wgsl },
      ];
    case 'f16':
      return [{ name: 'kernels/common/gemm_f16.wgsl', code: gemmF16Wgsl }];
    case 'int8':
      return [{ name: 'kernels/common/gemm_i8.wgsl', code: gemmI8Wgsl }];
  }
}

export function gemmPipeline(ctx: GpuContext, c: GemmConfig): Promise<GPUComputePipeline> {
  if (c.mmaSubgroup) {
    // Fragment offsets depend on the subgroup index (not provably subgroup-uniform); every call is made by whole subgroups.
    return ctx.pipeline('score_gemm_mma', [{ name: 'kernels/score_gemm_mma.wgsl', code: scoreGemmMmaWgsl }], { SG: c.mmaSubgroup, WG: c.WG }, true,
      ['chromium_experimental_subgroup_matrix', 'diagnostic(off, chromium.subgroup_matrix_uniformity)']);
  }
  const { BM, BN, KT, KG, WG, LA, LB, AS, BS } = c;
  return ctx.pipeline(`score_gemm_${c.format}${c.vec4 ? '_vec4' : ''}${c.pairs ? '_pairs' : ''}`, [
    ...operandParts(c),
    { name: 'kernels/score_gemm.wgsl', code: scoreGemmWgsl },
  ], { BM, BN, KT, KG, WG, LA, LB, AS, BS, PAIRS: c.pairs });
}

export interface GemmArgs {
  /** f32: the image window; f16 / int8: the pass's packed region rows. */
  regions: BufferBinding;
  /** Offset of the pass's first region row: f32 in floats; packed formats in rows. */
  regionBase: number;
  /** f32: the caption window; f16 / int8: the chunk's packed word rows. */
  words: BufferBinding;
  /** f32: float offset of the window's first caption; packed formats: first word row. */
  wordBase: number;
  /** f32: element offset (within the caption window, from wordBase) of each packed word row. */
  wordRows?: GPUBuffer;
  /** int8: per-row scales of the packed rows. */
  scales?: { regions: BufferBinding; regionBase: number; words: BufferBinding };
  rows: number; // J = images * R
  wordCount: number; // W
  wordStride: number; // WP, a multiple of 4
  dim: number; // D
  scratch: BufferBinding; // S^T [J, WP] f32
  /** config.pairs: the tile jobs (8 u32 each, see score_gemm.wgsl) and their count. */
  jobs?: { buffer: GPUBuffer; count: number };
}

export function encodeGemm(ctx: GpuContext, pass: GpuPass, pipeline: GPUComputePipeline, c: GemmConfig,
  a: GemmArgs, transient: GPUBuffer[]): void {
  if (a.wordStride % 4 !== 0) throw new Error(`encodeGemm: wordStride must be a multiple of 4, got ${a.wordStride}`);
  const groups = gemmGroups(c.format, a.dim);
  const rowLength = gemmRowLength(c.format, a.dim);
  const uniforms = ctx.uniforms([
    [a.rows, 'u32'], [a.wordCount, 'u32'], [a.wordStride, 'u32'], [groups, 'u32'],
    [a.regionBase, 'u32'], [a.wordBase, 'u32'], [rowLength, 'u32'], [a.scales?.regionBase ?? 0, 'u32'],
  ], 'score_gemm params');
  transient.push(uniforms);
  const placeholder = () => {
    const buffer = ctx.pool.acquire(16, GPUBufferUsage.STORAGE, 'gemm placeholder');
    transient.push(buffer);
    return buffer;
  };
  const bindings: (BufferBinding | null)[] = [uniforms, a.regions, a.words, a.scratch, null, null, null, null];
  if (c.format === 'f32') bindings[4] = a.wordRows ?? placeholder();
  if (c.format === 'int8') {
    if (!a.scales) throw new Error('encodeGemm: int8 needs the rows\' scales');
    bindings[5] = a.scales.regions;
    bindings[6] = a.scales.words;
  }
  if (c.pairs && !a.jobs) throw new Error('encodeGemm: a pairs pipeline needs args.jobs');
  if (!c.mmaSubgroup) bindings[7] = a.jobs?.buffer ?? placeholder();
  else bindings[4] = null;
  const group = ctx.bindGroup(pipeline, bindings, 'score_gemm');
  if (c.pairs) ctx.dispatch(pass, pipeline, group, a.jobs!.count);
  else ctx.dispatch(pass, pipeline, group, Math.ceil(a.wordStride / c.BN), Math.ceil(a.rows / c.BM));
}

const verified = new WeakMap<GpuContext, Promise<boolean>>();

/** The self-check's problems: rows x words x D, the first region and word rows of the operands, and passes over the rows. */
const MMA_CHECKS = [
  { rows: 100, words: 150, dim: 96, regionBase: 0, wordBase: 0, passes: 1 },
  { rows: 37, words: 21, dim: 40, regionBase: 5, wordBase: 3, passes: 1 }, // partial tiles and depth, offsets
  { rows: 180, words: 70, dim: 1024, regionBase: 16, wordBase: 9, passes: 3 }, // a real depth, in three passes
];

/**
 * Whether the tensor-core GEMM compiles here and gives the dot4 GEMM's S bit for bit on
 * several problems (partial tiles, a partial depth stage, non-zero row offsets, several passes
 * into one scratch), checked once per engine: its kernel cannot be tested without such a GPU,
 * so the engine tests it before trusting it.
 */
export function verifyMmaGemm(ctx: GpuContext): Promise<boolean> {
  let result = verified.get(ctx);
  if (!result) {
    result = (async () => {
      const mma = makeMmaGemmConfig(ctx.info.subgroupMaxSize);
      const fits = (c: GemmConfig) => gemmSharedBytes(c) <= ctx.limits.maxComputeWorkgroupStorageSize && c.WG <= ctx.limits.maxComputeInvocationsPerWorkgroup;
      // Both GEMMs must fit the device: the dot4 reference in the largest tile that does.
      const reference = ([[128, 128, 16], [128, 128, 8], [64, 64, 16], [64, 64, 8]] as const).map(([bm, bn, kt]) => makeGemmConfig('int8', false, bm, bn, kt)).find(fits);
      if (!reference || !fits(mma)) return false;
      try {
        return await gemmsAgree(ctx, reference, mma);
      } catch {
        return false;
      }
    })();
    verified.set(ctx, result);
  }
  return result;
}

/** Whether two int8 GEMM configurations give the same S^T bits on every check problem (the self-check's harness). */
export async function gemmsAgree(ctx: GpuContext, a: GemmConfig, b: GemmConfig): Promise<boolean> {
  for (const check of MMA_CHECKS) {
    if (!(await sameGemm(ctx, a, b, check))) return false;
  }
  return true;
}

/** Runs one check problem through both GEMMs; true if every S^T value has the same bits. */
async function sameGemm(ctx: GpuContext, reference: GemmConfig, mma: GemmConfig, check: (typeof MMA_CHECKS)[number]): Promise<boolean> {
  const { rows, words, dim, regionBase, wordBase, passes } = check;
  const rowWords = packedRowWords('int8', dim);
  const wordStride = Math.ceil(words / 4) * 4;
  let seed = 12345 + rows;
  const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  // Random packed rows (any bytes are valid int8) past the offsets, zero padding rows after (the mma reads 16-row blocks).
  const packed = (count: number) => Uint32Array.from({ length: (count + 16) * rowWords }, (_, i) => (i < count * rowWords ? Math.floor(next() * 2 ** 32) : 0));
  const scales = (count: number) => Float32Array.from({ length: count + 16 }, () => 0.001 + next() * 0.01);
  const transient: GPUBuffer[] = [];
  const up = (data: ArrayBufferView, label: string) => (transient.push(ctx.upload(data, label)), transient[transient.length - 1]);
  try {
    return await ctx.scoped('tensor-core GEMM check', async () => {
      const regions = up(packed(regionBase + rows), 'check regions');
      const wordRows = up(packed(wordBase + wordStride), 'check words');
      const regionScales = up(scales(regionBase + rows), 'check region scales');
      const wordScales = up(scales(wordBase + wordStride), 'check word scales');
      const outputs: Float32Array[] = [];
      // Passes write to their own 256-byte aligned windows of one scratch (cleared, so gaps compare equal).
      const perPass = Math.ceil(rows / passes);
      const starts: number[] = [];
      let bytes = 0;
      for (let p0 = 0; p0 < rows; p0 += perPass) {
        starts.push(bytes);
        bytes += Math.ceil((Math.min(perPass, rows - p0) * wordStride * 4) / 256) * 256;
      }
      for (const config of [reference, mma]) {
        const pipeline = await gemmPipeline(ctx, config);
        const scratch = ctx.pool.acquire(bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, 'check S');
        transient.push(scratch);
        const encoder = ctx.createEncoder('tensor-core GEMM check');
        encoder.clearBuffer(scratch, 0, bytes);
        const pass = ctx.beginPass(encoder, 'tensor-core GEMM check');
        for (let i = 0, p0 = 0; p0 < rows; i++, p0 += perPass) {
          const n = Math.min(perPass, rows - p0);
          encodeGemm(ctx, pass, pipeline, config, {
            regions, regionBase: regionBase + p0, words: wordRows, wordBase,
            scales: { regions: regionScales, regionBase: regionBase + p0, words: wordScales },
            rows: n, wordCount: words, wordStride, dim,
            scratch: { buffer: scratch, offset: starts[i], size: n * wordStride * 4 },
          }, transient);
        }
        pass.end();
        outputs.push(await ctx.readFloat32(scratch, 0, bytes / 4, encoder));
      }
      return outputs[0].every((v, i) => Object.is(v, outputs[1][i]));
    });
  } finally {
    for (const buffer of transient) ctx.pool.release(buffer);
  }
}
