// The seam between the API (engine, galleries, models, search) and what computes: a backend.
// WebGPU (src/backend/webgpu.ts: the WGSL kernels on a GPUDevice) and WASM (src/wasm/backend.ts:
// the SIMD kernels of kernels/wasm/ on worker threads) both implement it, as onnxruntime-web's
// execution providers do its session's; a method's registry entry carries its kernels for each.
import type { EngineStats } from '../gpu/context.js';
import type { DeviceDescription } from '../gpu/context.js';
import type { ModelEncoders } from '../model/encoders.js';
import type { ModelConfig, StateDict } from '../model/weights.js';
import type { PairList } from '../similarity/pairs.js';
import type { TopKOptions, TopKResult } from '../similarity/topk.js';
import type { NaafWordTerms } from '../similarity/wordTerms.js';
import type { CaptionInput, ImageInput, Precision, SimilarityOptions } from '../types.js';

export type BackendKind = 'webgpu' | 'wasm';
export type BackendChoice = BackendKind | 'auto';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'webgpu', 'wasm'];

export type { Gallery, GalleryAddOptions, GalleryOptions, ImageRows } from '../similarity/galleryTypes.js';
import type { Gallery, GalleryOptions, ImageRows } from '../similarity/galleryTypes.js';

export interface Backend {
  readonly kind: BackendKind;
  /** The device (WebGPU's adapter, or the CPU's WASM features) for device lines. */
  readonly info: DeviceDescription;
  /** One line: the backend, its device, threads and SIMD features (CLI and benches print it). */
  describe(): string;
  checkUsable(what: string): void;
  similarity(images: ImageRows, captions: CaptionInput, options: SimilarityOptions): Promise<Float32Array>;
  topK(images: ImageRows, captions: CaptionInput, options: SimilarityOptions & TopKOptions): Promise<TopKResult>;
  scorePairs(images: ImageRows, captions: CaptionInput, pairs: PairList, options: SimilarityOptions): Promise<Float32Array>;
  naafWordTerms(images: ImageInput, captions: CaptionInput, options: Extract<SimilarityOptions, { method: 'naaf' }>): Promise<NaafWordTerms>;
  createGallery(images: ImageRows, options: GalleryOptions): Promise<Gallery>;
  /** The model's encoders on this backend (weights copied into its memory). */
  modelEncoders(config: ModelConfig, state: StateDict): ModelEncoders;
  stats(): EngineStats;
  trim(): void;
  resetPeak(): void;
  destroy(): void;
}

/** The precisions a backend's galleries and calls accept. */
export type { Precision };
