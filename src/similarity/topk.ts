// Streaming top-K retrieval: the N x M similarity matrix is computed a block of candidates at a
// time and only each query's best k survive, so galleries whose matrix would not fit in memory
// can be ranked. t2i: queries are captions, candidates images; i2t the reverse.
// With a low precision and `exact`, the low-precision ranking only proposes candidates: they are
// re-scored in f32 (split kernel, pair mode) until each query's f32 top-k is certified.
import type { CaptionInput, ImageInput, SimilarityOptions } from '../types.js';
import type { PairList } from './pairs.js';

export interface TopKOptions {
  k: number;
  direction: 't2i' | 'i2t';
  /** Candidates per block (default: a block's scores take at most 64 MiB). */
  blockSize?: number;
  /**
   * With precision 'f16' or 'int8': return exactly the f32 top-k (the split kernel's f32
   * scores), using the low precision to choose which candidates to score in f32.
   */
  exact?: boolean;
  /** exact: candidates per query re-scored in f32 first (default max(2k, k + 16)); doubled for queries not yet certified. */
  candidates?: number;
}

export interface ExactStats {
  /** Pairs scored in f32, and per query on average. */
  rescoredPairs: number;
  rescoredPerQuery: number;
  /** Rounds of re-scoring (the first, then doublings for queries not certified). */
  rounds: number;
  /** Queries whose whole candidate set was scored in f32 (the low-precision lists ran out). */
  fullQueries: number;
  /** The largest |f32 - low precision| seen over the re-scored pairs, and the margin used (2x it). */
  maxError: number;
  margin: number;
}

export interface TopKResult {
  /** [queries, k], best first: image indices (t2i) or caption indices (i2t). */
  indices: Int32Array;
  scores: Float32Array;
  /** exact: how the f32 top-k was found. */
  exact?: ExactStats;
}

type Similarity = (images: ImageInput, captions: CaptionInput, options: SimilarityOptions) => Promise<Float32Array>;
type ScorePairs = (images: ImageInput, captions: CaptionInput, pairs: PairList, options: SimilarityOptions) => Promise<Float32Array>;

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

export async function topK(similarity: Similarity, images: ImageInput, captions: CaptionInput, options: SimilarityOptions & TopKOptions,
  scorePairs?: ScorePairs): Promise<TopKResult> {
  const { k, direction, blockSize, exact, candidates: firstCandidates, ...rest } = options;
  if (exact !== undefined && typeof exact !== 'boolean') throw new Error(`topK: options.exact must be a boolean, got ${JSON.stringify(exact)}`);
  if (firstCandidates !== undefined && !exact) throw new Error('topK: options.candidates is for exact: true');
  if (exact && (rest.precision ?? 'f32') !== 'f32') {
    if (!scorePairs) throw new Error('topK: exact needs pair scoring');
    return exactTopK(similarity, scorePairs, images, captions, options);
  }
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

/** Rows of a [queries, width] list sorted by score (desc), then index (asc). */
function sortCandidates(indices: number[], scores: number[]): number[] {
  return indices.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || indices[a] - indices[b]);
}

/**
 * The f32 top-k from a low-precision ranking: each query's best low-precision candidates are
 * scored in f32; a query is done once its k-th f32 score beats every candidate not scored by
 * more than the margin (twice the largest |f32 - low| seen so far over all scored pairs);
 * otherwise it gets twice the candidates, and past the kept list all of them.
 */
async function exactTopK(similarity: Similarity, scorePairs: ScorePairs, images: ImageInput, captions: CaptionInput,
  options: SimilarityOptions & TopKOptions): Promise<TopKResult> {
  const { k, direction, exact: _exact, candidates: firstCandidates, ...rest } = options;
  const N = images.shape[0];
  const M = captions.shape[0];
  const [queries, total] = direction === 't2i' ? [M, N] : [N, M];
  if (!Number.isInteger(k) || k < 1 || k > total) {
    throw new Error(`topK: options.k must be an integer in [1, ${total}] (the ${direction === 't2i' ? 'images' : 'captions'}), got ${k}`);
  }
  let width = firstCandidates ?? Math.max(2 * k, k + 16);
  if (!Number.isInteger(width) || width < k) throw new Error(`topK: options.candidates must be an integer >= k = ${k}, got ${firstCandidates}`);
  width = Math.min(width, total);
  const keep = Math.min(total, 4 * width);
  const low = await topK(similarity, images, captions, { ...rest, k: keep, direction } as SimilarityOptions & TopKOptions);
  // The f32 re-scoring runs the split kernel's pair mode: the low-precision pass's blocks and tile do not apply.
  const { blockSize: _block, tile: _tile, ...method } = rest as SimilarityOptions & { blockSize?: number };
  const f32Options = { ...method, precision: 'f32', kernel: 'split' } as SimilarityOptions;
  const scored: Map<number, number>[] = Array.from({ length: queries }, () => new Map());
  const lowScore: Map<number, number>[] = Array.from({ length: queries }, (_, q) => {
    const map = new Map<number, number>();
    for (let i = 0; i < keep; i++) map.set(low.indices[q * keep + i], low.scores[q * keep + i]);
    return map;
  });
  const stats: ExactStats = { rescoredPairs: 0, rescoredPerQuery: 0, rounds: 0, fullQueries: 0, maxError: 0, margin: 0 };
  const indices = new Int32Array(queries * k);
  const scores = new Float32Array(queries * k);
  let open = Array.from({ length: queries }, (_, q) => q);
  const wanted = new Int32Array(queries).fill(width); // candidates each open query should have scored
  // Done when every candidate was scored in f32, or the k-th f32 score beats the best
  // low-precision score not scored (all beyond the kept list score at most the last kept one)
  // by more than the margin.
  const certified = (q: number): boolean => {
    if (scored[q].size === total) return true;
    const values = [...scored[q].values()].sort((a, b) => b - a);
    const bound = wanted[q] < keep ? low.scores[q * keep + wanted[q]] : low.scores[q * keep + keep - 1];
    return bound + stats.margin < values[k - 1];
  };
  while (open.length > 0) {
    stats.rounds++;
    // Score what each open query lacks: its first `wanted` kept candidates, or all of them.
    const pairImages: number[] = [];
    const pairCaptions: number[] = [];
    const owner: number[] = [];
    for (const q of open) {
      const list = wanted[q] > keep ? Array.from({ length: total }, (_, c) => c) : Array.from(low.indices.subarray(q * keep, q * keep + wanted[q]));
      for (const c of list) {
        if (scored[q].has(c)) continue;
        owner.push(q, c);
        if (direction === 't2i') { pairImages.push(c); pairCaptions.push(q); } else { pairImages.push(q); pairCaptions.push(c); }
      }
    }
    if (owner.length > 0) {
      const f32 = await scorePairs(images, captions, { images: pairImages, captions: pairCaptions }, f32Options);
      for (let i = 0; i < f32.length; i++) {
        const [q, c] = [owner[2 * i], owner[2 * i + 1]];
        scored[q].set(c, f32[i]);
        const lowValue = lowScore[q].get(c);
        if (lowValue !== undefined) stats.maxError = Math.max(stats.maxError, Math.abs(f32[i] - lowValue));
      }
      stats.rescoredPairs += f32.length;
    }
    stats.margin = Math.max(2 * stats.maxError, 1e-6);
    const stillOpen = open.filter((q) => !certified(q));
    for (const q of stillOpen) wanted[q] = wanted[q] >= keep ? total + 1 : Math.min(keep, 2 * wanted[q]);
    open = stillOpen;
    if (open.length === 0) {
      // The margin may have grown since a query was accepted: every query must pass the final one.
      open = Array.from({ length: queries }, (_, q) => q).filter((q) => !certified(q));
      for (const q of open) wanted[q] = wanted[q] >= keep ? total + 1 : Math.min(keep, 2 * wanted[q]);
    }
  }
  for (let q = 0; q < queries; q++) {
    const ids = [...scored[q].keys()];
    const values = ids.map((c) => scored[q].get(c)!);
    const order = sortCandidates(ids, values);
    for (let i = 0; i < k; i++) {
      indices[q * k + i] = ids[order[i]];
      scores[q * k + i] = values[order[i]];
    }
    if (wanted[q] > keep) stats.fullQueries++;
  }
  stats.rescoredPerQuery = stats.rescoredPairs / queries;
  return { indices, scores, exact: stats };
}
