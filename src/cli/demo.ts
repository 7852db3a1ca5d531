// `naaf demo` (what `npm start` runs): the scenes dataset, NAAF and SCAN t2i trained on it,
// the comparison table and report/index.html. Sizes default to a few minutes on 2 CPU cores.
import { parseArgs } from 'node:util';
import { DEFAULT_DEMO_METHODS, DEMO_DEFAULTS, DEMO_METHODS, DemoMethod, DemoStoppedError, runDemo } from '../demo/run.js';
import { BACKEND_FLAGS, BACKEND_USAGE, commandEngine, deviceLine } from './engine.js';
import { integerFlag, numberFlag } from './flags.js';
import { stopOnSigint } from './interrupt.js';
import { createProgress } from './progress.js';

export const DEMO_USAGE = `naaf demo [--data data/scenes] [--report report] [--images ${DEMO_DEFAULTS.images}] [--epochs ${DEMO_DEFAULTS.epochs}]
          [--batch-size ${DEMO_DEFAULTS.batchSize}] [--embed-size ${DEMO_DEFAULTS.embedSize}] [--word-dim ${DEMO_DEFAULTS.wordDim}]
          [--regions ${DEMO_DEFAULTS.regions}] [--img-dim ${DEMO_DEFAULTS.imgDim}] [--lr LR] [--seed 0] [--large] [--methods ${DEFAULT_DEMO_METHODS.join(',')}] ${BACKEND_USAGE}
  --lr: one learning rate for both models (default: each method's own, METHOD_SETTINGS in src/demo/run.ts).
  --methods: which to train and compare, from ${DEMO_METHODS.join(', ')} (naaf always; e.g. naaf,scan-t2i,chan).
  --backend: the demo trains, which runs on WebGPU ('auto' means WebGPU here; 'wasm' is refused).
  --large: 2000 train images, 36 regions x 128 features, embed 256, 10 epochs (for a GPU).`;

export async function runDemoCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...BACKEND_FLAGS,
      data: { type: 'string', default: 'data/scenes' }, report: { type: 'string', default: 'report' }, runs: { type: 'string', default: 'data/runs' },
      images: { type: 'string' }, epochs: { type: 'string' }, 'batch-size': { type: 'string' }, 'embed-size': { type: 'string' },
      'word-dim': { type: 'string' }, regions: { type: 'string' }, 'img-dim': { type: 'string' }, lr: { type: 'string' }, seed: { type: 'string' },
      large: { type: 'boolean', default: false }, methods: { type: 'string' },
    },
    strict: true,
  });
  const base = values.large ? { ...DEMO_DEFAULTS, images: 2000, regions: 36, imgDim: 128, embedSize: 256, wordDim: 128, epochs: 10, batchSize: 128 } : DEMO_DEFAULTS;
  const int = (name: string, value: string | undefined, fallback: number, min = 1) => integerFlag('naaf demo', name, value, min) ?? fallback;
  const batchSize = int('batch-size', values['batch-size'], base.batchSize, 2); // the loss and mining compare pairs within a batch
  // (--large: 5e-4 for both, as before the sweep; its sizes were not swept.)
  const learningRate = numberFlag('naaf demo', 'lr', values.lr, true) ?? (values.large ? 5e-4 : undefined);
  const started = performance.now();
  const progress = createProgress();
  const log = (line: string) => {
    progress.done();
    console.log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
  };
  const stop = stopOnSigint('stopping after this training step (saving its checkpoint)');
  const engine = await commandEngine('naaf demo', values, { trains: true });
  log(`${deviceLine(engine)}; the default sizes take a few minutes on 2 CPU cores, much less on a GPU`);
  try {
    const { table, reportPath } = await runDemo(engine, {
      data: values.data!, runs: values.runs!, report: values.report!,
      images: int('images', values.images, base.images), regions: int('regions', values.regions, base.regions), imgDim: int('img-dim', values['img-dim'], base.imgDim),
      seed: int('seed', values.seed, base.seed, 0), epochs: int('epochs', values.epochs, base.epochs), batchSize,
      embedSize: int('embed-size', values['embed-size'], base.embedSize), wordDim: int('word-dim', values['word-dim'], base.wordDim), learningRate,
      methods: values.methods === undefined ? undefined : values.methods.split(',').map((m) => m.trim()) as DemoMethod[],
      log, onStep: (label, done, total) => progress.update(label, done, total), shouldStop: stop.requested,
    });
    progress.done();
    console.log(`\n${table}\n`);
    log(`report: ${reportPath}`);
  } catch (error) {
    if (!(error instanceof DemoStoppedError)) throw error;
    progress.done();
    log(`${error.message}; \`npm start\` trains from the start again (or resume that one: naaf train --resume ${error.checkpoint} ...)`);
    process.exitCode = 130;
  } finally {
    stop.dispose();
    progress.done();
    engine.destroy();
  }
}
