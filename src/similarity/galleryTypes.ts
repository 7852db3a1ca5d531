// What a resident gallery is, on every backend (the GPU's src/similarity/gallery.ts, the CPU's
// src/wasm/gallery.ts): its options and its calls.
import type { NpyReader } from '../io/npy.js';
import type { CaptionInput, ImageInput, SimilarityOptions } from '../types.js';
import type { PairList } from './pairs.js';
import type { TopKOptions, TopKResult } from './topk.js';

/** Images as every backend takes them: f32 rows (a Float32Array or a .npy file), or a GPU buffer (WebGPU only). */
export type ImageRows = ImageInput | NpyReader;

export interface GalleryOptions {
  /** What the images are stored and scored in: 'f32' (default), 'f16' or 'int8'. */
  precision?: 'f32' | 'f16' | 'int8';
  /** The most bytes the gallery may keep on its device (GPU memory, or WASM memory on the CPU; default: no limit but the device's). */
  maxGpuBytes?: number;
  /** Cancels the upload (nothing stays allocated). */
  signal?: AbortSignal;
  /** Called as images are uploaded: (images done, images in the call). */
  onProgress?: (done: number, total: number) => void;
  /** Images per shard at most (default: what one binding, or one WASM memory, holds); smaller shards bound each buffer. */
  maxImagesPerShard?: number;
  /**
   * Images the gallery will hold once every add() is done: new shards are sized for them, so
   * growing batch by batch copies nothing and never holds a shard twice (evalrank passes its fold).
   */
  expectedImages?: number;
}

export interface GalleryAddOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/**
 * A resident gallery: images stored once in the format they are scored in, with what depends on
 * images only (region Grams, int8 scales), queried again and again; grown with add().
 */
export interface Gallery {
  readonly R: number;
  readonly D: number;
  readonly precision: 'f32' | 'f16' | 'int8';
  /** Images in the gallery. */
  readonly size: number;
  /** Bytes the gallery keeps on its device. */
  readonly bytes: number;
  /** Bytes one image takes in this gallery's format. */
  readonly bytesPerImage: number;
  /** Appends images (same R and D); they get the next indices. All or nothing. */
  add(images: ImageRows, options?: GalleryAddOptions): Promise<void>;
  /** The k best images (t2i) or captions (i2t) of every query, as engine.topK gives them. */
  topK(captions: CaptionInput, options: SimilarityOptions & TopKOptions): Promise<TopKResult>;
  /** sims[n * M + m]: image n of the gallery with caption m. */
  similarity(captions: CaptionInput, options: SimilarityOptions): Promise<Float32Array>;
  /** f32 scores of chosen (image, caption) pairs, bit for bit engine.scorePairs on the f32 rows. */
  scorePairs(captions: CaptionInput, pairs: PairList, options: SimilarityOptions): Promise<Float32Array>;
  /** Frees the gallery; later calls on it throw. */
  destroy(): void;
  [Symbol.dispose](): void;
}

