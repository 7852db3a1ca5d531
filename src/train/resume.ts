// Restores a trainer from a training checkpoint (src/train/checkpoint.ts writes them). Apart from
// checkpoint.ts so that the trainer, which saves checkpoints, and this, which makes trainers, do
// not import each other.
import type { GpuContext } from '../gpu/context.js';
import type { ModelEncoders } from '../model/encoders.js';
import type { ModelConfig, StateDict } from '../model/weights.js';
import { loadModelWeights } from '../model/load.js';
import { NaafModel } from '../model/model.js';
import type { TrainerMetadata, TrainingProgress } from './checkpoint.js';
import { Trainer } from './trainer.js';

/** A trainer (and its model) restored exactly from a training checkpoint. */
export async function resumeTraining(ctx: GpuContext, path: string, encoders: (config: ModelConfig, state: StateDict) => ModelEncoders): Promise<{ trainer: Trainer; progress: TrainingProgress }> {
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
  const model = new NaafModel(encoders(loaded.config, loaded.state), loaded.config, loaded.state, loaded.thresholdState, loaded.info);
  const trainer = new Trainer(ctx, model, metadata.options);
  trainer.restoreOptimizer(loaded.training!.tensors);
  trainer.stepCount = metadata.step;
  trainer.epoch = metadata.epoch;
  if (loaded.thresholdState) trainer.state = { ...loaded.thresholdState };
  const { epoch, batch, bestRsum, seed, history, batchSize, epochs, data, epochLossSum, epochSteps } = metadata;
  return { trainer, progress: { epoch, batch, bestRsum: bestRsum ?? -Infinity, seed, history, batchSize, epochs, data, epochLossSum, epochSteps } };
}
