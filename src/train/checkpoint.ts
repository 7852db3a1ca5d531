// Training checkpoints: weights, Adam moments, step, epoch, position in the epoch, mining
// state, best dev rsum and options, in one .safetensors file written atomically. A checkpoint
// also loads as a plain model (engine.loadModel, naaf eval).
import type { GpuContext } from '../gpu/context.js';
import { LoadedModel, encodeSafetensorsModel, loadModelWeights, writeFileAtomic } from '../model/load.js';
import { NaafModel } from '../model/model.js';
import type { TrainerOptions } from './options.js';
import { Trainer } from './trainer.js';

export interface TrainingProgress {
  /** The epoch to run next, and the batch of it to start from. */
  epoch: number;
  batch: number;
  bestRsum: number;
  seed: number;
  history: { epoch: number; loss: number; rsum: number; thres: number; thresSafe: number; collapsed?: boolean }[];
  /** The batch size the run trains with, and its epochs (absent in older checkpoints). */
  batchSize?: number;
  epochs?: number;
  /** What the run trains on: the train split's caption count and its vocabulary (size and a hash of its words). */
  data?: { trainCaptions: number; vocabSize: number; vocabHash: string };
  /** Mid-epoch: the sum and count of the epoch's losses so far, so a resumed epoch reports its whole loss. */
  epochLossSum?: number;
  epochSteps?: number;
}

interface TrainerMetadata extends TrainingProgress {
  version: 1;
  step: number;
  options: TrainerOptions;
}

export async function saveTrainingCheckpoint(path: string, trainer: Trainer, progress: TrainingProgress): Promise<void> {
  const model = trainer.model;
  const state = await model.syncState();
  const metadata: TrainerMetadata = { version: 1, step: trainer.stepCount, options: trainer.options, ...progress };
  const loaded: LoadedModel = {
    state,
    config: { ...model.config, threshold: trainer.options.method === 'naaf' ? trainer.state.thresSafe : model.config.threshold },
    thresholdState: { ...trainer.state },
    info: { epoch: progress.epoch, step: trainer.stepCount, bestRsum: progress.bestRsum },
    training: { tensors: await trainer.optimizerTensors(), metadata },
  };
  await writeFileAtomic(path, encodeSafetensorsModel(loaded));
}

/** A trainer (and its model) restored exactly from a training checkpoint. */
export async function resumeTraining(ctx: GpuContext, path: string): Promise<{ trainer: Trainer; progress: TrainingProgress }> {
  const loaded = await loadModelWeights(path);
  const metadata = loaded.training?.metadata as TrainerMetadata | undefined;
  if (!metadata || metadata.version !== 1) throw new Error(`resume: ${path} is not a training checkpoint of naaf-webgpu (no trainer metadata); use --init to fine-tune from a model`);
  for (const key of ['step', 'epoch', 'batch', 'seed'] as const) {
    if (!Number.isSafeInteger(metadata[key]) || metadata[key] < 0) throw new Error(`resume: ${path}: trainer metadata ${key} must be an integer >= 0, got ${JSON.stringify(metadata[key])}`);
  }
  for (const key of ['batchSize', 'epochs', 'epochSteps'] as const) {
    const v = metadata[key];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw new Error(`resume: ${path}: trainer metadata ${key} must be an integer >= 0, got ${JSON.stringify(v)}`);
  }
  if (!Array.isArray(metadata.history)) throw new Error(`resume: ${path}: trainer metadata history must be an array, got ${JSON.stringify(metadata.history)?.slice(0, 40)}`);
  const model = new NaafModel(ctx, loaded.config, loaded.state, loaded.thresholdState, loaded.info);
  const trainer = new Trainer(ctx, model, metadata.options);
  trainer.restoreOptimizer(loaded.training!.tensors);
  trainer.stepCount = metadata.step;
  trainer.epoch = metadata.epoch;
  if (loaded.thresholdState) trainer.state = { ...loaded.thresholdState };
  const { epoch, batch, bestRsum, seed, history, batchSize, epochs, data, epochLossSum, epochSteps } = metadata;
  return { trainer, progress: { epoch, batch, bestRsum: bestRsum ?? -Infinity, seed, history, batchSize, epochs, data, epochLossSum, epochSteps } };
}
