// The public engine: a GPU context plus the similarity API.
import { DeviceDescription, EngineStats, GpuContext, GpuContextOptions, Int8Product } from './gpu/context.js';
import type { KernelTime } from './gpu/profiler.js';
import type { ByteSource, ReadSourceOptions } from './io/source.js';
import { loadModelWeights } from './model/load.js';
import { NaafModel } from './model/model.js';
import { ModelConfig, StateDict, checkStateDict } from './model/weights.js';
import { runSimilarity } from './similarity/run.js';
import { PairList, scorePairs } from './similarity/pairs.js';
import { TopKOptions, TopKResult, rankTopK } from './similarity/topk.js';
import { Gallery, GalleryOptions } from './similarity/gallery.js';
import { imageSource, sourceOffset } from './similarity/sources.js';
import { checkImages, checkPrecisionRange } from './similarity/validate.js';
import type { NpyReader } from './io/npy.js';
import { TuneOptions, TuneResult, TuneShape, loadTileCache, tuneTiles, tunedTiles } from './similarity/tune.js';
import { NaafWordTerms, naafWordTerms } from './similarity/wordTerms.js';
import { DmmState, NaafTrainOptions, NaafTrainResult, TrainCaptionInput, TrainImageInput, naafTrainingSimilarity } from './ops/naafTrain.js';
import { Trainer } from './train/trainer.js';
import type { TrainingProgress } from './train/checkpoint.js';
import { resumeTraining } from './train/resume.js';
import type { TrainerOptions } from './train/options.js';
import { KernelChoice, PlanSummary, chunkLimits, resolvePlan, summarizePlan } from './similarity/plan.js';
import { resolveOptions } from './similarity/validate.js';
import type { CaptionInput, ImageInput, OutputTarget, Precision, SimilarityOptions } from './types.js';

export type EngineOptions = GpuContextOptions & {
  /** Node: a JSON file of tiles tuned per adapter; loaded now, updated by tune(). */
  tileCacheFile?: string;
};

export class NaafEngine {
  private constructor(private readonly ctx: GpuContext, private readonly tileCacheFile?: string) {}

  /** Node: Dawn via the `webgpu` package; Deno and browsers: navigator.gpu; or adopt options.device. */
  static async create(options: EngineOptions = {}): Promise<NaafEngine> {
    const ctx = await GpuContext.create(options);
    if (options.tileCacheFile !== undefined) {
      try {
        await loadTileCache(ctx, options.tileCacheFile);
      } catch (error) {
        ctx.destroy();
        throw error;
      }
    }
    return new NaafEngine(ctx, options.tileCacheFile);
  }

  /**
   * Times the score kernels (fused and split) with their tile candidates on a synthetic batch
   * of this shape and uses the fastest from now on for calls of that method, precision and
   * shape (unless a call pins options.kernel or options.tile); with options.tileCacheFile the
   * choice is saved for this adapter.
   */
  async tune(shape: TuneShape, options: TuneOptions = {}): Promise<TuneResult> {
    this.ctx.checkUsable('tune');
    return tuneTiles(this.ctx, (i, c, o, out) => this.similarityInto(i, c, o, out), shape, options, this.tileCacheFile);
  }

  /** The kernels and tiles chosen by tune() (or loaded from options.tileCacheFile), by 'method|precision|R..|rows..|D..'. */
  tunedTiles(): Record<string, KernelChoice> {
    return tunedTiles(this.ctx);
  }

  /** The int8 product this device runs: 'subgroup-matrix' (tensor cores), 'dot4', or null. */
  async int8Product(): Promise<Int8Product> {
    return this.ctx.int8Product();
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

  /**
   * What similarity() would run for inputs of this shape: kernel, product, tiles and chunks
   * (one plan per call, resolved from the options, the device and the tuned choices).
   */
  async plan(shape: { N: number; R: number; D: number; M: number; L: number }, options: SimilarityOptions): Promise<PlanSummary> {
    this.ctx.checkUsable('plan');
    const opts = resolveOptions(options);
    for (const key of ['N', 'R', 'D', 'M', 'L'] as const) {
      if (!Number.isInteger(shape?.[key]) || shape[key] < 1) throw new Error(`plan: shape.${key} must be an integer >= 1, got ${String(shape?.[key])}`);
    }
    const plan = await resolvePlan(this.ctx, shape, opts, shape.D % 4 === 0);
    return summarizePlan(plan, chunkLimits(this.ctx, plan, shape, opts));
  }

  /** sims[n * M + m]: the score of image n with caption m, as float32. */
  async similarity(images: ImageInput | NpyReader, captions: CaptionInput, options: SimilarityOptions): Promise<Float32Array> {
    return (await runSimilarity(this.ctx, images, captions, options))!;
  }

  /**
   * The k best candidates of every query, best first, without ever holding the N x M matrix:
   * 't2i' ranks images for each caption, 'i2t' captions for each image.
   */
  async topK(images: ImageInput | NpyReader, captions: CaptionInput, options: SimilarityOptions & TopKOptions): Promise<TopKResult> {
    this.ctx.checkUsable('topK');
    const [N, R, D] = checkImages(images, 'topK');
    checkPrecisionRange((options as { precision?: Precision })?.precision ?? 'f32', images, captions);
    const source = imageSource(images, N, R, D, (options as { precision?: Precision })?.precision ?? 'f32', 'topK');
    return rankTopK(this.ctx, 'topK', { source, offset: sourceOffset(images) }, captions, options,
      (pairs, o) => scorePairs(this.ctx, images, captions, pairs, o));
  }

  /**
   * A resident gallery: `images` uploaded once at `options.precision` ('f32', 'f16' or 'int8'),
   * with what depends on images only (region Grams, int8 scales) computed once, then queried
   * with gallery.topK / similarity / scorePairs (only captions are uploaded per call) and grown
   * with gallery.add. gallery.destroy() (or `using`) frees it.
   */
  async createGallery(images: ImageInput | NpyReader, options: GalleryOptions = {}): Promise<Gallery> {
    return Gallery.create(this.ctx, images, options);
  }

  /**
   * The f32 scores of chosen pairs, pair i being (images[pairs.images[i]], captions[pairs.captions[i]]):
   * for re-ranking a shortlist. Bit for bit the scores the split kernel gives in similarity().
   */
  async scorePairs(images: ImageInput | NpyReader, captions: CaptionInput, pairs: PairList, options: SimilarityOptions): Promise<Float32Array> {
    return scorePairs(this.ctx, images, captions, pairs, options);
  }

  /**
   * NAAF's per-word terms of every pair (max_r s, neg, pos_f, pos_r; each [N, M, L]) from the
   * fused kernel, with the scores: for inspecting small batches.
   */
  async naafWordTerms(images: ImageInput, captions: CaptionInput, options: Extract<SimilarityOptions, { method: 'naaf' }>): Promise<NaafWordTerms> {
    return naafWordTerms(this.ctx, images, captions, options);
  }

  /** Like similarity(), but writes the N x M result into a caller's GPU buffer, with no readback. */
  async similarityInto(images: ImageInput, captions: CaptionInput, options: SimilarityOptions, output: OutputTarget): Promise<void> {
    await runSimilarity(this.ctx, images, captions, options, output);
  }

  /**
   * Loads a model from an original `.pth.tar` checkpoint or a `.safetensors` file: a path (Node,
   * Deno), a URL (string with a scheme, or URL; fetched and streamed), a Response, an
   * ArrayBuffer or a typed array. options: onProgress({ loaded, total }), signal (AbortSignal),
   * maxBytes. model.config carries the sizes and the learned threshold (thres_safe).
   */
  async loadModel(source: ByteSource, options: ReadSourceOptions = {}): Promise<NaafModel> {
    this.ctx.checkUsable('loadModel');
    const loaded = await loadModelWeights(source, options);
    return new NaafModel(this.ctx, loaded.config, loaded.state, loaded.thresholdState, loaded.info);
  }

  /** A model from parameters under their state-dict names ('img_enc.fc.weight', ...). */
  createModel(state: StateDict, config: Partial<ModelConfig> = {}): NaafModel {
    this.ctx.checkUsable('createModel');
    const copy = { ...state };
    return new NaafModel(this.ctx, checkStateDict(copy, config, 'createModel'), copy, null, {});
  }

  /**
   * NAAF's training-path similarity of a batch (caption i pairs with image i) with mismatch
   * mining between captions (spec 3.2-3.3): sims [B*B] image-major, and the state after it.
   */
  async naafTrainingSimilarity(images: TrainImageInput, captions: TrainCaptionInput, state: DmmState, options?: NaafTrainOptions): Promise<NaafTrainResult> {
    return naafTrainingSimilarity(this.ctx, images, captions, state, options);
  }

  /** A trainer that updates `model` in place (its GPU weights). */
  async createTrainer(model: NaafModel, options: TrainerOptions = {}): Promise<Trainer> {
    this.ctx.checkUsable('createTrainer');
    return new Trainer(this.ctx, model, options);
  }

  /** A trainer and its model restored exactly from a training checkpoint (trainer.save / naaf train). */
  async resumeTrainer(path: string): Promise<{ trainer: Trainer; progress: TrainingProgress }> {
    this.ctx.checkUsable('resumeTrainer');
    return resumeTraining(this.ctx, path);
  }

  stats(): EngineStats {
    return this.ctx.stats();
  }

  /**
   * GPU time per kernel (pipeline label) since the last call, largest first, with each one's
   * share: needs NaafEngine.create({ profile: true }) (timestamp queries, one pass per dispatch).
   */
  async kernelTimes(): Promise<KernelTime[]> {
    return this.ctx.kernelTimes();
  }

  /**
   * Frees the pooled buffers no call is using. Calls keep what they allocated in a pool for the
   * next call (so repeated calls allocate nothing); trim() gives it back to the device.
   */
  trim(): void {
    this.ctx.pool.trim();
  }

  /** Starts stats().peakBytesAllocated, peakWorkingBytes and longestSubmitMs over (to measure a call or a phase). */
  resetPeak(): void {
    this.ctx.pool.resetPeak();
    this.ctx.memory.resetPeak();
    this.ctx.pacer.longestMs = 0;
  }

  /** Frees everything the engine created; an adopted device is left alive. */
  destroy(): void {
    this.ctx.destroy();
  }
}
