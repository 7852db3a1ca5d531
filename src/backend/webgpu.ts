// The WebGPU backend: the WGSL kernels on a GPUDevice (src/gpu/context.ts owns it), behind the
// backend seam (src/backend/types.ts). The engine reaches its GPU-only services (tuning, plans,
// training, output into a caller's buffer) through `ctx`.
import { GpuContext, GpuContextOptions } from '../gpu/context.js';
import { GpuEncoders } from '../model/gpuEncoders.js';
import type { ModelConfig, StateDict } from '../model/weights.js';
import { GpuGallery } from '../similarity/gallery.js';
import { PairList, scorePairs } from '../similarity/pairs.js';
import { runSimilarity } from '../similarity/run.js';
import { imageSource, sourceOffset } from '../similarity/sources.js';
import { TopKOptions, TopKResult, rankTopK } from '../similarity/topk.js';
import { checkImages, checkPrecisionRange } from '../similarity/validate.js';
import { naafWordTerms } from '../similarity/wordTerms.js';
import type { CaptionInput, ImageInput, Precision, SimilarityOptions } from '../types.js';
import type { Backend, Gallery, GalleryOptions, ImageRows } from './types.js';

export class WebGpuBackend implements Backend {
  readonly kind = 'webgpu' as const;

  constructor(readonly ctx: GpuContext) {}

  static async create(options: GpuContextOptions): Promise<WebGpuBackend> {
    return new WebGpuBackend(await GpuContext.create(options));
  }

  get info() {
    return this.ctx.info;
  }

  describe(): string {
    const info = this.ctx.info;
    return `webgpu: ${info.description || info.device || info.vendor || 'adapter'} (${info.runtime}; ${info.architecture || 'architecture unknown'})`;
  }

  checkUsable(what: string): void {
    this.ctx.checkUsable(what);
  }

  async similarity(images: ImageRows, captions: CaptionInput, options: SimilarityOptions): Promise<Float32Array> {
    return (await runSimilarity(this.ctx, images, captions, options))!;
  }

  async topK(images: ImageRows, captions: CaptionInput, options: SimilarityOptions & TopKOptions): Promise<TopKResult> {
    this.ctx.checkUsable('topK');
    const [N, R, D] = checkImages(images, 'topK');
    const precision = (options as { precision?: Precision })?.precision ?? 'f32';
    checkPrecisionRange(precision, images, captions);
    const source = imageSource(images, N, R, D, precision, 'topK');
    return rankTopK(this.ctx, 'topK', { source, offset: sourceOffset(images) }, captions, options,
      (pairs, o) => scorePairs(this.ctx, images, captions, pairs, o));
  }

  scorePairs(images: ImageRows, captions: CaptionInput, pairs: PairList, options: SimilarityOptions): Promise<Float32Array> {
    return scorePairs(this.ctx, images, captions, pairs, options);
  }

  naafWordTerms(images: ImageInput, captions: CaptionInput, options: Extract<SimilarityOptions, { method: 'naaf' }>) {
    return naafWordTerms(this.ctx, images, captions, options);
  }

  createGallery(images: ImageRows, options: GalleryOptions): Promise<Gallery> {
    return GpuGallery.create(this.ctx, images, options);
  }

  modelEncoders(config: ModelConfig, state: StateDict) {
    return new GpuEncoders(this.ctx, config, state);
  }

  stats() {
    return this.ctx.stats();
  }

  trim(): void {
    this.ctx.pool.trim();
  }

  resetPeak(): void {
    this.ctx.pool.resetPeak();
    this.ctx.memory.resetPeak();
    this.ctx.pacer.longestMs = 0;
  }

  destroy(): void {
    this.ctx.destroy();
  }
}
