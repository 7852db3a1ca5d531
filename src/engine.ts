// The public engine: a GPU context plus the similarity API.
import { DeviceDescription, EngineStats, GpuContext, GpuContextOptions } from './gpu/context.js';
import { runSimilarity } from './similarity/run.js';
import type { CaptionInput, ImageInput, OutputTarget, SimilarityOptions } from './types.js';

export type EngineOptions = GpuContextOptions;

export class NaafEngine {
  private constructor(private readonly ctx: GpuContext) {}

  /** Node: Dawn via the `webgpu` package; Deno and browsers: navigator.gpu; or adopt options.device. */
  static async create(options: EngineOptions = {}): Promise<NaafEngine> {
    return new NaafEngine(await GpuContext.create(options));
  }

  /** The device in use: runtime, adapter, features and Dawn flags. */
  get device(): GPUDevice {
    return this.ctx.device;
  }

  get info(): DeviceDescription {
    return this.ctx.info;
  }

  /** True where kernels may use subgroup operations on this runtime. */
  get hasSubgroups(): boolean {
    return this.ctx.hasSubgroups;
  }

  /** sims[n * M + m]: the score of image n with caption m, as float32. */
  async similarity(images: ImageInput, captions: CaptionInput, options: SimilarityOptions): Promise<Float32Array> {
    return (await runSimilarity(this.ctx, images, captions, options))!;
  }

  /** Like similarity(), but writes the N x M result into a caller's GPU buffer, with no readback. */
  async similarityInto(images: ImageInput, captions: CaptionInput, options: SimilarityOptions, output: OutputTarget): Promise<void> {
    await runSimilarity(this.ctx, images, captions, options, output);
  }

  stats(): EngineStats {
    return this.ctx.stats();
  }

  /** Frees the pooled buffers that are not in use. */
  trim(): void {
    this.ctx.pool.trim();
  }

  /** Frees everything the engine created; an adopted device is left alive. */
  destroy(): void {
    this.ctx.destroy();
  }
}
