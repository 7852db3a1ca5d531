// The caller's inputs as the block runner reads them (src/similarity/blocks.ts): f32 rows on the
// CPU (a Float32Array, or an NpyReader over a file, read block by block and checked as read),
// or a GPU buffer.
import { NpyReader } from '../io/npy.js';
import type { CaptionInput, ImageInput, Precision } from '../types.js';
import type { CaptionSource, ImageSource } from './blocks.js';
import { checkFiniteRows } from './validate.js';

export type ImageRowsInput = ImageInput | NpyReader;

export function imageSource(images: ImageRowsInput, N: number, R: number, D: number, precision: Precision, what = 'similarity'): ImageSource {
  if (images instanceof NpyReader) {
    const reader = images;
    return {
      kind: 'cpu', N, R, D,
      read: async (start, count) => {
        const rows = await reader.readRows(start, count);
        checkFiniteRows(`images (${reader.path})`, rows, start, R, D, what);
        if (precision === 'f16') checkF16Range(`images (${reader.path})`, rows, start * R * D, what);
        return rows;
      },
    };
  }
  if ('data' in images && images.data) {
    const data = images.data;
    return { kind: 'cpu', N, R, D, read: (start, count) => data.subarray(start * R * D, (start + count) * R * D) };
  }
  const gpu = images as Extract<ImageInput, { buffer: GPUBuffer }>;
  return { kind: 'gpu', N, R, D, buffer: gpu.buffer, offset: gpu.offset ?? 0 };
}

export function captionSource(captions: CaptionInput, M: number, L: number, D: number, lengths: Uint32Array): CaptionSource {
  if ('data' in captions && captions.data) return { kind: 'cpu', M, L, D, data: captions.data, lengths };
  const gpu = captions as Extract<CaptionInput, { buffer: GPUBuffer }>;
  return { kind: 'gpu', M, L, D, buffer: gpu.buffer, offset: gpu.offset ?? 0, lengths };
}

/** Byte offset of a source in its buffer (0 on the CPU: uploads start at 0). */
export function sourceOffset(input: ImageRowsInput | CaptionInput): number {
  if (input instanceof NpyReader || ('data' in input && input.data)) return 0;
  return (input as { offset?: number }).offset ?? 0;
}

/** f16 keeps magnitudes up to 65504. */
export function checkF16Range(name: string, data: Float32Array, firstIndex = 0, what = 'similarity'): void {
  for (let i = 0; i < data.length; i++) {
    if (Math.abs(data[i]) > 65504) {
      throw new Error(`${what}: precision 'f16' holds magnitudes up to 65504, but ${name}.data[${firstIndex + i}] is ${data[i]}; use 'f32' or normalise the embeddings`);
    }
  }
}
