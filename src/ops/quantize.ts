// Launcher of kernels/quantize_rows.wgsl: low-precision embeddings for the int8 path (per-row
// symmetric quantisation) and the f16 path (rounding to float16), packed into u32 words.
import quantizeRowsWgsl from '../../kernels/quantize_rows.wgsl';
import type { BufferBinding, GpuContext } from '../gpu/context.js';
import { MAX_GROUPS } from '../gpu/limits.js';
import type { GpuPass } from '../gpu/pass.js';

const WG = 64;

/** Bytes per packed int8 row: D rounded up to the subgroup-matrix depth, 32. */
export function packedRowBytes(dim: number): number {
  return Math.ceil(dim / 32) * 32;
}

/** u32 words per packed row: int8 rows of packedRowBytes(D) bytes; f16 rows of D halves rounded up to 4. */
export function packedRowWords(format: 'int8' | 'f16', dim: number): number {
  return format === 'int8' ? packedRowBytes(dim) / 4 : 2 * Math.ceil(dim / 4);
}

/**
 * One buffer of low-precision rows: `rows` packed rows, then (int8) their scales as f32 bits
 * from u32 index `scaleBase` (256-byte aligned, so the scales can be bound as a window of their
 * own); `bytes` in all.
 */
export function packedLayout(format: 'int8' | 'f16', dim: number, rows: number): { rowWords: number; scaleBase: number; bytes: number } {
  const rowWords = packedRowWords(format, dim);
  if (format === 'f16') return { rowWords, scaleBase: 0, bytes: Math.max(16, rows * rowWords * 4) };
  const scaleBase = Math.ceil((rows * rowWords) / 64) * 64;
  return { rowWords, scaleBase, bytes: (scaleBase + Math.ceil(rows / 4) * 4) * 4 };
}

export function quantizePipeline(ctx: GpuContext, format: 'int8' | 'f16' = 'int8'): Promise<GPUComputePipeline> {
  return ctx.pipeline(`quantize_rows_${format}`, [{ name: 'kernels/quantize_rows.wgsl', code: quantizeRowsWgsl }], { WG, F16: format === 'f16' });
}

export interface QuantizeArgs {
  format?: 'int8' | 'f16'; // the pipeline's (default int8)
  src: BufferBinding;
  srcBase: number; // element offset of source row 0 inside the binding
  dim: number;
  rows: number; // output rows with data
  outRows: number; // >= rows; the rest are zero
  /** Output row i reads source row sourceRows[i] (packed caption words); identity when absent. */
  sourceRows?: GPUBuffer;
  /** outRows packed rows, then (int8) outRows scales from u32 index scaleBase: see packedLayout. */
  packed: BufferBinding;
  scaleBase?: number;
  /** The packed row output row 0 goes to (default 0). */
  packedRow?: number;
  /** Also write q * scale at each source row (same layout as the source window). */
  dequantized?: BufferBinding;
}

export function encodeQuantize(ctx: GpuContext, pass: GpuPass, pipeline: GPUComputePipeline,
  a: QuantizeArgs, transient: GPUBuffer[]): void {
  const groupsX = Math.min(a.outRows, MAX_GROUPS);
  const groupsY = Math.ceil(a.outRows / groupsX);
  const uniforms = ctx.uniforms([
    [a.srcBase, 'u32'], [a.dim, 'u32'], [packedRowWords(a.format ?? 'int8', a.dim), 'u32'], [a.rows, 'u32'],
    [a.outRows, 'u32'], [a.sourceRows ? 1 : 0, 'u32'], [a.dequantized ? 1 : 0, 'u32'], [groupsX, 'u32'], [0xffff, 'u32'],
    [a.scaleBase ?? 0, 'u32'], [a.packedRow ?? 0, 'u32'], [0, 'u32'],
  ], 'quantize params');
  if ((a.format ?? 'int8') === 'int8' && a.scaleBase === undefined) throw new Error('encodeQuantize: int8 rows need packed.scaleBase');
  transient.push(uniforms);
  const placeholder = (label: string) => {
    const buffer = ctx.pool.acquire(16, GPUBufferUsage.STORAGE, label);
    transient.push(buffer);
    return buffer;
  };
  const group = ctx.bindGroup(pipeline, [
    uniforms, a.src, a.sourceRows ?? placeholder('no source rows'), a.packed, null, a.dequantized ?? placeholder('no dequantized'),
  ], 'quantize_rows');
  ctx.dispatch(pass, pipeline, group, groupsX, groupsY);
}
