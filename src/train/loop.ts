// The training loop of `naaf train`: epochs of shuffled, length-sorted batches, dev rsum after
// each epoch, the best checkpoint kept, a checkpoint after every epoch, and a clean stop
// (checkpoint included) when asked to, e.g. on Ctrl-C. Resuming continues bit for bit.
import type { NaafEngine } from '../engine.js';
import { encodeCaptionIds, findVocabulary, openPrecompSplit } from '../data/precomp.js';
import { evalrank } from '../eval/evalrank.js';
import type { NaafModel } from '../model/model.js';
import type { ModelConfig } from '../model/weights.js';
import { writeFileAtomic } from '../model/load.js';
import { TrainingProgress, saveTrainingCheckpoint } from './checkpoint.js';
import { initialState } from './init.js';
import { BatchLoader } from './loader.js';
import type { TrainerOptions } from './options.js';
import type { Trainer } from './trainer.js';
import { platform } from '../platform/index.js';

export interface TrainRunOptions {
  /** Folder with {train,dev}_ims.npy and _caps.txt. */
  data: string;
  out: string;
  epochs: number;
  batchSize: number;
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
  onEpoch?: (info: { epoch: number; loss: number; rsum: number; best: boolean; thres: number; thresSafe: number }) => void;
}

export interface TrainRunResult {
  stopped: boolean;
  progress: TrainingProgress;
  checkpoint: string;
  best: string;
}

export async function runTraining(engine: NaafEngine, o: TrainRunOptions): Promise<TrainRunResult> {
  const { mkdir, readFile } = await platform.fs('runTraining');
  await mkdir(o.out, { recursive: true });
  const checkpointPath = `${o.out}/checkpoint.safetensors`;
  const bestPath = `${o.out}/model_best.safetensors`;
  const train = await openPrecompSplit(o.data, 'train');
  const dev = await openPrecompSplit(o.data, 'dev');
  let trainer: Trainer | null = null;
  let model: NaafModel | null = null;
  try {
    let progress: TrainingProgress;
    if (o.resume) {
      ({ trainer, progress } = await engine.resumeTrainer(o.resume));
      model = trainer.model;
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
        model = engine.createModel(initialState(config, o.seed ?? 0), config);
      }
      trainer = await engine.createTrainer(model, o.trainer);
      progress = { epoch: 0, batch: 0, bestRsum: -Infinity, seed: o.seed ?? 0, history: [] };
    }
    const { vocab } = await findVocabulary(o.data, model.config.textEncoder, o.vocab);
    const trainIds = encodeCaptionIds(train.captions, vocab, model.config.vocabSize);
    const devCaptions = dev.captions.slice(0, o.devCaptions ?? 5000);
    const devIds = encodeCaptionIds(devCaptions, vocab, model.config.vocabSize);
    const loader = new BatchLoader(train.images, trainIds.ids, trainIds.lengths, trainIds.maxWords, o.batchSize, progress.seed);
    const devImages = { shape: [devCaptions.length / 5, ...dev.images.shape.slice(1)], readRows: (s: number, c: number) => dev.images.readRows(s, c) };

    for (let epoch = progress.epoch; epoch < o.epochs; epoch++) {
      trainer.epoch = epoch;
      const order = loader.order(epoch);
      const batches = loader.batchesPerEpoch;
      let lossSum = 0;
      let steps = 0;
      const started = performance.now();
      for (let b = epoch === progress.epoch ? progress.batch : 0; b < batches; b++) {
        const batch = await loader.batch(epoch, b, order);
        const result = await trainer.step(batch);
        lossSum += result.loss;
        steps++;
        const elapsed = (performance.now() - started) / 1000;
        o.onStep?.({ epoch, batch: b + 1, batches, loss: result.loss, learningRate: result.learningRate, thres: result.state.thres,
          samplesPerSecond: (steps * o.batchSize) / Math.max(elapsed, 1e-9) });
        if (o.shouldStop?.() && b + 1 < batches) {
          progress = { ...progress, epoch, batch: b + 1 };
          await saveTrainingCheckpoint(checkpointPath, trainer, progress);
          return { stopped: true, progress, checkpoint: checkpointPath, best: bestPath };
        }
      }
      const method = trainer.options.method;
      const report = await evalrank(engine, [model], devImages, devIds, {
        method, ...(method === 'naaf' ? { threshold: trainer.state.thresSafe } : {}),
      });
      const best = report.rsum > progress.bestRsum;
      const loss = steps > 0 ? lossSum / steps : NaN;
      progress = {
        ...progress, epoch: epoch + 1, batch: 0, bestRsum: Math.max(progress.bestRsum, report.rsum),
        history: [...progress.history, { epoch, loss, rsum: report.rsum, thres: trainer.state.thres, thresSafe: trainer.state.thresSafe }],
      };
      await saveTrainingCheckpoint(checkpointPath, trainer, progress);
      if (best) await writeFileAtomic(bestPath, new Uint8Array(await readFile(checkpointPath)));
      o.onEpoch?.({ epoch, loss, rsum: report.rsum, best, thres: trainer.state.thres, thresSafe: trainer.state.thresSafe });
      if (o.shouldStop?.()) return { stopped: true, progress, checkpoint: checkpointPath, best: bestPath };
    }
    return { stopped: false, progress, checkpoint: checkpointPath, best: bestPath };
  } finally {
    trainer?.destroy();
    model?.destroy();
    await train.images.close();
    await dev.images.close();
  }
}
