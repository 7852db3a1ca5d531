// evalrank (spec 6): encode every image and caption of a split in batches, score all pairs
// (NAAF: xattn_score_test; SCAN: t2i or i2t), and report R@K / medr / meanr / rsum, for the
// whole split or as 5 folds of 1000 images (COCO 1K). Two models: their similarities are summed.
import type { NaafModel } from '../model/model.js';
import { methodSpec, type ScoreMethod } from '../methods/index.js';
import type { SimilarityOptions } from '../types.js';
import type { NaafEngine } from '../engine.js';
import type { Gallery } from '../backend/types.js';
import { RecallResult, averageFolds, metricsOfRanks, recallMetrics } from './recall.js';
import { maxOf } from '../arrays.js';

/** Region features of a split, read in row ranges: [images, R, imgDim]. */
export interface ImageSource {
  readonly shape: readonly number[];
  readRows(start: number, count: number): Promise<Float32Array>;
}

export interface EvalOptions {
  method?: ScoreMethod; // a registered method (src/methods/)
  /** NAAF threshold; default: each model's own. */
  threshold?: number;
  fold5?: boolean;
  imageBatch?: number;
  captionBatch?: number;
  onProgress?: (phase: string, done: number, total: number) => void;
  /** Past this many bytes of scores per fold (default 1 GiB), ranks are counted in two passes instead of from the whole matrix. */
  maxSimilarityBytes?: number;
  /** Polled between batches; true stops the evaluation with an EvalStoppedError. */
  shouldStop?: () => boolean;
}

/** evalrank stopped because options.shouldStop() said so (e.g. Ctrl-C during training's dev evaluation). */
export class EvalStoppedError extends Error {
  constructor() {
    super('evalrank: stopped on request');
    this.name = 'EvalStoppedError';
  }
}

export interface EvalReport extends RecallResult {
  folds?: RecallResult[];
  images: number;
  captions: number;
  timings: { encodeMs: number; similarityMs: number };
}

export interface EncodedCaptions {
  ids: Int32Array; // [M, L]
  lengths: Int32Array;
  maxWords: number;
}

/** Similarity results above this many bytes are not held: the ranks are counted over two passes instead. */
export const DEFAULT_MAX_SIMILARITY_BYTES = 2 ** 30;

export async function evalrank(engine: NaafEngine, models: NaafModel[], images: ImageSource, captions: EncodedCaptions, options: EvalOptions = {}): Promise<EvalReport> {
  if (models.length < 1 || models.length > 2) throw new Error(`evalrank: expected 1 or 2 models, got ${models.length}`);
  const method = methodSpec(options.method ?? 'naaf', 'evalrank').name;
  const M = captions.lengths.length;
  const rows = images.shape[0];
  if (M === 0 || rows === 0) throw new Error(`evalrank: nothing to evaluate: ${rows} image rows and ${M} captions`);
  // One image row per caption (im_div = 1) keeps every 5th, as img_embs[::5] does.
  const stride = rows === M ? 5 : 1;
  const N = Math.floor(rows / stride);
  if (M !== 5 * N) throw new Error(`evalrank: expected 5 captions per image, got ${rows} image rows and ${M} captions`);
  const foldSize = options.fold5 ? N / 5 : N;
  if (options.fold5 && !Number.isInteger(foldSize)) throw new Error(`evalrank: --fold5 needs a multiple of 5 images, got ${N}`);
  for (const key of ['imageBatch', 'captionBatch'] as const) {
    const v = options[key];
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1)) throw new Error(`evalrank: options.${key} must be an integer >= 1, got ${v}`);
  }
  const maxBytes = options.maxSimilarityBytes ?? DEFAULT_MAX_SIMILARITY_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new Error(`evalrank: options.maxSimilarityBytes must be an integer >= 1, got ${maxBytes}`);
  const folds: RecallResult[] = [];
  const timings = { encodeMs: 0, similarityMs: 0 };
  for (let fold = 0; fold < N / foldSize; fold++) {
    const galleries: Gallery[] = [];
    try {
      for (const model of models) galleries.push(await encodeFold(engine, model, images, { fold, foldSize, stride, options, timings }));
      const scorer = new FoldScorer(models, galleries, captions, { fold, foldSize, method, options, timings });
      const bytes = foldSize * 5 * foldSize * 4;
      folds.push(bytes <= maxBytes ? await scorer.dense() : await scorer.streamed());
    } finally {
      galleries.forEach((g) => g.destroy());
    }
  }
  const result = folds.length === 1 ? folds[0] : averageFolds(folds);
  return { ...result, ...(folds.length > 1 ? { folds } : {}), images: N, captions: M, timings };
}

interface FoldPlan {
  fold: number; foldSize: number; options: EvalOptions; timings: EvalReport['timings'];
}

/** A fold's images, encoded batch by batch into a resident gallery (sharded past one buffer's size). */
async function encodeFold(engine: NaafEngine, model: NaafModel, images: ImageSource, plan: FoldPlan & { stride: number }): Promise<Gallery> {
  const { fold, foldSize, stride, options, timings } = plan;
  const R = images.shape[1];
  const progress = options.onProgress ?? (() => {});
  const imageBatch = options.imageBatch ?? 128;
  const start = performance.now();
  let gallery: Gallery | null = null;
  try {
    for (let n0 = 0; n0 < foldSize; n0 += imageBatch) {
      if (options.shouldStop?.()) throw new EvalStoppedError();
      const count = Math.min(imageBatch, foldSize - n0);
      const features = await readImages(images, (fold * foldSize + n0) * stride, count, stride);
      // In the form the engine's backend scores without a copy (GPU buffers on WebGPU).
      const encoded = await model.imagesForScoring({ data: features, shape: [count, R, images.shape[2]] });
      try {
        if (gallery) await gallery.add(encoded.input);
        else gallery = await engine.createGallery(encoded.input, { expectedImages: foldSize }); // sized once: no regrowth copies
      } finally {
        encoded.release();
      }
      progress('encode images', n0 + count, foldSize);
    }
    timings.encodeMs += performance.now() - start;
    return gallery!;
  } catch (error) {
    gallery?.destroy();
    throw error;
  }
}

/** Scores a fold's captions, batch by batch, against its galleries (summed over the models). */
class FoldScorer {
  private readonly M: number;

  constructor(private readonly models: NaafModel[], private readonly galleries: Gallery[], private readonly captions: EncodedCaptions,
    private readonly plan: FoldPlan & { method: NonNullable<EvalOptions['method']> }) {
    this.M = 5 * plan.foldSize;
  }

  /** Every batch of captions in order: (first caption in the fold, count, scores [images, count]). */
  private async forEachBatch(phase: string, visit: (m0: number, count: number, scores: Float32Array) => void): Promise<void> {
    const { fold, options, timings } = this.plan;
    const captionBatch = options.captionBatch ?? 1000;
    const progress = options.onProgress ?? (() => {});
    const N = this.plan.foldSize;
    for (let m0 = 0; m0 < this.M; m0 += captionBatch) {
      if (options.shouldStop?.()) throw new EvalStoppedError();
      const count = Math.min(captionBatch, this.M - m0);
      const first = fold * this.M + m0;
      const lengths = this.captions.lengths.subarray(first, first + count);
      const L = maxOf(lengths); // pad each batch only to its own longest caption
      const ids = new Int32Array(count * L);
      for (let m = 0; m < count; m++) ids.set(this.captions.ids.subarray((first + m) * this.captions.maxWords, (first + m) * this.captions.maxWords + lengths[m]), m * L);
      let scores: Float32Array | null = null;
      for (let i = 0; i < this.models.length; i++) {
        let start = performance.now();
        const encoded = await this.models[i].captionsForScoring({ ids, shape: [count, L], lengths });
        try {
          await encoded.ready();
          timings.encodeMs += performance.now() - start;
          start = performance.now();
          const part = await this.galleries[i].similarity(encoded.input, this.similarityOptions(this.models[i]));
          timings.similarityMs += performance.now() - start;
          if (!scores) scores = part;
          else for (let k = 0; k < part.length; k++) scores[k] += part[k];
        } finally {
          encoded.release();
        }
      }
      if (scores!.length !== N * count) throw new Error(`evalrank: a batch gave ${scores!.length} scores, expected ${N * count}`);
      for (let k = 0; k < scores!.length; k++) {
        if (!Number.isFinite(scores![k])) {
          throw new Error(`evalrank: the score of image ${Math.floor(k / count)} and caption ${fold * this.M + m0 + (k % count)} is ${scores![k]}: `
            + 'float32 overflowed in the model or the similarity (weights or features too large); no ranks were computed');
        }
      }
      visit(m0, count, scores!);
      progress(phase, m0 + count, this.M);
    }
  }

  private similarityOptions(model: NaafModel) {
    const { method, options } = this.plan;
    return methodSpec(method).modelOptions(model.config, 'evalrank', options.threshold) as unknown as SimilarityOptions;
  }

  /** The whole [images, captions] matrix in memory, as the original does. */
  async dense(): Promise<RecallResult> {
    const N = this.plan.foldSize;
    const sims = new Float32Array(N * this.M);
    await this.forEachBatch('similarity', (m0, count, scores) => {
      for (let n = 0; n < N; n++) sims.set(scores.subarray(n * count, (n + 1) * count), n * this.M + m0);
    });
    return recallMetrics(sims, N, this.M);
  }

  /**
   * The same ranks without the matrix (Flickr30K's train split is 29000 x 145000 scores, 17 GB):
   * pass 1 takes each caption's t2i rank from its batch's column and each image's best
   * ground-truth score; pass 2 scores every batch again and counts, per image, the captions above
   * that score. i2t rank = min over its captions c of #(s > s_c) = #(s > max_c s_c), so both
   * give exactly recallMetrics' ranks (the scores are recomputed by the same kernels).
   */
  async streamed(): Promise<RecallResult> {
    const N = this.plan.foldSize;
    const t2i = new Int32Array(this.M);
    const best = new Float32Array(N).fill(-Infinity);
    await this.forEachBatch('similarity (pass 1 of 2)', (m0, count, scores) => {
      for (let m = 0; m < count; m++) {
        const image = Math.floor((m0 + m) / 5);
        const target = scores[image * count + m];
        let rank = 0;
        for (let n = 0; n < N; n++) if (scores[n * count + m] > target) rank++;
        t2i[m0 + m] = rank;
        if (target > best[image]) best[image] = target;
      }
    });
    const i2t = new Int32Array(N);
    await this.forEachBatch('similarity (pass 2 of 2)', (m0, count, scores) => {
      for (let n = 0; n < N; n++) {
        const target = best[n];
        let above = 0;
        for (let m = 0; m < count; m++) {
          const own = Math.floor((m0 + m) / 5) === n; // never above its own best, even if a rescore differed by an ulp
          if (!own && scores[n * count + m] > target) above++;
        }
        i2t[n] += above;
      }
    });
    return metricsOfRanks(i2t, t2i);
  }
}

async function readImages(images: ImageSource, firstRow: number, count: number, stride: number): Promise<Float32Array> {
  if (stride === 1) return images.readRows(firstRow, count);
  const rowSize = images.shape[1] * images.shape[2];
  const out = new Float32Array(count * rowSize);
  for (let i = 0; i < count; i++) out.set(await images.readRows(firstRow + i * stride, 1), i * rowSize);
  return out;
}
