// Training batches from a precomp split, as the original data loader makes them: caption k uses
// image k / im_div (im_div = 5 unless there is one image row per caption), a seeded shuffle per
// epoch, and collate's sort by caption length, descending (stable), which fixes the per-caption
// order that mismatch mining depends on.
import type { NpyReader } from '../io/npy.js';
import { seededRandom } from '../random.js';
import { maxOf } from '../arrays.js';

export interface TrainBatch {
  regionFeats: { data: Float32Array; shape: [number, number, number] };
  tokenIds: { ids: Int32Array; shape: [number, number]; lengths: Int32Array };
  /** Caption indices in batch order. */
  captionIndices: number[];
}

export class BatchLoader {
  readonly imageDivisor: number;

  constructor(
    private readonly images: NpyReader,
    private readonly ids: Int32Array, // [captions, maxWords]
    private readonly lengths: Int32Array,
    private readonly maxWords: number,
    readonly batchSize: number,
    private readonly seed: number,
    readonly shuffle = true,
  ) {
    const captions = lengths.length;
    this.imageDivisor = images.shape[0] === captions ? 1 : 5;
    if (Math.ceil(captions / this.imageDivisor) > images.shape[0]) {
      throw new Error(`training data: ${captions} captions need ${Math.ceil(captions / this.imageDivisor)} images, the .npy has ${images.shape[0]}`);
    }
  }

  get captions(): number {
    return this.lengths.length;
  }

  /** Batches per epoch; a final batch of one caption is dropped (mining and the loss need two). */
  get batchesPerEpoch(): number {
    const full = Math.floor(this.captions / this.batchSize);
    return this.captions % this.batchSize >= 2 ? full + 1 : full;
  }

  /** The size of each batch of an epoch, in order (all full but the last). */
  batchSizes(): number[] {
    return Array.from({ length: this.batchesPerEpoch }, (_, b) => Math.min(this.batchSize, this.captions - b * this.batchSize));
  }

  /** The caption order of an epoch: a permutation that depends only on (seed, epoch). */
  order(epoch: number): Int32Array {
    const order = Int32Array.from({ length: this.captions }, (_, i) => i);
    if (!this.shuffle) return order;
    const next = seededRandom(this.seed * 1000003 + epoch);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }

  async batch(epoch: number, index: number, order = this.order(epoch)): Promise<TrainBatch> {
    const picked = Array.from(order.subarray(index * this.batchSize, (index + 1) * this.batchSize));
    picked.sort((a, b) => this.lengths[b] - this.lengths[a]); // Array.prototype.sort is stable
    const B = picked.length;
    const L = maxOf(picked.map((k) => this.lengths[k]));
    const ids = new Int32Array(B * L);
    const lengths = Int32Array.from(picked, (k) => this.lengths[k]);
    picked.forEach((k, b) => ids.set(this.ids.subarray(k * this.maxWords, k * this.maxWords + lengths[b]), b * L));
    const [, R, D] = this.images.shape;
    const data = new Float32Array(B * R * D);
    for (let b = 0; b < B; b++) data.set(await this.images.readRows(Math.floor(picked[b] / this.imageDivisor), 1), b * R * D);
    return { regionFeats: { data, shape: [B, R, D] }, tokenIds: { ids, shape: [B, L], lengths }, captionIndices: picked };
  }
}
