// Streaming top-K retrieval: the N x M similarity matrix is computed a block of candidates at a
// time (src/similarity/blocks.ts) and only each query's best k survive, so galleries whose
// matrix, or whose embeddings, would not fit the GPU can be ranked. t2i: queries are captions,
// candidates images; i2t the reverse. The queries are prepared once (per block of them, if they
// alone exceed the memory budget); the candidates stream past them.
// With a low precision and `exact`, the low-precision ranking only proposes candidates: they are
// re-scored in f32 (split kernel, pair mode) until each query's f32 top-k is certified.
import type { GpuContext } from '../gpu/context.js';
import type { CaptionInput, SimilarityOptions } from '../types.js';
import { BlockScores, CaptionSource, ImageSource, runBlocks } from './blocks.js';
import type { PairList } from './pairs.js';
import { ScorePlan, resolvePlan } from './plan.js';
import { captionSource, sourceOffset } from './sources.js';
import { vec4Aligned } from './run.js';
import { ResolvedOptions, checkCaptions, checkSameD, resolveOptions } from './validate.js';

export interface TopKOptions {
  k: number;
  direction: 't2i' | 'i2t';
  /** Candidates per block at most (default: what the memory budget and a 64 MiB block of scores allow). */
  blockSize?: number;
  /**
   * With precision 'f16' or 'int8': return exactly the f32 top-k (the split kernel's f32
   * scores), using the low precision to choose which candidates to score in f32.
   */
  exact?: boolean;
  /** exact: candidates per query re-scored in f32 first (default max(2k, k + 16)); doubled for queries not yet certified. */
  candidates?: number;
  /** Called as blocks finish, with the share of the ranking done (0..1]. */
  onProgress?: (done: number) => void;
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

/** f32 scores of chosen pairs (exact re-scoring). */
export type PairScorer = (pairs: PairList, options: SimilarityOptions) => Promise<Float32Array>;

/** Keeps each query's k best (score descending, then lower index first). */
export class TopKAccumulator {
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

  /** A block of scores [images, captions] (image-major) from blocks.ts. */
  offerBlock(block: BlockScores, direction: 't2i' | 'i2t'): void {
    const { n0, m0, images, captions, scores } = block;
    if (direction === 't2i') {
      for (let n = 0; n < images; n++) for (let m = 0; m < captions; m++) this.offer(m0 + m, n0 + n, scores[n * captions + m]);
    } else {
      for (let n = 0; n < images; n++) for (let m = 0; m < captions; m++) this.offer(n0 + n, m0 + m, scores[n * captions + m]);
    }
  }
}

/** The images of a topK call: where they are read from, and the vec4 alignment of the f32 product. */
export interface TopKImages {
  source: ImageSource;
  /** Byte offset of the f32 rows in their buffer (0 on the CPU or resident). */
  offset: number;
}

function checkTopKOptions(what: string, options: SimilarityOptions & TopKOptions, N: number, M: number): { k: number; direction: 't2i' | 'i2t' } {
  const { k, direction, blockSize, exact, candidates, onProgress } = options;
  if (exact !== undefined && typeof exact !== 'boolean') throw new Error(`${what}: options.exact must be a boolean, got ${JSON.stringify(exact)}`);
  if (candidates !== undefined && !exact) throw new Error(`${what}: options.candidates is for exact: true`);
  if (direction !== 't2i' && direction !== 'i2t') throw new Error(`${what}: options.direction must be 't2i' or 'i2t', got ${JSON.stringify(direction)}`);
  const total = direction === 't2i' ? N : M;
  if (!Number.isInteger(k) || k < 1 || k > total) {
    throw new Error(`${what}: options.k must be an integer in [1, ${total}] (the ${direction === 't2i' ? 'images' : 'captions'}), got ${k}`);
  }
  if (blockSize !== undefined && (!Number.isInteger(blockSize) || blockSize < 1)) throw new Error(`${what}: options.blockSize must be an integer >= 1, got ${blockSize}`);
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new Error(`${what}: options.onProgress must be a function`);
  return { k, direction };
}

/** A backend's ranking of every query's `keep` best at the call's precision, without the N x M matrix. */
export type LowRanker = (opts: ResolvedOptions, keep: number) => Promise<{ indices: Int32Array; scores: Float32Array }>;

/**
 * The top-k of N images against `captions` on any backend: `low` ranks at the call's precision;
 * with `exact` at a low precision, `scorePairs` re-scores in f32 until each query's f32 top-k is
 * certified. `what` names the call in errors.
 */
export async function rankTopKWith(what: string, images: { N: number; D: number }, captions: CaptionInput,
  options: SimilarityOptions & TopKOptions, low: LowRanker, scorePairs?: PairScorer): Promise<TopKResult> {
  if (!options || typeof options !== 'object') throw new Error(`${what}: options must be an object with a method, k and direction, got ${String(options)}`);
  const { k: _k, direction: _d, blockSize: _b, exact, candidates: _c, onProgress: _p, ...rest } = options;
  const opts = resolveOptions(rest as SimilarityOptions);
  const { shape: [M, , D] } = checkCaptions(captions, what);
  checkSameD(what, D, images.D);
  const { k } = checkTopKOptions(what, options, images.N, M);
  if (exact && opts.precision !== 'f32') {
    if (!scorePairs) throw new Error(`${what}: exact needs the images' f32 rows to re-score from`);
    return exactTopK(what, images.N, M, opts, options, low, scorePairs);
  }
  const best = await low(opts, k);
  return { indices: best.indices, scores: best.scores };
}

/**
 * The top-k of `images` (any source) against `captions` on the GPU, exact from a low precision
 * where asked (`scorePairs` re-scores in f32). `what` names the call in errors.
 */
export async function rankTopK(ctx: GpuContext, what: string, images: TopKImages, captions: CaptionInput,
  options: SimilarityOptions & TopKOptions, scorePairs?: PairScorer): Promise<TopKResult> {
  ctx.checkUsable(what);
  const { direction, blockSize, onProgress } = options ?? ({} as TopKOptions);
  const { R, D } = images.source;
  const low: LowRanker = async (opts, keep) => {
    const { shape: [M, L], lengths } = checkCaptions(captions, what);
    const caps = captionSource(captions, M, L, D, lengths);
    const plan = await resolvePlan(ctx, { R, D, L }, opts, vec4Aligned(images.offset, sourceOffset(captions), D));
    return ctx.scoped(what, () => lowTopK(ctx, what, plan, opts, images.source, caps, keep, direction, blockSize, onProgress));
  };
  return rankTopKWith(what, images.source, captions, options, low, scorePairs);
}

async function lowTopK(ctx: GpuContext, what: string, plan: ScorePlan, opts: ResolvedOptions, images: ImageSource, captions: CaptionSource,
  k: number, direction: 't2i' | 'i2t', blockSize: number | undefined, onProgress?: (done: number) => void): Promise<TopKResult> {
  const best = new TopKAccumulator(direction === 't2i' ? captions.M : images.N, k);
  await runBlocks(ctx, {
    what, plan, opts, images, captions, maxGpuBytes: opts.maxGpuBytes, signal: opts.signal,
    outer: direction === 't2i' ? 'captions' : 'images', maxInnerBlock: blockSize, onProgress,
    onBlock: (block) => best.offerBlock(block, direction),
  });
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
async function exactTopK(what: string, N: number, M: number, opts: ResolvedOptions, options: SimilarityOptions & TopKOptions,
  lowRanker: LowRanker, scorePairs: PairScorer): Promise<TopKResult> {
  const { k, direction, candidates: firstCandidates } = options;
  const [queries, total] = direction === 't2i' ? [M, N] : [N, M];
  let width = firstCandidates ?? Math.max(2 * k, k + 16);
  if (!Number.isInteger(width) || width < k) throw new Error(`${what}: options.candidates must be an integer >= k = ${k}, got ${firstCandidates}`);
  width = Math.min(width, total);
  const keep = Math.min(total, 4 * width);
  const low = await lowRanker(opts, keep);
  // The f32 re-scoring runs the split kernel's pair mode: the low-precision pass's tile does not apply.
  const { tile: _tile, precision: _precision, kernel: _kernel, ...method } = options as SimilarityOptions & TopKOptions & Record<string, unknown>;
  for (const key of ['k', 'direction', 'blockSize', 'exact', 'candidates', 'onProgress', 'maxImagesPerChunk', 'maxCaptionsPerChunk']) delete (method as Record<string, unknown>)[key];
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
      const f32 = await scorePairs({ images: pairImages, captions: pairCaptions }, f32Options);
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
