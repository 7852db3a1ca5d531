// The public engine: the similarity API over a backend (src/backend/: WebGPU's WGSL kernels, or
// the CPU's WASM SIMD kernels), and WebGPU's own services (tuning, plans, training, output into
// a caller's GPU buffer) where the backend is WebGPU.
import { BackendOptions, openBackend } from './chooseBackend.js';
import type { Backend, BackendKind, Gallery, GalleryOptions } from './backend/types.js';
import { WebGpuBackend } from './backend/webgpu.js';
import { DeviceDescription, EngineStats, GpuContext, Int8Product } from './gpu/context.js';
import { GpuEncoders } from './model/gpuEncoders.js';
import type { KernelTime } from './gpu/profiler.js';
import type { ByteSource, ReadSourceOptions } from './io/source.js';
import { loadModelWeights } from './model/load.js';
import { NaafModel } from './model/model.js';
import { ModelConfig, StateDict, checkStateDict } from './model/weights.js';
import { runSimilarity } from './similarity/run.js';
import type { PairList } from './similarity/pairs.js';
import type { TopKOptions, TopKResult } from './similarity/topk.js';
import type { NpyReader } from './io/npy.js';
import { TuneOptions, TuneResult, TuneShape, loadTileCache, tuneTiles, tunedTiles } from './similarity/tune.js';
import type { NaafWordTerms } from './similarity/wordTerms.js';
import { DmmState, NaafTrainOptions, NaafTrainResult, TrainCaptionInput, TrainImageInput, naafTrainingSimilarity } from './ops/naafTrain.js';
import { Trainer } from './train/trainer.js';
import type { TrainingProgress } from './train/checkpoint.js';
import { resumeTraining } from './train/resume.js';
import type { TrainerOptions } from './train/options.js';
import { KernelChoice, PlanSummary, chunkLimits, resolvePlan, summarizePlan } from './similarity/plan.js';
import { resolveOptions } from './similarity/validate.js';
import type { CaptionInput, ImageInput, OutputTarget, Precision, SimilarityOptions } from './types.js';

export type EngineOptions = BackendOptions & {
  /** Node: a JSON file of tiles tuned per adapter; loaded now, updated by tune() (WebGPU). */
  tileCacheFile?: string;
};

export class NaafEngine {
  private constructor(private readonly impl: Backend, private readonly tileCacheFile?: string) {}

  /**
   * options.backend: 'auto' (default; NAAF_BACKEND where not given) takes WebGPU on a hardware
   * adapter and the CPU's WASM SIMD kernels where there is none or it is a software one; 'webgpu'
   * (Node: Dawn via the `webgpu` package; Deno and browsers: navigator.gpu; or adopt
   * options.device); 'wasm' (options.threads, default the machine's parallelism).
   */
  static async create(options: EngineOptions = {}): Promise<NaafEngine> {
    const backend = await openBackend(options);
    if (options.tileCacheFile !== undefined && backend instanceof WebGpuBackend) {
      try {
        await loadTileCache(backend.ctx, options.tileCacheFile);
      } catch (error) {
        backend.destroy();
        throw error;
      }
    }
    return new NaafEngine(backend, options.tileCacheFile);
  }

  /** Which backend runs the engine's calls. */
  get backend(): BackendKind {
    return this.impl.kind;
  }

  /** One line naming the backend and its device: the adapter (WebGPU), or the threads and SIMD features (WASM). */
  describe(): string {
    return this.impl.describe();
  }

  /** The GPU context (WebGPU engines; tests reach the kernels through it). */
  private get ctx(): GpuContext {
    return this.gpu('ctx');
  }

  /** The GPU context of a WebGPU engine; else an error naming the call and the backend to ask for. */
  private gpu(what: string): GpuContext {
    if (this.impl instanceof WebGpuBackend) return this.impl.ctx;
    const training = /train|Trainer/i.test(what);
    throw new Error(`engine.${what}: ${training ? 'training runs on WebGPU' : 'this is a WebGPU call'}, and this engine runs on backend 'wasm'; create it with NaafEngine.create({ backend: 'webgpu' })`);
  }

  /**
   * Times the score kernels (fused and split) with their tile candidates on a synthetic batch
   * of this shape and uses the fastest from now on for calls of that method, precision and
   * shape (unless a call pins options.kernel or options.tile); with options.tileCacheFile the
   * choice is saved for this adapter.
   */
  async tune(shape: TuneShape, options: TuneOptions = {}): Promise<TuneResult> {
    const ctx = this.gpu('tune');
    ctx.checkUsable('tune');
    return tuneTiles(ctx, (i, c, o, out) => this.similarityInto(i, c, o, out), shape, options, this.tileCacheFile);
  }

  /** The kernels and tiles chosen by tune() (or loaded from options.tileCacheFile), by 'method|precision|R..|rows..|D..'. */
  tunedTiles(): Record<string, KernelChoice> {
    return tunedTiles(this.gpu('tunedTiles'));
  }

  /** The int8 product this device runs: 'subgroup-matrix' (tensor cores), 'dot4', or null. */
  async int8Product(): Promise<Int8Product> {
    return this.gpu('int8Product').int8Product();
  }

  /** The GPUDevice in use (WebGPU only). */
  get device(): GPUDevice {
    return this.gpu('device').device;
  }

  /** The device in use: runtime ('node-dawn', 'navigator', 'adopted' or 'wasm'), adapter, features and Dawn flags. */
  get info(): DeviceDescription {
    return this.impl.info;
  }

  /** True where kernels may use subgroup operations on this runtime (false on WASM). */
  get hasSubgroups(): boolean {
    return this.impl instanceof WebGpuBackend ? this.impl.ctx.hasSubgroups : false;
  }

  /**
   * What similarity() would run for inputs of this shape: kernel, product, tiles and chunks
   * (one plan per call, resolved from the options, the device and the tuned choices).
   */
  async plan(shape: { N: number; R: number; D: number; M: number; L: number }, options: SimilarityOptions): Promise<PlanSummary> {
    const ctx = this.gpu('plan');
    ctx.checkUsable('plan');
    const opts = resolveOptions(options);
    for (const key of ['N', 'R', 'D', 'M', 'L'] as const) {
      if (!Number.isInteger(shape?.[key]) || shape[key] < 1) throw new Error(`plan: shape.${key} must be an integer >= 1, got ${String(shape?.[key])}`);
    }
    const plan = await resolvePlan(ctx, shape, opts, shape.D % 4 === 0);
    return summarizePlan(plan, chunkLimits(ctx, plan, shape, opts));
  }

  /** sims[n * M + m]: the score of image n with caption m, as float32. */
  async similarity(images: ImageInput | NpyReader, captions: CaptionInput, options: SimilarityOptions): Promise<Float32Array> {
    return this.impl.similarity(images, captions, options);
  }

  /**
   * The k best candidates of every query, best first, without ever holding the N x M matrix:
   * 't2i' ranks images for each caption, 'i2t' captions for each image.
   */
  async topK(images: ImageInput | NpyReader, captions: CaptionInput, options: SimilarityOptions & TopKOptions): Promise<TopKResult> {
    return this.impl.topK(images, captions, options);
  }

  /**
   * A resident gallery: `images` uploaded once at `options.precision` ('f32', 'f16' or 'int8'),
   * with what depends on images only (region Grams, int8 scales) computed once, then queried
   * with gallery.topK / similarity / scorePairs (only captions are uploaded per call) and grown
   * with gallery.add. gallery.destroy() (or `using`) frees it.
   */
  async createGallery(images: ImageInput | NpyReader, options: GalleryOptions = {}): Promise<Gallery> {
    return this.impl.createGallery(images, options);
  }

  /**
   * The f32 scores of chosen pairs, pair i being (images[pairs.images[i]], captions[pairs.captions[i]]):
   * for re-ranking a shortlist. Bit for bit the scores the split kernel gives in similarity().
   */
  async scorePairs(images: ImageInput | NpyReader, captions: CaptionInput, pairs: PairList, options: SimilarityOptions): Promise<Float32Array> {
    return this.impl.scorePairs(images, captions, pairs, options);
  }

  /**
   * NAAF's per-word terms of every pair (max_r s, neg, pos_f, pos_r; each [N, M, L]) from the
   * fused kernel, with the scores: for inspecting small batches.
   */
  async naafWordTerms(images: ImageInput, captions: CaptionInput, options: Extract<SimilarityOptions, { method: 'naaf' }>): Promise<NaafWordTerms> {
    return this.impl.naafWordTerms(images, captions, options);
  }

  /** Like similarity(), but writes the N x M result into a caller's GPU buffer, with no readback. */
  async similarityInto(images: ImageInput, captions: CaptionInput, options: SimilarityOptions, output: OutputTarget): Promise<void> {
    await runSimilarity(this.gpu('similarityInto'), images, captions, options, output);
  }

  /**
   * Loads a model from an original `.pth.tar` checkpoint or a `.safetensors` file: a path (Node,
   * Deno), a URL (string with a scheme, or URL; fetched and streamed), a Response, an
   * ArrayBuffer or a typed array. options: onProgress({ loaded, total }), signal (AbortSignal),
   * maxBytes. model.config carries the sizes and the learned threshold (thres_safe).
   */
  async loadModel(source: ByteSource, options: ReadSourceOptions = {}): Promise<NaafModel> {
    this.impl.checkUsable('loadModel');
    const loaded = await loadModelWeights(source, options);
    return new NaafModel(this.impl.modelEncoders(loaded.config, loaded.state), loaded.config, loaded.state, loaded.thresholdState, loaded.info);
  }

  /** A model from parameters under their state-dict names ('img_enc.fc.weight', ...). */
  createModel(state: StateDict, config: Partial<ModelConfig> = {}): NaafModel {
    this.impl.checkUsable('createModel');
    const copy = { ...state };
    const checked = checkStateDict(copy, config, 'createModel');
    return new NaafModel(this.impl.modelEncoders(checked, copy), checked, copy, null, {});
  }

  /**
   * NAAF's training-path similarity of a batch (caption i pairs with image i) with mismatch
   * mining between captions (spec 3.2-3.3): sims [B*B] image-major, and the state after it.
   */
  async naafTrainingSimilarity(images: TrainImageInput, captions: TrainCaptionInput, state: DmmState, options?: NaafTrainOptions): Promise<NaafTrainResult> {
    return naafTrainingSimilarity(this.gpu('naafTrainingSimilarity'), images, captions, state, options);
  }

  /** A trainer that updates `model` in place (its GPU weights). */
  async createTrainer(model: NaafModel, options: TrainerOptions = {}): Promise<Trainer> {
    const ctx = this.gpu('createTrainer');
    ctx.checkUsable('createTrainer');
    if (model.backend !== 'webgpu') throw new Error("engine.createTrainer: the model's weights live on backend 'wasm'; load it with an engine created with { backend: 'webgpu' }");
    return new Trainer(ctx, model, options);
  }

  /** A trainer and its model restored exactly from a training checkpoint (trainer.save / naaf train). */
  async resumeTrainer(path: string): Promise<{ trainer: Trainer; progress: TrainingProgress }> {
    const ctx = this.gpu('resumeTrainer');
    ctx.checkUsable('resumeTrainer');
    return resumeTraining(ctx, path, (config, state) => new GpuEncoders(ctx, config, state));
  }

  stats(): EngineStats {
    return this.impl.stats();
  }

  /**
   * GPU time per kernel (pipeline label) since the last call, largest first, with each one's
   * share: needs NaafEngine.create({ profile: true }) (timestamp queries, one pass per dispatch).
   */
  async kernelTimes(): Promise<KernelTime[]> {
    return this.gpu('kernelTimes').kernelTimes();
  }

  /**
   * Frees the pooled buffers no call is using. Calls keep what they allocated in a pool for the
   * next call (so repeated calls allocate nothing); trim() gives it back to the device.
   */
  trim(): void {
    this.impl.trim();
  }

  /** Starts stats().peakBytesAllocated, peakWorkingBytes and longestSubmitMs over (to measure a call or a phase). */
  resetPeak(): void {
    this.impl.resetPeak();
  }

  /** Frees everything the engine created; an adopted device is left alive. */
  destroy(): void {
    this.impl.destroy();
  }
}
