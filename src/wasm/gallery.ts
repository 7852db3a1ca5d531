// A resident gallery on the CPU backend: images stored once in WASM memory in the format they
// are scored in (f32 rows, f16 bits, or int8 rows with their scales) with their region Grams, in
// shards: a shard is one allocation of some capacity in one memory; when a memory cannot hold the
// next shard, a new memory takes it (a wasm32 memory holds at most 4 GiB). Queries make only the
// captions ready, in each memory the gallery spans, and score the images where they lie. For
// exact rankings from a low precision (and scorePairs on one) the f32 rows the gallery was made
// from are kept by reference (Float32Array or NpyReader).
import type { Gallery, GalleryAddOptions, GalleryOptions, ImageRows } from '../backend/types.js';
import { checkSignal, throwIfAborted } from '../gpu/submit.js';
import { NpyReader } from '../io/npy.js';
import { PairList, checkPairs, runsOf } from '../similarity/pairs.js';
import { checkGalleryCaptionsD, checkGalleryOptions, galleryPairOptions, galleryQueryOptions } from '../similarity/galleryOptions.js';
import { ReadWriteLock } from '../similarity/rwLock.js';
import { checkF16Range } from '../similarity/sources.js';
import type { TopKOptions, TopKResult } from '../similarity/topk.js';
import { checkFiniteRows, resolveOptions } from '../similarity/validate.js';
import type { CaptionInput, Precision, SimilarityOptions } from '../types.js';
import type { CaptionRows, ResidentPart, WasmImageFeed } from './blocks.js';
import { WasmMemoryError } from './heap.js';
import type { PairImageFeed } from './pairs.js';
import type { WasmRuntime } from './runtime.js';
import type { PairScorer } from '../similarity/topk.js';
import type { ResolvedOptions } from '../similarity/validate.js';
import { WasmImages, allocImages, imageBytes, int8RowLength, writeImages } from './score.js';
import { HeapScope } from './structs.js';

/** What a gallery asks of its backend (src/wasm/backend.ts): checks, the runtime, and the calls it runs over its images. */
export interface WasmGalleryHost {
  readonly runtime: WasmRuntime;
  checkUsable(what: string): void;
  checkRows(images: ImageRows, what: string): [number, number, number];
  captionRows(captions: CaptionInput, what: string): CaptionRows;
  dense(what: string, images: WasmImageFeed, captions: CaptionInput, options: SimilarityOptions): Promise<Float32Array>;
  rankTopK(what: string, images: WasmImageFeed, captions: CaptionInput, options: SimilarityOptions & TopKOptions, scorePairs?: PairScorer): Promise<TopKResult>;
  pairs(what: string, opts: ResolvedOptions, images: PairImageFeed, captions: CaptionRows, pairs: PairList): Promise<Float32Array>;
  /** The gallery gave its memory back. */
  forget(owner: object): void;
}

interface Shard {
  n0: number;
  capacity: number;
  scope: HeapScope;
  images: WasmImages; // images.count: those written
}

/** Where f32 rows of the gallery came from, for exact re-scoring. */
interface RowSource { n0: number; count: number; rows: Float32Array | NpyReader }

/** CPU rows are made ready in pieces of at most this many bytes. */
const PIECE_BYTES = 64 * 2 ** 20;

export class WasmGallery implements Gallery {
  private shards: Shard[] = [];
  private sources: RowSource[] = [];
  private count = 0;
  private destroyed = false;
  private readonly lock = new ReadWriteLock();

  private constructor(private readonly backend: WasmGalleryHost, readonly R: number, readonly D: number, readonly precision: 'f32' | 'f16' | 'int8',
    private readonly maxBytes: number, private readonly shardLimit: number, private readonly expectedImages: number) {}

  static async create(backend: WasmGalleryHost, images: ImageRows, options: GalleryOptions = {}): Promise<WasmGallery> {
    const what = 'createGallery';
    backend.checkUsable(what);
    const { precision, maxGpuBytes, shardLimit, expected } = checkGalleryOptions(options, what);
    const [, R, D] = backend.checkRows(images, what);
    const gallery = new WasmGallery(backend, R, D, precision, maxGpuBytes, shardLimit, expected);
    await gallery.add(images, { signal: options.signal, onProgress: options.onProgress });
    return gallery;
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.shards.reduce((total, shard) => total + shard.capacity * this.bytesPerImage, 0);
  }

  get bytesPerImage(): number {
    return imageBytes(this.R, this.D, this.precision);
  }

  private check(what: string): void {
    if (this.destroyed) throw new Error(`gallery.${what}: the gallery was destroyed`);
    this.backend.checkUsable(`gallery.${what}`);
  }

  async add(images: ImageRows, options: GalleryAddOptions = {}): Promise<void> {
    return this.lock.write(() => this.addNow(images, options));
  }

  private async addNow(images: ImageRows, options: GalleryAddOptions): Promise<void> {
    const what = 'gallery.add';
    this.check('add');
    const signal = checkSignal(what, options.signal);
    const [N, R, D] = this.backend.checkRows(images, what);
    if (R !== this.R || D !== this.D) throw new Error(`${what}: images.shape [N, R, D] = [${N}, ${R}, ${D}] must match the gallery's R = ${this.R}, D = ${this.D}`);
    const data = images instanceof NpyReader ? null : (images as { data: Float32Array }).data;
    if (this.precision === 'f16' && data) checkF16Range('images', data, 0, what);
    // What the last shard has room for is already held; the rest needs new shards.
    const last = this.shards[this.shards.length - 1];
    const room = last ? last.capacity - last.images.count : 0;
    const added = Math.max(0, N - room) * this.bytesPerImage;
    if (this.bytes + added > this.maxBytes) {
      throw new Error(`${what}: ${N} more images need ${added} more bytes (${this.bytesPerImage} each at ${this.precision}, ${room} fit in what it holds); with the ${this.bytes} held the gallery would pass options.maxGpuBytes = ${this.maxBytes}`);
    }
    const before = { shards: this.shards.map((s) => ({ shard: s, count: s.images.count })), count: this.count };
    const created: Shard[] = [];
    try {
      const piece = Math.max(1, Math.floor(PIECE_BYTES / (R * D * 4)));
      for (let i = 0; i < N;) {
        throwIfAborted(what, signal);
        const shard = this.shardWithRoom(N - i, created, what);
        const n = Math.min(piece, N - i, shard.capacity - shard.images.count);
        let rows: Float32Array;
        if (images instanceof NpyReader) {
          rows = await images.readRows(i, n);
          checkFiniteRows(`images (${images.path})`, rows, i, R, D, what);
          if (this.precision === 'f16') checkF16Range(`images (${images.path})`, rows, i * R * D, what);
        } else {
          rows = data!.subarray(i * R * D, (i + n) * R * D);
        }
        const temp = new HeapScope(shard.scope.heap);
        try {
          await writeImages(this.backend.runtime, temp, rows, n, R, D, this.precision, shard.images, shard.images.count);
        } finally {
          temp.free();
        }
        shard.images.count += n;
        this.count += n;
        i += n;
        options.onProgress?.(i, N);
      }
      throwIfAborted(what, signal); // a cancellation up to the end undoes the whole add
      this.sources.push({ n0: before.count, count: N, rows: images instanceof NpyReader ? images : data! });
    } catch (error) {
      for (const shard of created) shard.scope.free();
      this.shards = before.shards.map(({ shard, count }) => {
        shard.images.count = count;
        return shard;
      });
      this.count = before.count;
      throw error;
    }
  }

  /** The last shard with room, else a new one sized for `needed` more (the expected total), in a memory that holds it. */
  private shardWithRoom(needed: number, created: Shard[], what: string): Shard {
    const last = this.shards[this.shards.length - 1];
    if (last && last.images.count < last.capacity) return last;
    const per = this.bytesPerImage;
    const wanted = Math.max(needed, 64, this.expectedImages - this.count, this.count);
    const affordable = Math.floor((this.maxBytes - this.bytes) / per);
    if (affordable < 1) throw new Error(`${what}: the next image would take the gallery past options.maxGpuBytes = ${this.maxBytes} (it holds ${this.bytes} bytes)`);
    let capacity = Math.min(wanted, this.shardLimit, affordable);
    const rt = this.backend.runtime;
    // A shard never passes what one memory holds (room is left for a call's working data in the first).
    const maxPerMemory = Math.max(1, Math.floor((rt.heap.maxBytes - Math.min(64 << 20, rt.heap.maxBytes / 4)) / per));
    capacity = Math.max(1, Math.min(capacity, maxPerMemory));
    // Into the memory the last shard is in, else any memory with room (one a destroyed gallery
    // left, say), else a new one.
    const heaps = [...new Set([...(last ? [last.scope.heap] : []), ...rt.allHeaps()])];
    for (const heap of [...heaps, null]) {
      const target = heap ?? rt.newHeap();
      const scope = new HeapScope(target);
      try {
        const blocks = allocImages(scope, capacity, this.R, this.D, this.precision);
        const shard: Shard = { n0: this.count, capacity, scope, images: { heap: target, format: this.precision, count: 0, R: this.R, D: this.D, DP: int8RowLength(this.D), ...blocks } };
        this.shards.push(shard);
        created.push(shard);
        return shard;
      } catch (error) {
        scope.free();
        if (!(error instanceof WasmMemoryError) || heap === null) throw error;
      }
    }
    throw new Error(`${what}: no WASM memory can hold a shard of ${capacity} images`);
  }

  /** The gallery's images [start, start + count) as parts of shards. */
  private parts(start: number, count: number): ResidentPart[] {
    const out: ResidentPart[] = [];
    for (const shard of this.shards) {
      const first = Math.max(start, shard.n0);
      const end = Math.min(start + count, shard.n0 + shard.images.count);
      if (end > first) out.push({ images: shard.images, first: first - shard.n0, count: end - first, n0: first });
    }
    return out;
  }

  private feed(): WasmImageFeed {
    return { kind: 'resident', N: this.count, R: this.R, D: this.D, format: this.precision, parts: (start, count) => this.parts(start, count) };
  }

  private queryOptions<T extends { precision?: Precision }>(what: string, options: T): T {
    return galleryQueryOptions(what, options, this.precision, [this.precision]);
  }

  async topK(captions: CaptionInput, options: SimilarityOptions & TopKOptions): Promise<TopKResult> {
    return this.lock.read(async () => {
      this.check('topK');
      checkGalleryCaptionsD('topK', captions, this.D);
      return this.backend.rankTopK('gallery.topK', this.feed(), captions, this.queryOptions('topK', options),
        (pairs, o) => this.scorePairsNow('topK', captions, pairs, o));
    });
  }

  async similarity(captions: CaptionInput, options: SimilarityOptions): Promise<Float32Array> {
    return this.lock.read(async () => {
      this.check('similarity');
      checkGalleryCaptionsD('similarity', captions, this.D);
      return this.backend.dense('gallery.similarity', this.feed(), captions, this.queryOptions('similarity', options));
    });
  }

  async scorePairs(captions: CaptionInput, pairs: PairList, options: SimilarityOptions): Promise<Float32Array> {
    return this.lock.read(async () => {
      this.check('scorePairs');
      checkGalleryCaptionsD('scorePairs', captions, this.D);
      return this.scorePairsNow('scorePairs', captions, pairs, options);
    });
  }

  private scorePairsNow(what: string, captions: CaptionInput, pairs: PairList, options: SimilarityOptions): Promise<Float32Array> {
    const opts = resolveOptions(galleryPairOptions(what, options));
    const rows = this.backend.captionRows(captions, `gallery.${what}`);
    checkPairs(`gallery.${what}`, pairs, this.count, rows.M);
    return this.backend.pairs(`gallery.${what}`, opts, this.pairFeed(), rows, pairs);
  }

  /** f32 rows for pair scoring: the shards themselves (f32), else the rows the gallery was made from. */
  private pairFeed(): PairImageFeed {
    const { R, D } = this;
    if (this.precision === 'f32') {
      return { kind: 'resident', N: this.count, R, D, part: (n) => {
        const shard = this.shards.find((s) => n >= s.n0 && n < s.n0 + s.images.count)!;
        return { images: shard.images, first: 0, count: shard.images.count, n0: shard.n0 };
      } };
    }
    const sources = this.sources;
    return { kind: 'rows', N: this.count, R, D, gather: async (ids) => {
      const out = new Float32Array(ids.length * R * D);
      const sourceOf = (n: number) => sources.findIndex((s) => n >= s.n0 && n < s.n0 + s.count);
      // Runs of consecutive ids within one source are read at once (a file in one read).
      for (const [first, count, at] of runsOf(ids, sourceOf)) {
        const source = sources[sourceOf(first)];
        const local = first - source.n0;
        const rows = source.rows instanceof NpyReader ? await source.rows.readRows(local, count) : source.rows.subarray(local * R * D, (local + count) * R * D);
        out.set(rows, at * R * D);
      }
      return out;
    } };
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const free = () => {
      for (const shard of this.shards) shard.scope.free();
      this.shards = [];
      this.sources = [];
      this.backend.forget(this);
    };
    if (this.lock.idle) free();
    else void this.lock.write(async () => free());
  }

  [Symbol.dispose](): void {
    this.destroy();
  }
}
