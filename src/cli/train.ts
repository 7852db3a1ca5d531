// `naaf train`: trains NAAF (or a SCAN baseline) on a precomp dataset.
import { parseArgs } from 'node:util';
import { BACKEND_FLAGS, BACKEND_USAGE, commandEngine, deviceLine } from './engine.js';
import { runTraining } from '../train/loop.js';
import type { TrainMethod, TrainerOptions } from '../train/options.js';
import { integerFlag, numberFlag } from './flags.js';
import { stopOnSigint } from './interrupt.js';
import { createProgress } from './progress.js';
import { methodSpec, methodUsage } from '../methods/index.js';

export const TRAIN_USAGE = `naaf train --data DIR [--data-name f30k_precomp] --out DIR [--epochs 20] [--batch-size 128] [--lr LR]
           [--lr-update EPOCHS] [--warmup-epochs EPOCHS] [--resume FILE] [--init FILE] [${methodUsage().flag}] [--seed 0]
           [--embed-size 1024] [--word-dim 300] [--vocab FILE] ${BACKEND_USAGE}
  DIR (or DIR/NAME) holds {train,dev}_ims.npy and {train,dev}_caps.txt; Ctrl-C saves and stops.
  Methods (default naaf):
${methodUsage().lines.join('\n')}`;

const command = 'naaf train';

export async function runTrain(argv: string[]): Promise<void> {
  // No defaults here: on --resume only the options given explicitly are compared with the checkpoint's.
  const { values } = parseArgs({
    args: argv,
    options: {
      ...BACKEND_FLAGS,
      data: { type: 'string' }, 'data-name': { type: 'string' }, out: { type: 'string' }, epochs: { type: 'string' },
      'batch-size': { type: 'string' }, lr: { type: 'string' }, 'lr-update': { type: 'string' }, 'warmup-epochs': { type: 'string' },
      resume: { type: 'string' }, init: { type: 'string' }, method: { type: 'string' }, seed: { type: 'string' },
      'embed-size': { type: 'string' }, 'word-dim': { type: 'string' }, vocab: { type: 'string' },
    },
    strict: true,
  });
  if (!values.data || !values.out) throw new Error(`${command}: --data and --out are required\n${TRAIN_USAGE}`);
  const method: TrainMethod | undefined = values.method === undefined ? undefined : methodSpec(values.method, command, '--method', false).name;
  if (values.resume && values.init) throw new Error(`${command}: --resume and --init conflict (a resume continues its own weights; --init starts a new run from a model's)`);
  const data = values['data-name'] ? `${values.data}/${values['data-name']}` : values.data;
  const options = {
    epochs: integerFlag(command, 'epochs', values.epochs, 1) ?? (values.resume ? undefined : 20), // on --resume: the checkpoint's
    // (the loss and mining compare pairs in a batch; on --resume the default is the checkpoint's)
    batchSize: integerFlag(command, 'batch-size', values['batch-size'], 2) ?? (values.resume ? undefined : 128),
    learningRate: numberFlag(command, 'lr', values.lr, true),
    lrUpdate: integerFlag(command, 'lr-update', values['lr-update'], 1),
    warmupEpochs: integerFlag(command, 'warmup-epochs', values['warmup-epochs'], 0),
    seed: integerFlag(command, 'seed', values.seed, 0),
    embedSize: integerFlag(command, 'embed-size', values['embed-size'], 1),
    wordDim: integerFlag(command, 'word-dim', values['word-dim'], 1),
  };
  const trainer: TrainerOptions = values.resume
    ? { method, learningRate: options.learningRate, lrUpdate: options.lrUpdate, warmupEpochs: options.warmupEpochs }
    : { method: method ?? 'naaf', learningRate: options.learningRate, lrUpdate: options.lrUpdate, warmupEpochs: options.warmupEpochs };

  const stop = stopOnSigint('stopping after this step (saving a checkpoint)');
  const progress = createProgress();
  const engine = await commandEngine(command, values, { trains: true });
  console.log(deviceLine(engine));
  try {
    const result = await runTraining(engine, {
      data, out: values.out, epochs: options.epochs, batchSize: options.batchSize, trainer,
      seed: options.seed, resume: values.resume, init: values.init, vocab: values.vocab,
      embedSize: options.embedSize, wordDim: options.wordDim,
      shouldStop: stop.requested,
      onStep: (s) => progress.update(`epoch ${s.epoch} loss ${s.loss.toFixed(3)} lr ${s.learningRate.toExponential(1)} t ${s.thres.toFixed(3)} ${s.samplesPerSecond.toFixed(0)}/s`, s.batch, s.batches),
      onEpoch: (e) => {
        progress.done();
        console.log(`epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, dev rsum ${e.rsum.toFixed(1)}${e.best ? ' (best)' : ''}, thres ${e.thres.toFixed(4)}, thres_safe ${e.thresSafe.toFixed(4)}`);
        if (e.collapse) console.warn(`warning: ${e.collapse}`);
      },
    });
    progress.done();
    for (const note of result.notes) console.log(`resume: ${note}`);
    if (result.stopped) {
      console.log(`stopped at epoch ${result.progress.epoch} batch ${result.progress.batch}; resume with --resume ${result.checkpoint}`);
      process.exitCode = 130; // stopped by Ctrl-C, as a shell expects of SIGINT
    } else {
      console.log(`done: ${result.steps} steps, best dev rsum ${result.progress.bestRsum.toFixed(1)}, model ${result.best}`);
    }
  } finally {
    progress.done();
    stop.dispose();
    engine.destroy();
  }
}
