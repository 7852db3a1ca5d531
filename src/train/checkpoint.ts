// Training checkpoints: weights, Adam moments, step, epoch, position in the epoch, mining
// state, best dev rsum and options, in one .safetensors file written atomically. A checkpoint
// also loads as a plain model (engine.loadModel, naaf eval).
import { LoadedModel, encodeSafetensorsModel, writeFileAtomic } from '../model/load.js';
import type { TrainerOptions } from './options.js';
import type { Trainer } from './trainer.js';
import { learnsThreshold } from '../methods/index.js';

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

export interface TrainerMetadata extends TrainingProgress {
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
    config: { ...model.config, threshold: learnsThreshold(trainer.options.method) ? trainer.state.thresSafe : model.config.threshold },
    thresholdState: { ...trainer.state },
    info: { epoch: progress.epoch, step: trainer.stepCount, bestRsum: progress.bestRsum },
    training: { tensors: await trainer.optimizerTensors(), metadata },
  };
  await writeFileAtomic(path, encodeSafetensorsModel(loaded));
}
