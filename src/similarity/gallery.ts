// A resident gallery: images uploaded once in the format they are scored in (f32 embeddings, or
// packed f16 / int8 rows with their scales; no f32 copy at low precision) with their region
// Grams, kept across as many buffers ("shards") as the device's buffer and binding limits
// require, and queried again and again: only the captions of a call are uploaded and prepared
// (once per call), and the images are scored where they lie. Images can be added later; the
// last shard grows by doubling until it holds what one binding allows, then a new one starts.
// For exact rankings from a low precision and for scorePairs on one, the f32 rows the gallery
// was made from are kept by reference (Float32Array or NpyReader, not copied) when they came
// from the CPU.
import type { GpuContext } from '../gpu/context.js';
import { CommandStream, checkSignal } from '../gpu/submit.js';
import { NpyReader } from '../io/npy.js';
import { packedLayout } from '../ops/quantize.js';
import type { CaptionInput, ImageInput, Precision, SimilarityOptions } from '../types.js';
import { copyBlockInto, runBlocks } from './blocks.js';
import { IMAGE_PAD_ROWS, ImageChunk, OperandFormat, prepareImages, residentImageBytes, subChunk, window } from './operands.js';
import { PairImages, PairList, checkCopySource, gatheredImages, gatheredPassImages, runsOf, scorePairsOf } from './pairs.js';
import { encodeGather, gatherPipeline } from '../ops/gather.js';
import type { Gallery, GalleryAddOptions, GalleryOptions } from './galleryTypes.js';
import { checkGalleryCaptionsD, checkGalleryOptions, galleryPairOptions, galleryQueryOptions } from './galleryOptions.js';
import { ReadWriteLock } from './rwLock.js';

/** Consecutive ids from this many on are gathered by buffer copies, shorter runs by the gather kernel. */
const COPY_RUN = 8;
import { maxImagesPerChunk, resolvePlan } from './plan.js';
import { vec4Aligned } from './run.js';
import { checkF16Range } from './sources.js';
import { TopKOptions, TopKResult, rankTopK } from './topk.js';
import { checkCaptions, checkFiniteRows, checkImages, resolveOptions } from './validate.js';

export type { GalleryAddOptions, GalleryOptions } from './galleryTypes.js';

/** Per-call options of gallery queries: a method's options, without the images' precision (the gallery's). */
export type GalleryQueryOptions = SimilarityOptions;

interface Shard {
  n0: number;
  count: number;
  capacity: number;
  data: GPUBuffer;
  gram: GPUBuffer;
  /** Packed rows in `data` (capacity * R + IMAGE_PAD_ROWS) and where their scales start. */
  rows: number;
  scaleBase: number;
}

/** Where f32 rows of the gallery came from (CPU only), for exact re-scoring. */
interface RowSource { n0: number; count: number; rows: Float32Array | NpyReader }

/** CPU rows are uploaded in pieces of at most this many bytes. */
const UPLOAD_PIECE_BYTES = 64 * 2 ** 20;

export class GpuGallery implements Gallery {
  private shards: Shard[] = [];
  private sources: RowSource[] | null = [];
  private destroyed = false;
  private count = 0;
  /** Queries run side by side; an add waits for them and they wait for it (it may move shards). */
  private readonly lock = new ReadWriteLock();

  private constructor(private readonly ctx: GpuContext, readonly R: number, readonly D: number, readonly precision: OperandFormat,
    private readonly maxGpuBytes: number, private readonly shardLimit: number, private readonly expectedImages = 0) {}

  static async create(ctx: GpuContext, images: ImageInput | NpyReader, options: GalleryOptions = {}): Promise<GpuGallery> {
    const what = 'createGallery';
    ctx.checkUsable(what);
    const { precision, maxGpuBytes, shardLimit, expected } = checkGalleryOptions(options, what);
    const [, R, D] = checkImages(images, what);
    if (maxImagesPerChunk(ctx, R, D, precision) < 1) {
      throw new Error(`${what}: one image [R=${R}, D=${D}] at ${precision} needs ${residentImageBytes(R, D, precision)} bytes, more than one binding of this device (maxStorageBufferBindingSize ${ctx.limits.maxStorageBufferBindingSize})`);
    }
    if (precision === 'int8' && !(await ctx.int8Product())) throw new Error(`${what}: precision 'int8' needs dot4I8Packed, which this runtime does not compile`);
    const gallery = new GpuGallery(ctx, R, D, precision, maxGpuBytes, shardLimit, expected);
    await gallery.add(images, { signal: options.signal, onProgress: options.onProgress });
    return gallery;
  }

  /** Images in the gallery. */
  get size(): number {
    return this.count;
  }

  /** Bytes the gallery keeps on the GPU (its shards' data and Grams). */
  get bytes(): number {
    return this.shards.reduce((total, shard) => total + shard.data.size + shard.gram.size, 0);
  }

  /** Bytes one image takes in this gallery's format (data, scales and Gram). */
  get bytesPerImage(): number {
    return residentImageBytes(this.R, this.D, this.precision);
  }

  private check(what: string): void {
    if (this.destroyed) throw new Error(`gallery.${what}: the gallery was destroyed`);
    this.ctx.checkUsable(`gallery.${what}`);
  }

  /** Appends images (same R and D); they get the next indices. All or nothing: a failed or cancelled add leaves the gallery as it was. */
  async add(images: ImageInput | NpyReader, options: GalleryAddOptions = {}): Promise<void> {
    return this.lock.write(() => this.addNow(images, options));
  }

  private async addNow(images: ImageInput | NpyReader, options: GalleryAddOptions): Promise<void> {
    const what = 'add';
    this.check(what);
    const signal = checkSignal(`gallery.${what}`, options.signal);
    const [N, R, D] = checkImages(images, `gallery.${what}`);
    if (R !== this.R || D !== this.D) throw new Error(`gallery.${what}: images.shape [N, R, D] = [${N}, ${R}, ${D}] must match the gallery's R = ${this.R}, D = ${this.D}`);
    if (this.precision === 'f16' && !(images instanceof NpyReader) && 'data' in images && images.data) checkF16Range('images', images.data, 0, `gallery.${what}`);
    if (this.precision === 'f32') checkCopySource(`gallery.${what}`, 'images', images); // f32 rows are copied into the shards
    const added = N * this.bytesPerImage;
    if (this.bytes + added > this.maxGpuBytes) {
      throw new Error(`gallery.${what}: ${N} more images need ${added} bytes (${this.bytesPerImage} each at ${this.precision}); with the ${this.bytes} held the gallery would pass options.maxGpuBytes = ${this.maxGpuBytes}`);
    }
    const before = { shards: this.shards.map((s) => ({ ...s })), count: this.count, sources: this.sources && [...this.sources] };
    const created: GPUBuffer[] = [];
    const replaced: GPUBuffer[] = [];
    const stream = new CommandStream(this.ctx, `gallery.${what}`, signal);
    try {
      await this.ctx.scoped(`gallery.${what}`, async () => {
        const pieceImages = Math.max(1, Math.floor(UPLOAD_PIECE_BYTES / (R * D * 4)));
        for (let i = 0; i < N;) {
          const shard = this.shardWithRoom(stream, created, replaced, N - i);
          const n = Math.min(pieceImages, N - i, shard.capacity - shard.count);
          await this.fill(stream, shard, images, i, n);
          shard.count += n;
          this.count += n;
          i += n;
          stream.check();
          options.onProgress?.(i, N);
        }
        stream.check(); // a cancellation up to the end undoes the whole add
        await stream.finish();
      });
      if (this.sources) {
        if (images instanceof NpyReader) this.sources.push({ n0: before.count, count: N, rows: images });
        else if ('data' in images && images.data) this.sources.push({ n0: before.count, count: N, rows: images.data });
        else this.sources = null; // GPU rows may change: no exact re-scoring at low precision
      }
      for (const buffer of replaced) this.ctx.pool.freeResident(buffer);
    } catch (error) {
      await stream.abandon();
      // All or nothing: back to the shards (and their counts) from before the call.
      await this.ctx.device.queue.onSubmittedWorkDone().catch(() => {});
      const kept = new Set(before.shards.flatMap((s) => [s.data, s.gram]));
      for (const buffer of created) if (!kept.has(buffer)) this.ctx.pool.freeResident(buffer);
      this.shards = before.shards;
      this.count = before.count;
      this.sources = before.sources;
      throw error;
    }
  }

  /** The most images one shard holds: one binding of data, of Grams, of scores rows (a caption's). */
  private maxShardImages(): number {
    return Math.min(this.shardLimit, maxImagesPerChunk(this.ctx, this.R, this.D, this.precision));
  }

  private dataBytes(capacity: number): { bytes: number; rows: number; scaleBase: number } {
    const { R, D } = this;
    if (this.precision === 'f32') return { bytes: capacity * R * D * 4, rows: 0, scaleBase: 0 };
    const rows = capacity * R + IMAGE_PAD_ROWS;
    const layout = packedLayout(this.precision, D, rows);
    return { bytes: layout.bytes, rows, scaleBase: layout.scaleBase };
  }

  /** Bytes of a shard of `capacity` images (data with its padding and scales, and Grams). */
  private shardBytes(capacity: number): number {
    return Math.ceil(this.dataBytes(capacity).bytes / 16) * 16 + Math.ceil((capacity * this.R * this.R * 4) / 16) * 16;
  }

  /** The most images a new buffer pair may hold so that everything allocated stays within maxGpuBytes. */
  private affordable(wanted: number): number {
    if (this.maxGpuBytes === Infinity) return wanted;
    const free = this.maxGpuBytes - this.bytes;
    let capacity = wanted;
    while (capacity > 0 && this.shardBytes(capacity) > free) capacity = Math.floor(capacity * 0.9);
    return capacity;
  }

  private allocate(capacity: number, created: GPUBuffer[]): Omit<Shard, 'n0' | 'count'> {
    const pool = this.ctx.pool;
    const shape = this.dataBytes(capacity);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const data = pool.allocateResident(shape.bytes, usage, `gallery ${this.precision} images`);
    created.push(data);
    const gram = pool.allocateResident(capacity * this.R * this.R * 4, usage, 'gallery region grams');
    created.push(gram);
    return { capacity, data, gram, rows: shape.rows, scaleBase: shape.scaleBase };
  }

  /** The last shard if it has room (grown by doubling up to the most a shard holds), else a new one sized for `needed` more images. */
  private shardWithRoom(stream: CommandStream, created: GPUBuffer[], replaced: GPUBuffer[], needed: number): Shard {
    const max = this.maxShardImages();
    const last = this.shards[this.shards.length - 1];
    if (last && last.count < last.capacity) return last;
    // Grown while the old buffers still exist (the copy): both must fit maxGpuBytes, else a new shard.
    const grownCapacity = last ? Math.min(max, Math.max(2 * last.capacity, last.count + needed)) : 0;
    if (last && last.capacity < max && this.affordable(grownCapacity) === grownCapacity) {
      const grown = this.allocate(grownCapacity, created);
      const encoder = stream.commandEncoder();
      const { R, D } = this;
      if (this.precision === 'f32') {
        encoder.copyBufferToBuffer(last.data, 0, grown.data, 0, last.count * R * D * 4);
      } else {
        const rowBytes = packedLayout(this.precision, D, 1).rowWords * 4;
        encoder.copyBufferToBuffer(last.data, 0, grown.data, 0, last.count * R * rowBytes);
        if (this.precision === 'int8') encoder.copyBufferToBuffer(last.data, last.scaleBase * 4, grown.data, grown.scaleBase * 4, Math.ceil(last.count * R / 4) * 16);
      }
      encoder.copyBufferToBuffer(last.gram, 0, grown.gram, 0, last.count * R * R * 4);
      replaced.push(last.data, last.gram);
      const shard = { ...last, ...grown };
      this.shards[this.shards.length - 1] = shard;
      return shard;
    }
    const capacity = this.affordable(Math.max(1, Math.min(max, Math.max(64, needed, this.expectedImages - this.count))));
    if (capacity < 1) throw new Error(`gallery.add: the next image would take the gallery past options.maxGpuBytes = ${this.maxGpuBytes} (it holds ${this.bytes} bytes)`);
    const shard: Shard = { n0: this.count, count: 0, ...this.allocate(capacity, created) };
    this.shards.push(shard);
    return shard;
  }

  /** Writes images [i, i + n) of `images` after the shard's last image, with their Grams. */
  private async fill(stream: CommandStream, shard: Shard, images: ImageInput | NpyReader, i: number, n: number): Promise<void> {
    const { ctx, R, D } = this;
    const uploads: GPUBuffer[] = [];
    const rowFloats = R * D;
    const f32 = this.precision === 'f32';
    let source: { binding: GPUBuffer | { buffer: GPUBuffer; offset: number; size: number }; base: number };
    if (images instanceof NpyReader || ('data' in images && images.data)) {
      let rows: Float32Array;
      if (images instanceof NpyReader) {
        rows = await images.readRows(i, n);
        checkFiniteRows(`images (${images.path})`, rows, i, R, D, 'gallery.add');
        if (this.precision === 'f16') checkF16Range(`images (${images.path})`, rows, i * rowFloats, 'gallery.add');
      } else {
        rows = images.data.subarray(i * rowFloats, (i + n) * rowFloats);
      }
      if (f32) {
        await ctx.writeInSlices(shard.data, shard.count * rowFloats * 4, rows);
        source = window(ctx, shard.data, 0, shard.count * rowFloats, n * rowFloats);
      } else {
        const upload = ctx.pool.acquire(rows.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'gallery upload', true);
        await ctx.writeInSlices(upload, 0, rows);
        source = { binding: { buffer: upload, offset: 0, size: rows.byteLength }, base: 0 };
        uploads.push(upload);
      }
    } else {
      const gpu = images as { buffer: GPUBuffer; offset?: number };
      const offset = (gpu.offset ?? 0) + i * rowFloats * 4;
      if (f32) {
        stream.commandEncoder().copyBufferToBuffer(gpu.buffer, offset, shard.data, shard.count * rowFloats * 4, n * rowFloats * 4);
        source = window(ctx, shard.data, 0, shard.count * rowFloats, n * rowFloats);
      } else {
        source = window(ctx, gpu.buffer, offset, 0, n * rowFloats);
      }
    }
    try {
      await prepareImages(ctx, stream, {
        source, count: n, R, D, format: this.precision,
        packed: f32 ? undefined : { binding: { buffer: shard.data, offset: 0, size: shard.data.size }, firstRow: shard.count * R, layout: { rowWords: packedLayout(this.precision as 'f16' | 'int8', D, 1).rowWords, scaleBase: shard.scaleBase }, rows: shard.rows },
        gram: { buffer: shard.gram, offset: 0, size: shard.gram.size }, gramBase: shard.count, n0: shard.n0 + shard.count,
      });
    } finally {
      stream.retire(uploads); // released once this piece is submitted (or with the stream, if it failed)
    }
  }

  /** The gallery's images [start, start + count) as chunks of its shards (n0: gallery indices). */
  private chunks(start: number, count: number): ImageChunk[] {
    const out: ImageChunk[] = [];
    for (const shard of this.shards) {
      const first = Math.max(start, shard.n0);
      const end = Math.min(start + count, shard.n0 + shard.count);
      if (end <= first) continue;
      out.push(subChunk(this.shardChunk(shard), first - shard.n0, end - first, this.R, this.D));
    }
    return out;
  }

  private shardChunk(shard: Shard): ImageChunk {
    return {
      n0: shard.n0, count: shard.count, format: this.precision, data: { buffer: shard.data, offset: 0, size: shard.data.size }, base: 0,
      scaleBase: shard.scaleBase, rows: shard.rows, gram: { buffer: shard.gram, offset: 0, size: shard.gram.size }, gramBase: 0,
    };
  }

  private source() {
    return { kind: 'resident' as const, N: this.count, R: this.R, D: this.D, format: this.precision, chunks: (start: number, count: number) => this.chunks(start, count) };
  }

  /** A query's options with the gallery's precision (a call may only pin an int8 product). */
  private queryOptions<T extends { precision?: Precision }>(what: string, options: T): T {
    const allowed: Precision[] = this.precision === 'int8' ? ['int8', 'int8-dot4', 'int8-subgroup-matrix'] : [this.precision];
    return galleryQueryOptions(what, options, this.precision, allowed);
  }

  /** The k best images (t2i) or captions (i2t) of every query, as engine.topK gives them, without re-uploading the images. */
  async topK(captions: CaptionInput, options: SimilarityOptions & TopKOptions): Promise<TopKResult> {
    return this.lock.read(() => this.topKNow(captions, options));
  }

  private async topKNow(captions: CaptionInput, options: SimilarityOptions & TopKOptions): Promise<TopKResult> {
    this.check('topK');
    checkGalleryCaptionsD('topK', captions, this.D);
    const merged = this.queryOptions('topK', options);
    return rankTopK(this.ctx, 'gallery.topK', { source: this.source(), offset: 0 }, captions, merged,
      (pairs, o) => this.scorePairsNow('topK', captions, pairs, o));
  }

  /** sims[n * M + m]: image n of the gallery with caption m. */
  async similarity(captions: CaptionInput, options: SimilarityOptions): Promise<Float32Array> {
    return this.lock.read(() => this.similarityNow(captions, options));
  }

  private async similarityNow(captions: CaptionInput, options: SimilarityOptions): Promise<Float32Array> {
    const what = 'similarity';
    this.check(what);
    checkGalleryCaptionsD(what, captions, this.D);
    const opts = resolveOptions(this.queryOptions(what, options));
    const { shape: [M, L, D], lengths } = checkCaptions(captions);
    const plan = await resolvePlan(this.ctx, { R: this.R, D, L }, opts, vec4Aligned(0, 'data' in captions && captions.data ? 0 : (captions as { offset?: number }).offset ?? 0, D));
    const N = this.count;
    const result = new Float32Array(N * M);
    await this.ctx.scoped(`gallery.${what}`, () => runBlocks(this.ctx, {
      what: `gallery.${what}`, plan, opts, maxGpuBytes: opts.maxGpuBytes, signal: opts.signal, outer: 'captions',
      images: this.source(),
      captions: 'data' in captions && captions.data
        ? { kind: 'cpu', M, L, D, data: captions.data, lengths }
        : { kind: 'gpu', M, L, D, buffer: (captions as { buffer: GPUBuffer }).buffer, offset: (captions as { offset?: number }).offset ?? 0, lengths },
      onBlock: (block) => copyBlockInto(result, M, block),
    }));
    return result;
  }

  /**
   * f32 scores of chosen (image, caption) pairs, bit for bit those of engine.scorePairs on the
   * f32 rows: from the shards of an f32 gallery, else from the f32 rows it was made from.
   */
  async scorePairs(captions: CaptionInput, pairs: PairList, options: SimilarityOptions): Promise<Float32Array> {
    return this.lock.read(async () => {
      this.check('scorePairs');
      checkGalleryCaptionsD('scorePairs', captions, this.D);
      return this.scorePairsNow('scorePairs', captions, pairs, options);
    });
  }

  private scorePairsNow(what: string, captions: CaptionInput, pairs: PairList, options: SimilarityOptions): Promise<Float32Array> {
    return scorePairsOf(this.ctx, `gallery.${what}`, this.pairImages(what), captions, pairs, galleryPairOptions(what, options));
  }

  /** Where pair scoring finds f32 rows: the shards (f32), or the CPU rows the gallery came from. */
  private pairImages(what: string): PairImages {
    const { R, D } = this;
    if (this.precision === 'f32') {
      const shardOf = (n: number) => this.shards.findIndex((s) => n >= s.n0 && n < s.n0 + s.count);
      // A pass's images are copied side by side on the GPU (rows and Grams), from any shards: a
      // shortlist's scattered ids then sit next to each other, so one caption's images share
      // GEMM tiles (pairs.ts) instead of each filling a BM-row tile with its R rows.
      const rowBytes = R * D * 4;
      const gramBytes = R * R * 4;
      return {
        N: this.count, R, D, offset: 0, passKey: () => 0,
        maxPerPass: gatheredPassImages(this.ctx, R, D),
        gather: async (stream, ids, holder) => {
          const data = this.ctx.pool.acquire(Math.max(16, ids.length * rowBytes), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'pair images', true);
          const gram = this.ctx.pool.acquire(Math.max(16, ids.length * gramBytes), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'pair region gram', true);
          holder.push(data, gram);
          // Scattered ids (a shortlist): one gather dispatch per shard (kernels/gather_items.wgsl)
          // instead of two buffer copies per image; long runs of consecutive ids stay copies.
          const runs = runsOf(ids, (n) => shardOf(n));
          const scattered = new Map<number, number[]>(); // shard -> [source image, destination] entries
          const encoder = stream.commandEncoder();
          for (const [first, count, at] of runs) {
            const s = shardOf(first);
            const shard = this.shards[s];
            if (count >= COPY_RUN) {
              encoder.copyBufferToBuffer(shard.data, (first - shard.n0) * rowBytes, data, at * rowBytes, count * rowBytes);
              encoder.copyBufferToBuffer(shard.gram, (first - shard.n0) * gramBytes, gram, at * gramBytes, count * gramBytes);
            } else {
              const entries = scattered.get(s) ?? [];
              for (let i = 0; i < count; i++) entries.push(first - shard.n0 + i, at + i);
              scattered.set(s, entries);
            }
          }
          if (scattered.size > 0) {
            const pipeline = await gatherPipeline(this.ctx);
            for (const [s, entries] of scattered) {
              const shard = this.shards[s];
              const items = this.ctx.upload(Uint32Array.from(entries), 'gather entries');
              holder.push(items);
              encodeGather(this.ctx, stream.pass, pipeline, { src: shard.data, dst: data, items, count: entries.length / 2, words: R * D }, stream.transient);
              encodeGather(this.ctx, stream.pass, pipeline, { src: shard.gram, dst: gram, items, count: entries.length / 2, words: R * R }, stream.transient);
            }
          }
          const chunk: ImageChunk = {
            n0: 0, count: ids.length, format: 'f32', data: { buffer: data, offset: 0, size: Math.max(16, ids.length * rowBytes) }, base: 0,
            scaleBase: 0, rows: ids.length * R, gram: { buffer: gram, offset: 0, size: Math.max(16, ids.length * gramBytes) }, gramBase: 0,
          };
          const index = new Map(ids.map((id, i) => [id, i]));
          return { chunk, local: (n: number) => index.get(n)! };
        },
      };
    }
    if (!this.sources) {
      throw new Error(`gallery.${what}: f32 scores of a ${this.precision} gallery need the f32 rows it was made from, and some came from a GPU buffer (not kept); make the gallery from CPU rows (a Float32Array or an NpyReader), or use precision 'f32'`);
    }
    const sources = this.sources;
    const find = (n: number) => sources.find((s) => n >= s.n0 && n < s.n0 + s.count)!;
    // One source per pass: gathered from its rows as engine.scorePairs would.
    const perSource = sources.map((s) => gatheredImages(this.ctx, s.rows instanceof NpyReader ? s.rows : { data: s.rows, shape: [s.count, R, D] }, s.count, R, D));
    return {
      N: this.count, R, D, offset: 0, passKey: (n) => sources.indexOf(find(n)), maxPerPass: perSource[0]?.maxPerPass ?? 1,
      gather: async (stream, ids, holder) => {
        const s = find(ids[0]);
        const { chunk, local } = await perSource[sources.indexOf(s)].gather(stream, ids.map((n) => n - s.n0), holder);
        return { chunk, local: (n: number) => local(n - s.n0) };
      },
    };
  }

  /** Frees the gallery's buffers; later calls on it throw. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true; // later calls throw at once
    const free = () => {
      for (const shard of this.shards) {
        this.ctx.pool.freeResident(shard.data);
        this.ctx.pool.freeResident(shard.gram);
      }
      this.shards = [];
      this.sources = null;
    };
    // Calls already running finish first; else now.
    if (this.lock.idle) free();
    else void this.lock.write(async () => free());
  }

  [Symbol.dispose](): void {
    this.destroy();
  }
}
