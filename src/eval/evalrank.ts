// evalrank (spec 6): encode every image and caption of a split in batches, score all pairs
// (NAAF: xattn_score_test; SCAN: t2i or i2t), and report R@K / medr / meanr / rsum, for the
// whole split or as 5 folds of 1000 images (COCO 1K). Two models: their similarities are summed.
import type { NaafModel } from '../model/model.js';
import type { NaafEngine } from '../engine.js';
import { RecallResult, averageFolds, recallMetrics } from './recall.js';

/** Region features of a split, read in row ranges: [images, R, imgDim]. */
export interface ImageSource {
  readonly shape: readonly number[];
  readRows(start: number, count: number): Promise<Float32Array>;
}

export interface EvalOptions {
  method?: 'naaf' | 'scan-t2i' | 'scan-i2t';
  /** NAAF threshold; default: each model's own. */
  threshold?: number;
  fold5?: boolean;
  imageBatch?: number;
  captionBatch?: number;
  onProgress?: (phase: string, done: number, total: number) => void;
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

export async function evalrank(engine: NaafEngine, models: NaafModel[], images: ImageSource, captions: EncodedCaptions, options: EvalOptions = {}): Promise<EvalReport> {
  if (models.length < 1 || models.length > 2) throw new Error(`evalrank: expected 1 or 2 models, got ${models.length}`);
  const method = options.method ?? 'naaf';
  const M = captions.lengths.length;
  const rows = images.shape[0];
  // One image row per caption (im_div = 1) keeps every 5th, as img_embs[::5] does.
  const stride = rows === M ? 5 : 1;
  const N = Math.floor(rows / stride);
  if (M !== 5 * N) throw new Error(`evalrank: expected 5 captions per image, got ${rows} image rows and ${M} captions`);
  const foldSize = options.fold5 ? N / 5 : N;
  if (options.fold5 && !Number.isInteger(foldSize)) throw new Error(`evalrank: --fold5 needs a multiple of 5 images, got ${N}`);
  const folds: RecallResult[] = [];
  const timings = { encodeMs: 0, similarityMs: 0 };
  for (let fold = 0; fold < N / foldSize; fold++) {
    const sims = new Float32Array(foldSize * 5 * foldSize);
    for (const model of models) {
      const part = await scoreFold(engine, model, images, captions, { fold, foldSize, stride, method, options, timings });
      for (let i = 0; i < sims.length; i++) sims[i] += part[i];
    }
    folds.push(recallMetrics(sims, foldSize, 5 * foldSize));
  }
  const result = folds.length === 1 ? folds[0] : averageFolds(folds);
  return { ...result, ...(folds.length > 1 ? { folds } : {}), images: N, captions: M, timings };
}

interface FoldPlan {
  fold: number; foldSize: number; stride: number; method: NonNullable<EvalOptions['method']>;
  options: EvalOptions; timings: EvalReport['timings'];
}

async function scoreFold(engine: NaafEngine, model: NaafModel, images: ImageSource, captions: EncodedCaptions, plan: FoldPlan): Promise<Float32Array> {
  const { fold, foldSize, stride, method, options, timings } = plan;
  const R = images.shape[1];
  const E = model.config.embedSize;
  const device = engine.device;
  const progress = options.onProgress ?? (() => {});
  const imageBatch = options.imageBatch ?? 128;
  const captionBatch = options.captionBatch ?? 1000;

  let start = performance.now();
  const imageBytes = foldSize * R * E * 4;
  if (imageBytes > device.limits.maxBufferSize) throw new Error(`evalrank: ${foldSize} encoded images need ${imageBytes} bytes, more than maxBufferSize ${device.limits.maxBufferSize}; use --fold5`);
  const imageEmbeddings = device.createBuffer({ size: imageBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, label: 'eval images' });
  try {
    for (let n0 = 0; n0 < foldSize; n0 += imageBatch) {
      const count = Math.min(imageBatch, foldSize - n0);
      const features = await readImages(images, (fold * foldSize + n0) * stride, count, stride);
      const encoded = await model.encodeImagesToGpu({ data: features, shape: [count, R, images.shape[2]] });
      const encoder = device.createCommandEncoder();
      encoder.copyBufferToBuffer(encoded.buffer, 0, imageEmbeddings, n0 * R * E * 4, count * R * E * 4);
      device.queue.submit([encoder.finish()]);
      encoded.buffer.destroy();
      progress('encode images', n0 + count, foldSize);
    }
    await device.queue.onSubmittedWorkDone();
    timings.encodeMs += performance.now() - start;

    const M = 5 * foldSize;
    const sims = new Float32Array(foldSize * M);
    const threshold = options.threshold ?? model.config.threshold;
    if (method === 'naaf' && (threshold === null || threshold === undefined)) {
      throw new Error('evalrank: this checkpoint carries no NAAF threshold (thres_safe); pass one (--threshold)');
    }
    const similarityOptions = method === 'naaf'
      ? { method, threshold: threshold!, lambdaSoftmax: model.config.lambdaSoftmax }
      : { method };
    for (let m0 = 0; m0 < M; m0 += captionBatch) {
      const count = Math.min(captionBatch, M - m0);
      const first = fold * M + m0;
      const lengths = captions.lengths.subarray(first, first + count);
      const L = Math.max(...lengths); // pad each batch only to its own longest caption
      const ids = new Int32Array(count * L);
      for (let m = 0; m < count; m++) ids.set(captions.ids.subarray((first + m) * captions.maxWords, (first + m) * captions.maxWords + lengths[m]), m * L);
      start = performance.now();
      const encoded = await model.encodeCaptionsToGpu({ ids, shape: [count, L], lengths });
      await device.queue.onSubmittedWorkDone();
      timings.encodeMs += performance.now() - start;
      start = performance.now();
      try {
        const part = await engine.similarity(
          { buffer: imageEmbeddings, shape: [foldSize, R, E] },
          { buffer: encoded.buffer, shape: encoded.shape, lengths },
          similarityOptions,
        );
        for (let n = 0; n < foldSize; n++) sims.set(part.subarray(n * count, (n + 1) * count), n * M + m0);
      } finally {
        encoded.buffer.destroy();
      }
      timings.similarityMs += performance.now() - start;
      progress('similarity', m0 + count, M);
    }
    return sims;
  } finally {
    imageEmbeddings.destroy();
  }
}

async function readImages(images: ImageSource, firstRow: number, count: number, stride: number): Promise<Float32Array> {
  if (stride === 1) return images.readRows(firstRow, count);
  const rowSize = images.shape[1] * images.shape[2];
  const out = new Float32Array(count * rowSize);
  for (let i = 0; i < count; i++) out.set(await images.readRows(firstRow + i * stride, 1), i * rowSize);
  return out;
}
