// Streaming top-K retrieval: the N x M similarity matrix is computed a block of candidates at a
// time and only each query's best k survive, so galleries whose matrix would not fit in memory
// can be ranked. t2i: queries are captions, candidates images; i2t the reverse.
import type { CaptionInput, ImageInput, SimilarityOptions } from '../types.js';

export interface TopKOptions {
  k: number;
  direction: 't2i' | 'i2t';
  /** Candidates per block (default: a block's scores take at most 64 MiB). */
  blockSize?: number;
}

export interface TopKResult {
  /** [queries, k], best first: image indices (t2i) or caption indices (i2t). */
  indices: Int32Array;
  scores: Float32Array;
}

type Similarity = (images: ImageInput, captions: CaptionInput, options: SimilarityOptions) => Promise<Float32Array>;

const BLOCK_BYTES = 64 * 2 ** 20;

/** Keeps each query's k best (score descending, then lower index first). */
class TopKAccumulator {
  readonly indices: Int32Array;
  readonly scores: Float32Array;
  private readonly filled: Int32Array;

  constructor(readonly queries: number, readonly k: number) {
    this.indices = new Int32Array(queries * k).fill(-1);
    this.scores = new Float32Array(queries * k).fill(-Infinity);
    this.filled = new Int32Array(queries);
  }

  offer(query: number, candidate: number, score: number): void {
    const base = query * this.k;
    let n = this.filled[query];
    if (n === this.k) {
      const worst = this.scores[base + n - 1];
      if (!(score > worst)) return; // candidates arrive in index order: a tie keeps the earlier one
      n--;
    } else {
      this.filled[query] = n + 1;
    }
    let i = n;
    while (i > 0 && this.scores[base + i - 1] < score) {
      this.scores[base + i] = this.scores[base + i - 1];
      this.indices[base + i] = this.indices[base + i - 1];
      i--;
    }
    this.scores[base + i] = score;
    this.indices[base + i] = candidate;
  }
}

function imageBlock(images: ImageInput, start: number, count: number): ImageInput {
  const [, R, D] = images.shape;
  if ('data' in images) return { data: images.data.subarray(start * R * D, (start + count) * R * D), shape: [count, R, D] };
  return { buffer: images.buffer, shape: [count, R, D], offset: (images.offset ?? 0) + start * R * D * 4 };
}

function captionBlock(captions: CaptionInput, start: number, count: number): CaptionInput {
  const [, L, D] = captions.shape;
  const lengths = Array.from(captions.lengths as ArrayLike<number>).slice(start, start + count);
  if ('data' in captions) return { data: captions.data.subarray(start * L * D, (start + count) * L * D), shape: [count, L, D], lengths };
  return { buffer: captions.buffer, shape: [count, L, D], lengths, offset: (captions.offset ?? 0) + start * L * D * 4 };
}

export async function topK(similarity: Similarity, images: ImageInput, captions: CaptionInput, options: SimilarityOptions & TopKOptions): Promise<TopKResult> {
  const { k, direction, blockSize, ...rest } = options;
  if (direction !== 't2i' && direction !== 'i2t') throw new Error(`topK: options.direction must be 't2i' or 'i2t', got ${JSON.stringify(direction)}`);
  const N = images?.shape?.[0];
  const M = captions?.shape?.[0];
  if (!Number.isInteger(N) || !Number.isInteger(M)) throw new Error('topK: images.shape and captions.shape must be [N, R, D] and [M, L, D]');
  const [queries, candidates] = direction === 't2i' ? [M, N] : [N, M];
  if (!Number.isInteger(k) || k < 1 || k > candidates) {
    throw new Error(`topK: options.k must be an integer in [1, ${candidates}] (the ${direction === 't2i' ? 'images' : 'captions'}), got ${k}`);
  }
  const block = blockSize ?? Math.max(1, Math.floor(BLOCK_BYTES / (4 * queries)));
  if (!Number.isInteger(block) || block < 1) throw new Error(`topK: options.blockSize must be an integer >= 1, got ${blockSize}`);
  const best = new TopKAccumulator(queries, k);
  for (let start = 0; start < candidates; start += block) {
    const count = Math.min(block, candidates - start);
    if (direction === 't2i') {
      const sims = await similarity(imageBlock(images, start, count), captions, rest as SimilarityOptions); // [count, M]
      for (let n = 0; n < count; n++) for (let m = 0; m < M; m++) best.offer(m, start + n, sims[n * M + m]);
    } else {
      const sims = await similarity(images, captionBlock(captions, start, count), rest as SimilarityOptions); // [N, count]
      for (let n = 0; n < N; n++) for (let m = 0; m < count; m++) best.offer(n, start + m, sims[n * count + m]);
    }
  }
  return { indices: best.indices, scores: best.scores };
}
