// `naaf train`: trains NAAF (or a SCAN baseline) on a precomp dataset.
import { parseArgs } from 'node:util';
import { NaafEngine } from '../engine.js';
import { runTraining } from '../train/loop.js';
import type { TrainMethod } from '../train/options.js';
import { createProgress } from './progress.js';

export const TRAIN_USAGE = `naaf train --data DIR [--data-name f30k_precomp] --out DIR [--epochs 20] [--batch-size 128] [--lr 5e-4]
           [--lr-update 10] [--resume FILE] [--init FILE] [--method naaf|scan-t2i|scan-i2t] [--seed 0]
           [--embed-size 1024] [--word-dim 300] [--vocab FILE]
  DIR (or DIR/NAME) holds {train,dev}_ims.npy and {train,dev}_caps.txt; Ctrl-C saves and stops.`;

function number(name: string, value: string | undefined, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new Error(`naaf train: --${name} must be ${integer ? 'an integer' : 'a number'}, got ${value}`);
  return n;
}

export async function runTrain(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' }, 'data-name': { type: 'string' }, out: { type: 'string' }, epochs: { type: 'string', default: '20' },
      'batch-size': { type: 'string', default: '128' }, lr: { type: 'string' }, 'lr-update': { type: 'string', default: '10' },
      resume: { type: 'string' }, init: { type: 'string' }, method: { type: 'string', default: 'naaf' }, seed: { type: 'string', default: '0' },
      'embed-size': { type: 'string' }, 'word-dim': { type: 'string' }, vocab: { type: 'string' },
    },
    strict: true,
  });
  if (!values.data || !values.out) throw new Error(`naaf train: --data and --out are required\n${TRAIN_USAGE}`);
  const method = values.method as TrainMethod;
  if (!['naaf', 'scan-t2i', 'scan-i2t'].includes(method)) throw new Error(`naaf train: --method must be naaf, scan-t2i or scan-i2t, got ${values.method}`);
  const data = values['data-name'] ? `${values.data}/${values['data-name']}` : values.data;

  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) process.exit(130); // a second Ctrl-C: stop now
    stopRequested = true;
    process.stderr.write('\nstopping after this step (saving a checkpoint); Ctrl-C again to quit at once\n');
  };
  process.on('SIGINT', onSigint);
  const progress = createProgress();
  const engine = await NaafEngine.create();
  try {
    const result = await runTraining(engine, {
      data, out: values.out, epochs: number('epochs', values.epochs, true)!, batchSize: number('batch-size', values['batch-size'], true)!,
      trainer: { method, learningRate: number('lr', values.lr), lrUpdate: number('lr-update', values['lr-update'], true) },
      seed: number('seed', values.seed, true), resume: values.resume, init: values.init, vocab: values.vocab,
      embedSize: number('embed-size', values['embed-size'], true), wordDim: number('word-dim', values['word-dim'], true),
      shouldStop: () => stopRequested,
      onStep: (s) => progress.update(`epoch ${s.epoch} loss ${s.loss.toFixed(3)} lr ${s.learningRate.toExponential(1)} t ${s.thres.toFixed(3)} ${s.samplesPerSecond.toFixed(0)}/s`, s.batch, s.batches),
      onEpoch: (e) => {
        progress.done();
        console.log(`epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, dev rsum ${e.rsum.toFixed(1)}${e.best ? ' (best)' : ''}, thres ${e.thres.toFixed(4)}, thres_safe ${e.thresSafe.toFixed(4)}`);
      },
    });
    progress.done();
    console.log(result.stopped
      ? `stopped at epoch ${result.progress.epoch} batch ${result.progress.batch}; resume with --resume ${result.checkpoint}`
      : `done: best dev rsum ${result.progress.bestRsum.toFixed(1)}, model ${result.best}`);
  } finally {
    progress.done();
    process.off('SIGINT', onSigint);
    engine.destroy();
  }
}
