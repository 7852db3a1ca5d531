// Launcher of kernels/quantize_rows.wgsl: per-row symmetric int8 quantisation of embeddings
// for the int8 similarity path (src/ops/scoreI8.ts).
import quantizeRowsWgsl from '../../kernels/quantize_rows.wgsl';
import type { BufferBinding, GpuContext } from '../gpu/context.js';

const WG = 64;
const MAX_GROUPS_X = 65535;

/** Bytes per packed int8 row: D rounded up to the subgroup-matrix depth, 32. */
export function packedRowBytes(dim: number): number {
  return Math.ceil(dim / 32) * 32;
}

export function quantizePipeline(ctx: GpuContext): Promise<GPUComputePipeline> {
  return ctx.pipeline('quantize_rows', [{ name: 'kernels/quantize_rows.wgsl', code: quantizeRowsWgsl }], { WG });
}

export interface QuantizeArgs {
  src: BufferBinding;
  srcBase: number; // element offset of source row 0 inside the binding
  dim: number;
  rows: number; // output rows with data
  outRows: number; // >= rows; the rest are zero
  /** Output row i reads source row sourceRows[i] (packed caption words); identity when absent. */
  sourceRows?: GPUBuffer;
  packed: BufferBinding; // >= outRows * packedRowBytes(dim) bytes
  scales: BufferBinding; // >= outRows floats
  /** Also write q * scale at each source row (same layout as the source window). */
  dequantized?: BufferBinding;
}

export function encodeQuantize(ctx: GpuContext, pass: GPUComputePassEncoder, pipeline: GPUComputePipeline,
  a: QuantizeArgs, transient: GPUBuffer[]): void {
  const groupsX = Math.min(a.outRows, MAX_GROUPS_X);
  const groupsY = Math.ceil(a.outRows / groupsX);
  const uniforms = ctx.uniforms([
    [a.srcBase, 'u32'], [a.dim, 'u32'], [packedRowBytes(a.dim) / 4, 'u32'], [a.rows, 'u32'],
    [a.outRows, 'u32'], [a.sourceRows ? 1 : 0, 'u32'], [a.dequantized ? 1 : 0, 'u32'], [groupsX, 'u32'],
  ], 'quantize params');
  transient.push(uniforms);
  const placeholder = (label: string) => {
    const buffer = ctx.pool.acquire(16, GPUBufferUsage.STORAGE, label);
    transient.push(buffer);
    return buffer;
  };
  const group = ctx.bindGroup(pipeline, [
    uniforms, a.src, a.sourceRows ?? placeholder('no source rows'), a.packed, a.scales, a.dequantized ?? placeholder('no dequantized'),
  ], 'quantize_rows');
  ctx.dispatch(pass, pipeline, group, groupsX, groupsY);
}
