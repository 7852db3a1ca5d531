// Public input and option types. Shapes are documented here, once.
import type { TileRequest } from './ops/score.js';

export type { TileRequest };

/** Region embeddings, l2-normalised: [N images, R regions, D dims], row-major. */
export type ImageInput =
  | { data: Float32Array; shape: readonly [number, number, number] }
  /** Already on the GPU (usage STORAGE); `offset` in bytes, a multiple of 4. Not scanned for NaN. */
  | { buffer: GPUBuffer; shape: readonly [number, number, number]; offset?: number };

/** Word embeddings: [M captions, L words (padded with zeros), D dims], with each caption's length. */
export type CaptionInput =
  | { data: Float32Array; shape: readonly [number, number, number]; lengths: Int32Array | Uint32Array | readonly number[] }
  | { buffer: GPUBuffer; shape: readonly [number, number, number]; lengths: Int32Array | Uint32Array | readonly number[]; offset?: number };

export interface NaafOptions {
  method: 'naaf';
  /** The checkpoint's thres_safe. */
  threshold: number;
  lambdaSoftmax?: number; // 20
  lambdaIntra?: number; // 5
  /** Intra-text propagation of the negative mask (inference path); false gives the training-path mask. */
  intra?: boolean; // true
}

export interface ScanT2iOptions {
  method: 'scan-t2i';
  lambdaSoftmax?: number; // 9
  aggregation?: 'lse' | 'mean'; // 'lse'
  lambdaLse?: number; // 6
}

export interface ScanI2tOptions {
  method: 'scan-i2t';
  lambdaSoftmax?: number; // 4
  aggregation?: 'lse' | 'mean'; // 'lse'
  lambdaLse?: number; // 5
}

/** CHAN (CVPR 2023): each word's best region, pooled over the caption's words. */
export interface ChanOptions {
  method: 'chan';
  pooling?: 'lse' | 'mean'; // 'lse': log sum_w exp(c_w / belta), as CHAN's GRU runs; 'mean' as its BERT runs
  belta?: number; // 0.1: the log-sum-exp's temperature (it divides)
}

export type SimilarityOptions = (NaafOptions | ScanT2iOptions | ScanI2tOptions | ChanOptions) & {
  /** Testing and memory control: at most this many images / captions per GPU chunk. */
  maxImagesPerChunk?: number;
  maxCaptionsPerChunk?: number;
  /** Pins the score kernel's tile (normally chosen from the device's limits or engine.tune()). */
  tile?: TileRequest;
  /**
   * 'f32' (default), or the opt-in 'int8': S from per-row int8-quantised embeddings
   * (q = round(127 x / max|x|)), i.e. exactly the method applied to the dequantised embeddings.
   * 'int8' takes tensor cores where the device has chromium-experimental-subgroup-matrix (Dawn
   * flag enable-dawn-features=allow_unsafe_apis), else dot4I8Packed; 'int8-dot4' and
   * 'int8-subgroup-matrix' pin one.
   */
  precision?: Precision;
  /**
   * Pins the score kernel: 'fused' (S stays in workgroup memory) or 'split' (S through a
   * bounded scratch buffer: a GEMM, then an epilogue kernel). Default: the engine.tune() winner
   * for this shape, else 'split' (f16 always runs split).
   */
  kernel?: 'fused' | 'split';
  /** The split kernel's scratch for S, in bytes per (caption chunk, image pass): default 256 MiB. */
  maxScratchBytes?: number;
  /**
   * What the call may hold on the GPU at once, in bytes (default 1 GiB): larger inputs are
   * streamed in blocks under it (src/similarity/blocks.ts).
   */
  maxGpuBytes?: number;
  /** Cancels the call between two submissions: it frees what it took and throws an AbortError. */
  signal?: AbortSignal;
};

/**
 * 'f32' (default); 'f16': embeddings rounded to float16 (S in f32 from them); 'int8' (per-row
 * quantised); 'int8-dot4' / 'int8-subgroup-matrix' pin one int8 product.
 */
export type Precision = 'f32' | 'f16' | 'int8' | 'int8-dot4' | 'int8-subgroup-matrix';

/** Where similarityInto writes: N * M float32 at `offset` bytes (usage STORAGE). */
export interface OutputTarget {
  buffer: GPUBuffer;
  offset?: number;
}
