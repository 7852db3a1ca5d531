// The GPU's own low-precision operands, read back from the quantisation kernel: references for
// the f16 and int8 paths are built from these rather than from a CPU rounding, since WGSL lets a
// GPU divide to 2.5 ULP (the int8 scale's reciprocal) and pack f16 toward zero or to nearest.
import type { GpuContext } from '../src/gpu/context.js';
import { encodeQuantize, packedLayout, quantizePipeline } from '../src/ops/quantize.js';
import type { RandomBatch } from './random.js';

export interface GpuQuantized {
  /** The packed u32 words [outRows, rowWords]. */
  words: Uint32Array;
  /** int8: the rows' scales [outRows]. */
  scales: Float32Array;
  /** The low-precision values as f32, in the source layout (rows not packed keep the fill value). */
  dequantized: Float32Array;
  rowWords: number;
}

/** Runs kernels/quantize_rows.wgsl on `data` (rows of `dim`), output row i from source row sourceRows[i] (or i). */
export async function quantizeOnGpu(ctx: GpuContext, data: Float32Array, dim: number, format: 'int8' | 'f16',
  sourceRows: Uint32Array | null, rows: number, outRows: number, fill = -12345.5): Promise<GpuQuantized> {
  const layout = packedLayout(format, dim, outRows);
  const transient: GPUBuffer[] = [];
  const own = (buffer: GPUBuffer) => (transient.push(buffer), buffer);
  const src = own(ctx.upload(data, 'src'));
  // Poisoned, so unwritten output shows.
  const packed = own(ctx.upload(new Float32Array(layout.bytes / 4).fill(fill), 'packed', GPUBufferUsage.COPY_SRC));
  const dequantized = own(ctx.upload(new Float32Array(data.length).fill(fill), 'dequantized', GPUBufferUsage.COPY_SRC));
  const pipeline = await quantizePipeline(ctx, format);
  const encoder = ctx.createEncoder('quantize test');
  const pass = ctx.beginPass(encoder, 'test');
  encodeQuantize(ctx, pass, pipeline, {
    format, src, srcBase: 0, dim, rows, outRows, packed, scaleBase: layout.scaleBase, dequantized,
    sourceRows: sourceRows ? own(ctx.upload(sourceRows, 'rows')) : undefined,
  }, transient);
  pass.end();
  ctx.submit(encoder);
  const all = new Uint32Array((await ctx.readFloat32(packed, 0, layout.bytes / 4)).buffer);
  const back = await ctx.readFloat32(dequantized, 0, data.length);
  transient.forEach((b) => ctx.pool.release(b));
  return {
    words: all.slice(0, outRows * layout.rowWords),
    scales: format === 'int8' ? new Float32Array(all.slice(layout.scaleBase, layout.scaleBase + outRows).buffer) : new Float32Array(0),
    dequantized: back,
    rowWords: layout.rowWords,
  };
}

/** A batch with its images and captions replaced by the values the GPU's f16 or int8 path computes with. */
export async function gpuLowPrecisionBatch(ctx: GpuContext, b: RandomBatch, format: 'int8' | 'f16'): Promise<RandomBatch> {
  const { N, R, M, L, D } = b;
  const images = (await quantizeOnGpu(ctx, b.images, D, format, null, N * R, N * R, 0)).dequantized;
  const rows: number[] = [];
  for (let m = 0; m < M; m++) for (let w = 0; w < b.lengths[m]; w++) rows.push(m * L + w);
  // Padding words stay 0 (the fill), as in the inputs.
  const captions = (await quantizeOnGpu(ctx, b.captions, D, format, Uint32Array.from(rows), rows.length, rows.length, 0)).dequantized;
  return { ...b, images, captions };
}
