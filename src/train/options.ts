// Trainer options, their defaults (NAAF's train.py, or SCAN's for the baselines), validation,
// and the learning-rate schedule lr * 0.1^(epoch // lrUpdate).

import { methodSpec, type ScoreMethod } from '../methods/index.js';

/** A registered similarity method (src/methods/). */
export type TrainMethod = ScoreMethod;

export interface TrainerOptions {
  method?: TrainMethod;
  learningRate?: number; // the method's (registry): 5e-4 (NAAF), 2e-4 (SCAN)
  margin?: number; // the method's (registry): 0.2; CHAN 0.05
  gradClip?: number | null; // 2 (total L2 norm); null: no clipping
  lrUpdate?: number; // the method's: 10 (NAAF README), CHAN 15; epochs per tenfold decay
  alpha?: number; // 2: NAAF's mismatch penalty
  lambdaSoftmax?: number; // 20 NAAF, 9 SCAN t2i, 4 SCAN i2t; CHAN: 1 / belta = 10
  aggregation?: 'lse' | 'mean'; // SCAN; CHAN's pooling
  lambdaLse?: number; // 6 t2i, 5 i2t
  maxViolation?: boolean; // true: hardest negatives
  /**
   * Epochs at the start that sum the violations over all negatives instead (VSE++'s warm-up,
   * CHAN's first epoch): hardest negatives from a random start can collapse a model. Default 0.
   */
  warmupEpochs?: number;
}

export type ResolvedTrainerOptions = Required<Omit<TrainerOptions, 'gradClip'>> & { gradClip: number | null };

export function resolveTrainerOptions(options: TrainerOptions = {}): ResolvedTrainerOptions {
  const spec = methodSpec(options.method ?? 'naaf', 'createTrainer');
  const method = spec.name;
  const positive = (name: keyof TrainerOptions, fallback: number): number => {
    const value = options[name] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new Error(`createTrainer: options.${name} must be a finite number > 0, got ${String(value)}`);
    return value;
  };
  const aggregation = options.aggregation ?? 'lse';
  if (aggregation !== 'lse' && aggregation !== 'mean') throw new Error(`createTrainer: options.aggregation must be 'lse' or 'mean', got ${JSON.stringify(aggregation)}`);
  const lrUpdate = positive('lrUpdate', spec.training.lrUpdate ?? 10);
  if (!Number.isInteger(lrUpdate)) throw new Error(`createTrainer: options.lrUpdate must be an integer, got ${lrUpdate}`);
  return {
    method,
    learningRate: positive('learningRate', spec.training.learningRate),
    margin: positive('margin', spec.training.margin ?? 0.2),
    gradClip: options.gradClip === null ? null : positive('gradClip', 2),
    lrUpdate,
    alpha: positive('alpha', 2),
    lambdaSoftmax: positive('lambdaSoftmax', spec.training.lambdaSoftmax),
    aggregation,
    lambdaLse: positive('lambdaLse', spec.training.lambdaLse),
    maxViolation: options.maxViolation ?? true,
    warmupEpochs: warmupEpochs(options.warmupEpochs ?? spec.training.warmupEpochs),
  };
}

function warmupEpochs(value: unknown): number {
  const v = value ?? 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`createTrainer: options.warmupEpochs must be an integer >= 0, got ${String(value)}`);
  return v;
}

/** Whether an epoch uses hardest negatives (after the warm-up, when maxViolation is on). */
export function hardestNegativesAt(options: ResolvedTrainerOptions, epoch: number): boolean {
  return options.maxViolation && epoch >= options.warmupEpochs;
}

/**
 * The loss of a collapsed model (every similarity equal) for a batch of B: each of the 2B
 * directions pays the margin once with hardest negatives, once per negative when summed.
 */
export function collapsedLoss(options: ResolvedTrainerOptions, epoch: number, B: number): number {
  return 2 * B * options.margin * (hardestNegativesAt(options, epoch) ? 1 : B - 1);
}

export function learningRateAt(options: ResolvedTrainerOptions, epoch: number): number {
  return options.learningRate * 0.1 ** Math.floor(epoch / options.lrUpdate);
}
