// What a backend gives a model (src/model/model.ts): its encoders over weights it keeps in its
// own memory (GPU buffers, or WASM memory), for inputs the model has already checked. A
// backend's encoders also hand their output in the form its own galleries and similarity take
// without a copy (GPU buffers on WebGPU, arrays on the CPU): evalrank encodes through them.
import type { CaptionInput, ImageInput } from '../types.js';
import type { StateDict } from './weights.js';

export interface Embeddings {
  data: Float32Array;
  shape: [number, number, number];
}

export interface GpuEmbeddings {
  /** Owned by the caller: destroy() it when done. */
  buffer: GPUBuffer;
  shape: [number, number, number];
}

/** One GPU parameter buffer; the GRU's hold both directions: [forward, reverse] state-dict names. */
export interface ModelParameter {
  names: string[];
  buffer: GPUBuffer;
  shape: number[]; // with a leading 2 for the GRU's two directions
  size: number;
}

/** Encoded inputs ready for the same backend's scoring; release() frees them. */
export interface ScoringInput<T> {
  input: T;
  /** Resolves once the encoding has finished (for timing). */
  ready(): Promise<void>;
  release(): void;
}

export interface ModelEncoders {
  readonly backend: 'webgpu' | 'wasm';
  /** Region embeddings [N, R, E] of features [N * R * imgDim]. */
  encodeImages(rows: Float32Array, N: number, R: number): Promise<Embeddings>;
  /** Caption embeddings [M, L, E] (zero past each length) of token ids [M * L]. */
  encodeCaptions(ids: Uint32Array, M: number, L: number, lengths: Int32Array): Promise<Embeddings>;
  imagesForScoring(rows: Float32Array, N: number, R: number): Promise<ScoringInput<ImageInput>>;
  captionsForScoring(ids: Uint32Array, M: number, L: number, lengths: Int32Array): Promise<ScoringInput<CaptionInput>>;
  /** WebGPU only: embeddings left on the GPU, the parameter buffers (training), and reading them back. */
  encodeImagesToGpu?(rows: Float32Array, N: number, R: number): Promise<GpuEmbeddings>;
  encodeCaptionsToGpu?(ids: Uint32Array, M: number, L: number, lengths: Int32Array): Promise<GpuEmbeddings>;
  parameters?(): ModelParameter[];
  syncState?(): Promise<StateDict>;
  destroy(): void;
}
