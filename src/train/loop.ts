// The training loop of `naaf train`: epochs of shuffled, length-sorted batches, dev rsum after
// each epoch, the best checkpoint kept, a checkpoint after every epoch, and a clean stop
// (checkpoint included) when asked to, e.g. on Ctrl-C. Resuming continues bit for bit.
import type { NaafEngine } from '../engine.js';
import { checkVocabularyFit, encodeCaptionIds, findVocabulary, openPrecompSplit } from '../data/precomp.js';
import { EvalReport, EvalStoppedError, evalrank } from '../eval/evalrank.js';
import type { NaafModel } from '../model/model.js';
import { ModelConfig, checkConfigFitsDevice } from '../model/weights.js';
import { writeFileAtomic } from '../model/load.js';
import { TrainingProgress, saveTrainingCheckpoint } from './checkpoint.js';
import { initialState } from './init.js';
import { BatchLoader } from './loader.js';
import { ResolvedTrainerOptions, TrainerOptions, collapsedLoss, hardestNegativesAt } from './options.js';
import type { Trainer } from './trainer.js';
import { platform } from '../platform/index.js';
import type { Vocabulary } from '../data/vocab.js';
import { learnsThreshold } from '../methods/index.js';

export interface TrainRunOptions {
  /** Folder with {train,dev}_ims.npy and _caps.txt. */
  data: string;
  out: string;
  /** Required for a new run; on a resume, default: the checkpoint's (a larger value extends the run). */
  epochs?: number;
  /** Required for a new run; on a resume, default: the checkpoint's. */
  batchSize?: number;
  trainer: TrainerOptions;
  seed?: number;
  resume?: string;
  /** Start from this model's weights (fine-tuning) instead of a fresh initialisation. */
  init?: string;
  embedSize?: number;
  wordDim?: number;
  vocab?: string;
  /** At most this many dev captions (the original truncates dev to 5000). */
  devCaptions?: number;
  /** Polled after every step; true stops the run after saving a checkpoint. */
  shouldStop?: () => boolean;
  onStep?: (info: { epoch: number; batch: number; batches: number; loss: number; learningRate: number; thres: number; samplesPerSecond: number }) => void;
  /** After each epoch; `collapse` is set when the epoch's mean loss says every similarity was equal (see collapseWarning). */
  onEpoch?: (info: { epoch: number; loss: number; rsum: number; best: boolean; thres: number; thresSafe: number; collapse?: string }) => void;
}

export interface TrainRunResult {
  stopped: boolean;
  progress: TrainingProgress;
  checkpoint: string;
  best: string;
  /** Optimiser steps this call ran, and epochs it evaluated. */
  steps: number;
  evaluations: number;
  /** What a resume applied or kept (e.g. a new batch size at an epoch boundary), for the log. */
  notes: string[];
}

function checkRunOptions(o: TrainRunOptions): void {
  const integer = (name: string, value: number | undefined, min: number) => {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) throw new Error(`runTraining: options.${name} must be an integer >= ${min}, got ${value}`);
  };
  integer('epochs', o.epochs, 1);
  if (o.epochs === undefined && !o.resume) throw new Error('runTraining: options.epochs is required (an integer >= 1)');
  integer('batchSize', o.batchSize, 2); // the loss and mismatch mining compare pairs within a batch
  if (o.batchSize === undefined && !o.resume) throw new Error('runTraining: options.batchSize is required (an integer >= 2)');
  integer('seed', o.seed, 0);
  integer('embedSize', o.embedSize, 1);
  integer('wordDim', o.wordDim, 1);
  integer('devCaptions', o.devCaptions, 5);
  if (o.resume && o.init) throw new Error('runTraining: options.resume and options.init conflict: a resume continues its own weights');
}

/**
 * A resume continues the checkpoint's run: options that would change what it trains (method,
 * rates, sizes, seed) are refused when they differ; `epochs` may extend the run; a new batch
 * size is applied at an epoch boundary and refused mid-epoch (the epoch's order would change).
 */
function checkResume(o: TrainRunOptions, trainer: Trainer, progress: TrainingProgress, notes: string[]): number {
  const saved = trainer.options;
  const asked = o.trainer ?? {};
  const conflicts: string[] = [];
  for (const key of Object.keys(asked) as (keyof TrainerOptions)[]) {
    if (asked[key] !== undefined && asked[key] !== saved[key]) conflicts.push(`${key} ${JSON.stringify(asked[key])} (the checkpoint's: ${JSON.stringify(saved[key])})`);
  }
  const { embedSize, wordDim } = trainer.model.config;
  if (o.embedSize !== undefined && o.embedSize !== embedSize) conflicts.push(`embedSize ${o.embedSize} (the checkpoint's: ${embedSize})`);
  if (o.wordDim !== undefined && o.wordDim !== wordDim) conflicts.push(`wordDim ${o.wordDim} (the checkpoint's: ${wordDim})`);
  if (o.seed !== undefined && o.seed !== progress.seed) conflicts.push(`seed ${o.seed} (the checkpoint's: ${progress.seed})`);
  if (o.batchSize !== undefined && progress.batchSize !== undefined && o.batchSize !== progress.batchSize) {
    if (progress.batch > 0) conflicts.push(`batchSize ${o.batchSize} mid-epoch (the checkpoint's: ${progress.batchSize}, stopped at batch ${progress.batch} of epoch ${progress.epoch})`);
    else notes.push(`batch size ${o.batchSize} from epoch ${progress.epoch} on (the checkpoint trained with ${progress.batchSize})`);
  }
  if (conflicts.length > 0) {
    throw new Error(`resume ${o.resume}: it continues its own run, and these options differ from it: ${conflicts.join('; ')}. `
      + 'Drop them to resume, or start a new run (--init FILE fine-tunes from its weights with new options)');
  }
  const epochs = o.epochs ?? progress.epochs;
  if (epochs === undefined) throw new Error(`resume ${o.resume}: the checkpoint does not record its epochs (an older checkpoint); pass --epochs`);
  if (progress.epoch >= epochs) {
    throw new Error(`resume ${o.resume}: the checkpoint has completed ${progress.epoch} epochs, so --epochs ${epochs} trains nothing; pass --epochs > ${progress.epoch} to train on`);
  }
  if (progress.epochs !== undefined && epochs !== progress.epochs) notes.push(`${epochs} epochs in all (the checkpoint's run had ${progress.epochs})`);
  return epochs;
}

/** What the run trains on, recorded in its checkpoints: a resume on other data or another vocabulary is refused. */
function dataIdentity(trainCaptions: number, vocab: Vocabulary): NonNullable<TrainingProgress['data']> {
  let hash = 0x811c9dc5; // FNV-1a over the words in id order
  for (let id = 0; id < vocab.size; id++) {
    const word = vocab.word(id);
    for (let i = 0; i < word.length; i++) hash = Math.imul(hash ^ word.charCodeAt(i), 0x01000193);
    hash = Math.imul(hash ^ 0x0a, 0x01000193);
  }
  return { trainCaptions, vocabSize: vocab.size, vocabHash: (hash >>> 0).toString(16).padStart(8, '0') };
}

function checkResumeData(o: TrainRunOptions, saved: TrainingProgress['data'], now: NonNullable<TrainingProgress['data']>): void {
  if (!saved) return; // an older checkpoint: nothing recorded to compare
  if (saved.trainCaptions !== now.trainCaptions) {
    throw new Error(`resume ${o.resume}: the run trained on ${saved.trainCaptions} train captions, ${o.data} has ${now.trainCaptions}; resume on the same data, or start a new run (--init)`);
  }
  if (saved.vocabSize !== now.vocabSize || saved.vocabHash !== now.vocabHash) {
    throw new Error(`resume ${o.resume}: the run's vocabulary had ${saved.vocabSize} words (hash ${saved.vocabHash}), this one ${now.vocabSize} (hash ${now.vocabHash}): `
      + 'token ids would change meaning; pass the run\'s vocabulary with --vocab');
  }
}

/**
 * A warning when an epoch's mean loss is within 2% of a collapsed model's (every similarity
 * equal: 2 x batch x margin with hardest negatives, 2 x batch x (batch - 1) x margin summed)
 * and its dev rsum did not beat the run's best, naming the likely causes; null otherwise. (A
 * model still improving on dev is not flagged: NAAF's hardest-negative loss passes near
 * 2 x batch x margin while it learns, e.g. 20.06 at an epoch whose dev rsum rose 444 -> 477.)
 */
export function collapseWarning(options: ResolvedTrainerOptions, epoch: number, loss: number, batchSizes: number[], improvedOnDev = false): string | null {
  if (!Number.isFinite(loss) || batchSizes.length === 0 || improvedOnDev) return null;
  const reference = batchSizes.reduce((sum, B) => sum + collapsedLoss(options, epoch, B), 0) / batchSizes.length;
  if (Math.abs(loss - reference) > 0.02 * reference) return null;
  const hardest = hardestNegativesAt(options, epoch);
  const formula = hardest ? '2 x batch x margin' : '2 x batch x (batch - 1) x margin';
  return `epoch ${epoch}: mean loss ${loss.toFixed(3)} is within 2% of ${reference.toFixed(3)} (${formula}, the loss when every similarity is equal): `
    + `the ${options.method} model has likely collapsed (nor did its dev rsum improve). Likely causes: a learning rate too high for it (${options.learningRate})`
    + (hardest ? `, or hardest negatives from a random start (warm up with summed violations: warmupEpochs / --warmup-epochs 1)` : '');
}

export async function runTraining(engine: NaafEngine, o: TrainRunOptions): Promise<TrainRunResult> {
  checkRunOptions(o);
  const { mkdir, readFile } = await platform.fs('runTraining');
  const checkpointPath = `${o.out}/checkpoint.safetensors`;
  const bestPath = `${o.out}/model_best.safetensors`;
  const train = await openPrecompSplit(o.data, 'train');
  const dev = await openPrecompSplit(o.data, 'dev').catch(async (error) => {
    await train.images.close();
    throw error;
  });
  let trainer: Trainer | null = null;
  let model: NaafModel | null = null;
  const notes: string[] = [];
  let steps = 0;
  let evaluations = 0;
  try {
    let progress: TrainingProgress;
    let epochs = o.epochs!;
    if (dev.images.shape[1] !== train.images.shape[1] || dev.images.shape[2] !== train.images.shape[2]) {
      throw new Error(`data: ${dev.imsPath} has ${dev.images.shape.slice(1).join(' x ')} regions x features, ${train.imsPath} ${train.images.shape.slice(1).join(' x ')}`);
    }
    if (o.resume) {
      ({ trainer, progress } = await engine.resumeTrainer(o.resume));
      model = trainer.model;
      epochs = checkResume(o, trainer, progress, notes);
    } else {
      const textEncoder = 'basic';
      const { vocab } = await findVocabulary(o.data, textEncoder, o.vocab);
      if (o.init) {
        model = await engine.loadModel(o.init);
      } else {
        const config: ModelConfig = {
          imgDim: train.images.shape[2], embedSize: o.embedSize ?? 1024, wordDim: o.wordDim ?? 300, vocabSize: vocab.size,
          textEncoder, threshold: 0, lambdaSoftmax: o.trainer.lambdaSoftmax ?? 20,
        };
        checkConfigFitsDevice(config, engine.device.limits, 'runTraining'); // before making gigabytes of weights
        model = engine.createModel(initialState(config, o.seed ?? 0), config);
      }
      trainer = await engine.createTrainer(model, o.trainer);
      progress = { epoch: 0, batch: 0, bestRsum: -Infinity, seed: o.seed ?? 0, history: [] };
    }
    if (model.config.imgDim !== train.images.shape[2]) {
      throw new Error(`data: ${train.imsPath} has ${train.images.shape[2]} features per region, the model expects imgDim ${model.config.imgDim}`);
    }
    const { vocab, path: vocabPath } = await findVocabulary(o.data, model.config.textEncoder, o.vocab);
    const trainIds = encodeCaptionIds(train.captions, vocab, model.config.vocabSize);
    checkVocabularyFit(trainIds.ids, trainIds.lengths, trainIds.maxWords, vocab, { vocab: vocabPath, captions: train.capsPath });
    const identity = dataIdentity(train.captions.length, vocab);
    if (o.resume) checkResumeData(o, progress.data, identity);
    // The original truncates dev to its first 5000 captions (1000 images).
    const devCaptions = dev.captions.slice(0, o.devCaptions ?? 5000);
    const devCount = Math.floor(devCaptions.length / 5) * 5;
    const devIds = encodeCaptionIds(devCaptions.slice(0, devCount), vocab, model.config.vocabSize);
    const devRows = dev.imageDivisor === 1 ? devCount : devCount / 5; // evalrank takes every 5th row of a row-per-caption split
    const devImages = { shape: [devRows, ...dev.images.shape.slice(1)], readRows: (s: number, c: number) => dev.images.readRows(s, c) };
    const batchSize = o.batchSize ?? progress.batchSize;
    if (batchSize === undefined) throw new Error(`resume ${o.resume}: the checkpoint does not record its batch size (an older checkpoint); pass --batch-size`);
    const loader = new BatchLoader(train.images, trainIds.ids, trainIds.lengths, trainIds.maxWords, batchSize, progress.seed);
    await mkdir(o.out, { recursive: true });

    for (let epoch = progress.epoch; epoch < epochs; epoch++) {
      trainer.epoch = epoch;
      const order = loader.order(epoch);
      const batches = loader.batchesPerEpoch;
      const resuming = epoch === progress.epoch && progress.batch > 0;
      // A resumed epoch's loss covers its steps before the stop too.
      let lossSum = resuming ? progress.epochLossSum ?? 0 : 0;
      let epochSteps = resuming ? progress.epochSteps ?? 0 : 0;
      let runSteps = 0;
      const started = performance.now();
      const position = (batch: number): TrainingProgress => ({ ...progress, epoch, batch, batchSize, epochs, data: identity, epochLossSum: lossSum, epochSteps });
      for (let b = resuming ? progress.batch : 0; b < batches; b++) {
        const batch = await loader.batch(epoch, b, order);
        const result = await trainer.step(batch);
        lossSum += result.loss;
        epochSteps++;
        runSteps++;
        steps++;
        const elapsed = (performance.now() - started) / 1000;
        o.onStep?.({ epoch, batch: b + 1, batches, loss: result.loss, learningRate: result.learningRate, thres: result.state.thres,
          samplesPerSecond: (runSteps * batchSize) / Math.max(elapsed, 1e-9) });
        if (o.shouldStop?.()) { // (after the last batch too: the dev evaluation is left for the resume)
          progress = position(b + 1);
          await saveTrainingCheckpoint(checkpointPath, trainer, progress);
          return { stopped: true, progress, checkpoint: checkpointPath, best: bestPath, steps, evaluations, notes };
        }
      }
      const method = trainer.options.method;
      let report: EvalReport;
      try {
        report = await evalrank(engine, [model], devImages, devIds, {
          method, ...(learnsThreshold(method) ? { threshold: trainer.state.thresSafe } : {}), shouldStop: o.shouldStop,
        });
      } catch (error) {
        if (!(error instanceof EvalStoppedError)) throw error;
        progress = position(batches); // stopped during the dev evaluation: the resume evaluates this epoch
        await saveTrainingCheckpoint(checkpointPath, trainer, progress);
        return { stopped: true, progress, checkpoint: checkpointPath, best: bestPath, steps, evaluations, notes };
      }
      evaluations++;
      const best = report.rsum > progress.bestRsum;
      const loss = epochSteps > 0 ? lossSum / epochSteps : NaN;
      const collapse = collapseWarning(trainer.options, epoch, loss, loader.batchSizes(), best);
      progress = {
        ...progress, epoch: epoch + 1, batch: 0, batchSize, epochs, data: identity, epochLossSum: 0, epochSteps: 0, bestRsum: Math.max(progress.bestRsum, report.rsum),
        history: [...progress.history, { epoch, loss, rsum: report.rsum, thres: trainer.state.thres, thresSafe: trainer.state.thresSafe, ...(collapse ? { collapsed: true } : {}) }],
      };
      await saveTrainingCheckpoint(checkpointPath, trainer, progress);
      if (best) await writeFileAtomic(bestPath, new Uint8Array(await readFile(checkpointPath)));
      o.onEpoch?.({ epoch, loss, rsum: report.rsum, best, thres: trainer.state.thres, thresSafe: trainer.state.thresSafe, ...(collapse ? { collapse } : {}) });
      if (o.shouldStop?.() && epoch + 1 < epochs) return { stopped: true, progress, checkpoint: checkpointPath, best: bestPath, steps, evaluations, notes };
    }
    if (!Number.isFinite(progress.bestRsum)) {
      throw new Error(`runTraining: no epoch gave a finite dev rsum (history: ${JSON.stringify(progress.history.map((h) => h.rsum))}), so no ${bestPath} was written`);
    }
    return { stopped: false, progress, checkpoint: checkpointPath, best: bestPath, steps, evaluations, notes };
  } finally {
    trainer?.destroy();
    model?.destroy();
    await train.images.close();
    await dev.images.close();
  }
}
