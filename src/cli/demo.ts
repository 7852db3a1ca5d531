// `naaf demo` (what `npm start` runs): the scenes dataset, NAAF and SCAN t2i trained on it,
// the comparison table and report/index.html. Sizes default to a few minutes on 2 CPU cores.
import { parseArgs } from 'node:util';
import { DEMO_DEFAULTS, runDemo } from '../demo/run.js';
import { NaafEngine } from '../engine.js';
import { createProgress } from './progress.js';

export const DEMO_USAGE = `naaf demo [--data data/scenes] [--report report] [--images ${DEMO_DEFAULTS.images}] [--epochs ${DEMO_DEFAULTS.epochs}]
          [--batch-size ${DEMO_DEFAULTS.batchSize}] [--embed-size ${DEMO_DEFAULTS.embedSize}] [--word-dim ${DEMO_DEFAULTS.wordDim}]
          [--regions ${DEMO_DEFAULTS.regions}] [--img-dim ${DEMO_DEFAULTS.imgDim}] [--lr ${DEMO_DEFAULTS.learningRate}] [--seed 0] [--large]
  --large: 2000 train images, 36 regions x 128 features, embed 256, 10 epochs (for a GPU).`;

export async function runDemoCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string', default: 'data/scenes' }, report: { type: 'string', default: 'report' }, runs: { type: 'string', default: 'data/runs' },
      images: { type: 'string' }, epochs: { type: 'string' }, 'batch-size': { type: 'string' }, 'embed-size': { type: 'string' },
      'word-dim': { type: 'string' }, regions: { type: 'string' }, 'img-dim': { type: 'string' }, lr: { type: 'string' }, seed: { type: 'string' },
      large: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const base = values.large ? { ...DEMO_DEFAULTS, images: 2000, regions: 36, imgDim: 128, embedSize: 256, wordDim: 128, epochs: 10, batchSize: 128, learningRate: 5e-4 } : DEMO_DEFAULTS;
  const num = (name: string, value: string | undefined, fallback: number) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`naaf demo: --${name} must be a positive number, got ${value}`);
    return n;
  };
  const started = performance.now();
  const progress = createProgress();
  const log = (line: string) => {
    progress.done();
    console.log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
  };
  const engine = await NaafEngine.create();
  log(`device: ${engine.info.description || engine.info.device} (${engine.info.runtime}); the default sizes take a few minutes on 2 CPU cores, much less on a GPU`);
  try {
    const { table, reportPath } = await runDemo(engine, {
      data: values.data!, runs: values.runs!, report: values.report!,
      images: num('images', values.images, base.images), regions: num('regions', values.regions, base.regions), imgDim: num('img-dim', values['img-dim'], base.imgDim),
      seed: num('seed', values.seed, base.seed + 1) - 1, epochs: num('epochs', values.epochs, base.epochs), batchSize: num('batch-size', values['batch-size'], base.batchSize),
      embedSize: num('embed-size', values['embed-size'], base.embedSize), wordDim: num('word-dim', values['word-dim'], base.wordDim), learningRate: num('lr', values.lr, base.learningRate),
      log, onStep: (label, done, total) => progress.update(label, done, total),
    });
    progress.done();
    console.log(`\n${table}\n`);
    log(`report: ${reportPath}`);
  } finally {
    progress.done();
    engine.destroy();
  }
}
