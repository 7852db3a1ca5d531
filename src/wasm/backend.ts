// The CPU backend: the SIMD kernels of kernels/wasm/ on worker threads over shared WebAssembly
// memory (src/wasm/runtime.ts), behind the backend seam (src/backend/types.ts). The inputs are
// checked as on WebGPU (src/similarity/validate.ts); a GPUBuffer input is refused by name.
import type { Backend, Gallery, GalleryOptions, ImageRows } from '../backend/types.js';
import type { DeviceDescription, EngineStats } from '../gpu/context.js';
import { WorkingMemory } from '../gpu/budget.js';
import { NpyReader } from '../io/npy.js';
import type { ModelEncoders } from '../model/encoders.js';
import type { ModelConfig, StateDict } from '../model/weights.js';
import { methodSpec } from '../methods/index.js';
import { copyBlockInto } from '../similarity/blocks.js';
import { PairList, checkPairs, runsOf } from '../similarity/pairs.js';
import { checkF16Range } from '../similarity/sources.js';
import { PairScorer, TopKAccumulator, TopKOptions, TopKResult, rankTopKWith } from '../similarity/topk.js';
import { ResolvedOptions, checkCaptions, checkFiniteRows, checkImages, checkPrecisionRange, checkSameD, resolveOptions } from '../similarity/validate.js';
import type { NaafWordTerms } from '../similarity/wordTerms.js';
import type { CaptionInput, ImageInput, SimilarityOptions } from '../types.js';
import { CaptionRows, WasmImageFeed, rowsFeed, runWasmBlocks } from './blocks.js';
import { WasmEncoders } from './encoders.js';
import { WasmGallery } from './gallery.js';
import { PairImageFeed, wasmScorePairs } from './pairs.js';
import { WasmOptions, WasmRuntime, wasmFeatures } from './runtime.js';
import type { WasmFormat } from './score.js';

/** The default budget of concurrent CPU calls' WASM memory (NaafEngine.create's maxWorkingBytes). */
const DEFAULT_MAX_WORKING_BYTES = 2 * 1024 * 2 ** 20;

/** A GPUBuffer (WebGPU only) where the CPU backend needs arrays: refused, naming the argument. */
function refuseBuffer(what: string, name: string, input: unknown): void {
  if (input && typeof input === 'object' && 'buffer' in input && !(input instanceof NpyReader) && !('data' in input && (input as { data?: unknown }).data)) {
    throw new Error(`${what}: ${name}.buffer is a GPUBuffer, which backend 'wasm' cannot read; pass ${name}.data (a Float32Array), or create the engine with NaafEngine.create({ backend: 'webgpu' })`);
  }
}

function formatOf(what: string, precision: ResolvedOptions['precision']): WasmFormat {
  if (precision === 'f32' || precision === 'f16' || precision === 'int8') return precision;
  throw new Error(`${what}: options.precision '${precision}' pins a GPU int8 product; on backend 'wasm' use 'int8' (i32x4.dot_i16x8_s)`);
}

export class WasmBackend implements Backend {
  readonly kind = 'wasm' as const;
  private destroyed = false;
  private runs = 0;
  private readonly memory: WorkingMemory;
  /** What galleries and models keep in WASM memory, by owner. */
  private readonly resident = new Map<object, () => number>();

  private constructor(readonly runtime: WasmRuntime, maxWorkingBytes: number) {
    this.memory = new WorkingMemory(maxWorkingBytes);
  }

  static async create(options: WasmOptions & { maxWorkingBytes?: number } = {}): Promise<WasmBackend> {
    const budget = options.maxWorkingBytes;
    if (budget !== undefined && !(Number.isSafeInteger(budget) && budget >= 1)) throw new Error(`NaafEngine.create: options.maxWorkingBytes must be an integer >= 1, got ${budget}`);
    return new WasmBackend(await WasmRuntime.create(options), budget ?? DEFAULT_MAX_WORKING_BYTES);
  }

  get info(): DeviceDescription {
    const features = ['simd128', ...(this.runtime.relaxedSimd ? ['relaxed-simd'] : []), ...(this.runtime.threads > 1 ? ['threads'] : [])];
    return {
      runtime: 'wasm', vendor: '', architecture: 'cpu', device: `WebAssembly, ${this.runtime.threads} thread${this.runtime.threads === 1 ? '' : 's'}`,
      description: this.describe(), features, dawnFlags: [], subgroupMinSize: 0, subgroupMaxSize: 0,
    };
  }

  describe(): string {
    const note = this.runtime.threads === 1 && wasmFeatures().threadsNote ? ` (no threads: ${wasmFeatures().threadsNote})` : '';
    return this.runtime.describe() + note;
  }

  checkUsable(what: string): void {
    if (this.destroyed) throw new Error(`${what}: the engine was destroyed`);
  }

  /** Checks images as every backend does, refusing GPU buffers; returns [N, R, D]. */
  checkRows(images: ImageRows, what: string): [number, number, number] {
    refuseBuffer(what, 'images', images);
    return checkImages(images, what);
  }

  /** Checked caption rows as the kernels read them (GPU buffers refused). */
  captionRows(captions: CaptionInput, what: string): CaptionRows {
    refuseBuffer(what, 'captions', captions);
    const { shape: [M, L, D], lengths } = checkCaptions(captions, what);
    return { M, L, D, data: (captions as { data: Float32Array }).data, lengths };
  }

  /** The rows of an image input as a feed (a .npy file's rows checked as they are read). */
  private imageFeed(images: ImageRows, what: string, format: WasmFormat): WasmImageFeed {
    const [N, R, D] = this.checkRows(images, what);
    return rowsFeed(images as { data: Float32Array } | NpyReader, N, R, D, images instanceof NpyReader ? (rows, start) => {
      checkFiniteRows(`images (${images.path})`, rows, start, R, D, what);
      if (format === 'f16') checkF16Range(`images (${images.path})`, rows, start * R * D, what);
    } : undefined);
  }

  private async withMemory<T>(what: string, opts: ResolvedOptions, work: () => Promise<T>): Promise<T> {
    this.checkUsable(what);
    this.runs++;
    const release = await this.memory.reserve(Math.min(opts.maxGpuBytes, this.memory.budget), what, opts.signal);
    try {
      return await work();
    } finally {
      release();
    }
  }

  /** The N x M scores of a feed against captions (image-major). */
  async dense(what: string, images: WasmImageFeed, captions: CaptionInput, options: SimilarityOptions): Promise<Float32Array> {
    const opts = resolveOptions(options);
    const rows = this.captionRows(captions, what);
    checkSameD(what, rows.D, images.D);
    const format = images.kind === 'resident' ? images.format : formatOf(what, opts.precision);
    if (format === 'f16') checkF16Range('captions', rows.data, 0, what);
    const result = new Float32Array(images.N * rows.M);
    await this.withMemory(what, opts, () => runWasmBlocks(this.runtime, {
      what, opts, images, captions: rows, format,
      onBlock: (block) => copyBlockInto(result, rows.M, block),
    }));
    return result;
  }

  async similarity(images: ImageRows, captions: CaptionInput, options: SimilarityOptions): Promise<Float32Array> {
    const what = 'similarity';
    refuseBuffer(what, 'images', images);
    refuseBuffer(what, 'captions', captions);
    const opts = resolveOptions(options);
    checkPrecisionRange(opts.precision, images, captions);
    const feed = this.imageFeed(images, what, formatOf(what, opts.precision));
    return this.dense(what, feed, captions, options);
  }

  /** topK over a feed: blocks into an accumulator; exact from a low precision through scorePairs. */
  async rankTopK(what: string, images: WasmImageFeed, captions: CaptionInput, options: SimilarityOptions & TopKOptions, scorePairs?: PairScorer): Promise<TopKResult> {
    const rows = this.captionRows(captions, what);
    const { direction, blockSize, onProgress } = options ?? ({} as TopKOptions);
    return rankTopKWith(what, images, captions, options, async (opts, keep) => {
      const format = images.kind === 'resident' ? images.format : formatOf(what, opts.precision);
      if (format === 'f16') checkF16Range('captions', rows.data, 0, what);
      const best = new TopKAccumulator(direction === 't2i' ? rows.M : images.N, keep);
      await this.withMemory(what, opts, () => runWasmBlocks(this.runtime, {
        what, opts, images, captions: rows, format, onProgress,
        ...(direction === 'i2t' ? { maxCaptionBlock: blockSize } : { maxImageBlock: blockSize }),
        onBlock: (block) => best.offerBlock(block, direction),
      }));
      return best;
    }, scorePairs);
  }

  async topK(images: ImageRows, captions: CaptionInput, options: SimilarityOptions & TopKOptions): Promise<TopKResult> {
    const what = 'topK';
    this.checkUsable(what);
    refuseBuffer(what, 'images', images);
    refuseBuffer(what, 'captions', captions);
    const precision = (options as { precision?: ResolvedOptions['precision'] })?.precision ?? 'f32';
    checkPrecisionRange(precision, images, captions);
    const feed = this.imageFeed(images, what, formatOf(what, precision));
    return this.rankTopK(what, feed, captions, options, (pairs, o) => this.scorePairs(images, captions, pairs, o));
  }

  async pairs(what: string, opts: ResolvedOptions, images: PairImageFeed, captions: CaptionRows, pairs: PairList): Promise<Float32Array> {
    checkSameD(what, captions.D, images.D);
    formatOf(what, opts.precision);
    return this.withMemory(what, opts, () => wasmScorePairs(this.runtime, what, opts, images, captions,
      Int32Array.from(pairs.images as ArrayLike<number>), Int32Array.from(pairs.captions as ArrayLike<number>)));
  }

  async scorePairs(images: ImageRows, captions: CaptionInput, pairs: PairList, options: SimilarityOptions): Promise<Float32Array> {
    const what = 'scorePairs';
    this.checkUsable(what);
    const [N, R, D] = this.checkRows(images, what);
    const rows = this.captionRows(captions, what);
    const opts = resolveOptions(options);
    if (opts.precision !== 'f32') throw new Error(`${what}: pairs are scored in f32 (exact re-ranking), got options.precision '${opts.precision}'`);
    checkPairs(what, pairs, N, rows.M);
    const gather = async (ids: number[]) => {
      const out = new Float32Array(ids.length * R * D);
      for (const [first, count, at] of runsOf(ids)) {
        let block: Float32Array;
        if (images instanceof NpyReader) {
          block = await images.readRows(first, count);
          checkFiniteRows(`images (${images.path})`, block, first, R, D, what);
        } else {
          block = (images as { data: Float32Array }).data.subarray(first * R * D, (first + count) * R * D);
        }
        out.set(block, at * R * D);
      }
      return out;
    };
    return this.pairs(what, opts, { kind: 'rows', N, R, D, gather }, rows, pairs);
  }

  async naafWordTerms(images: ImageInput, captions: CaptionInput, options: Extract<SimilarityOptions, { method: 'naaf' }>): Promise<NaafWordTerms> {
    const what = 'naafWordTerms';
    this.checkUsable(what);
    const opts = resolveOptions(options);
    if (!methodSpec(opts.method).wordTerms) throw new Error(`${what}: options.method must be 'naaf', got ${JSON.stringify(options.method)}`);
    const format = formatOf(what, opts.precision);
    const feed = this.imageFeed(images, what, format);
    const rows = this.captionRows(captions, what);
    checkSameD(what, rows.D, feed.D);
    const { N } = feed;
    const { M, L } = rows;
    let packed: Float32Array | undefined;
    let sims: Float32Array | undefined;
    await this.withMemory(what, opts, () => runWasmBlocks(this.runtime, {
      what, opts, images: feed, captions: rows, format, wordTerms: true,
      onBlock: (block) => { packed = block.wordTerms; sims = block.scores; },
    }));
    const split = (k: number) => Float32Array.from({ length: N * M * L }, (_, i) => packed![4 * i + k]);
    return { sMax: split(0), neg: split(1), posF: split(2), posR: split(3), sims: sims! };
  }

  async createGallery(images: ImageRows, options: GalleryOptions): Promise<Gallery> {
    const gallery = await WasmGallery.create(this, images, options);
    this.resident.set(gallery, () => gallery.bytes);
    return gallery;
  }

  /** A gallery or model gives its memory back. */
  forget(owner: object): void {
    this.resident.delete(owner);
  }

  /** The weights are packed into WASM memory in the background; the first encode waits for it (and reports a failure). */
  modelEncoders(config: ModelConfig, state: StateDict): ModelEncoders {
    this.checkUsable('loadModel');
    const ready = WasmEncoders.create(this.runtime, config, state);
    ready.catch(() => {}); // reported by the first call that needs it
    const owner = {};
    void ready.then((encoders) => this.resident.set(owner, () => encoders.bytes), () => {});
    const { embedSize: E } = config;
    const images = async (rows: Float32Array, N: number, R: number) => (await ready).encodeImages(rows, N * R);
    const captions = async (ids: Uint32Array, M: number, L: number, lengths: Int32Array) => (await ready).encodeCaptions(ids, M, L, lengths);
    return {
      backend: 'wasm',
      encodeImages: async (rows, N, R) => ({ data: await images(rows, N, R), shape: [N, R, E] }),
      encodeCaptions: async (ids, M, L, lengths) => ({ data: await captions(ids, M, L, lengths), shape: [M, L, E] }),
      imagesForScoring: async (rows, N, R) => ({ input: { data: await images(rows, N, R), shape: [N, R, E] }, ready: async () => {}, release: () => {} }),
      captionsForScoring: async (ids, M, L, lengths) => ({
        input: { data: await captions(ids, M, L, lengths), shape: [M, L, E], lengths }, ready: async () => {}, release: () => {},
      }),
      destroy: () => void ready.then((encoders) => { encoders.destroy(); this.resident.delete(owner); }, () => {}),
    };
  }

  stats(): EngineStats {
    const heaps = this.runtime.allHeaps().map((h) => h.stats());
    const allocated = heaps.reduce((sum, h) => sum + h.allocated, 0);
    return {
      pipelinesCompiled: 0, dispatches: this.runs, submits: 0, readbacks: 0,
      bytesAllocated: allocated, bytesPooled: 0, buffersAllocated: 0, buffersInUse: 0,
      peakBytesAllocated: heaps.reduce((sum, h) => sum + h.peakAllocated, 0),
      bytesResident: [...this.resident.values()].reduce((sum, bytes) => sum + bytes(), 0), longestSubmitMs: 0,
      workingBytes: this.memory.reserved, peakWorkingBytes: this.memory.peakReserved,
    };
  }

  trim(): void {}

  resetPeak(): void {
    for (const heap of this.runtime.allHeaps()) heap.resetPeak();
    this.memory.resetPeak();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.runtime.destroy();
  }
}
