// The learning-rate sweep behind the main job's per-method defaults (src/demo/run.ts): each
// method trained on the main job's scenes data (its default sizes: 300 train images, 10 regions
// x 48 features; 10 epochs, batch 50, embedding 48, word vectors 32) at a few learning rates,
// with and without a warm-up epoch of summed violations; the best dev rsum (the selection
// criterion, as the main job's model_best), the epoch it came at, the last epochs' dev rsum and
// whether any epoch collapsed (loss within 2% of the every-similarity-equal loss).
// Usage: node bench/lr-sweep.mjs [--record] [--runs naaf:2e-3:0,scan-t2i:2e-3:1,...]
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { argValue as value } from './util.mjs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const args = process.argv.slice(2);
const { NaafEngine, runTraining } = await import('../dist/index.js');
// The main job's sizes (DEMO_DEFAULTS in src/demo/run.ts).
const d = { images: 300, regions: 10, imgDim: 48, seed: 0, epochs: 10, batchSize: 50, embedSize: 48, wordDim: 32 };
// --runs method:lr:warmup,... (default: the grid below, what 2 CPU cores train in about 20 minutes).
const runs = value('runs', 'naaf:5e-4:0,naaf:2e-3:0,naaf:2e-3:1,scan-t2i:2e-3:0,scan-t2i:5e-4:1,scan-t2i:2e-3:1')
  .split(',').map((r) => r.split(':')).map(([method, lr, warmup]) => ({ method, learningRate: Number(lr), warmupEpochs: Number(warmup) }));

const root = mkdtempSync(join(tmpdir(), 'naaf-sweep-'));
const data = join(root, 'scenes');
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
// The main job's dataset: the same generator, sizes and seed as `npm start` builds.
execFileSync(process.execPath, [cli, 'scenes', '--out', data, '--images', String(d.images), '--regions', String(d.regions), '--img-dim', String(d.imgDim), '--seed', String(d.seed)], { stdio: 'inherit' });

const engine = await NaafEngine.create({ backend: 'webgpu' }); // it trains
console.log(`device: ${engine.info.description || engine.info.device} (${engine.info.runtime}); Dawn flags: ${engine.info.dawnFlags.join(' ') || 'none'}`);
console.log(`data: scenes ${d.images} train images, ${d.regions} regions x ${d.imgDim}; ${d.epochs} epochs, batch ${d.batchSize}, embed ${d.embedSize}, words ${d.wordDim}`);
const rows = [];
for (const { method, learningRate, warmupEpochs } of runs) {
  {
    {
      const started = performance.now();
      const collapses = [];
      const run = await runTraining(engine, {
        data, out: join(root, `${method}-${learningRate}-${warmupEpochs}`), epochs: d.epochs, batchSize: d.batchSize,
        embedSize: d.embedSize, wordDim: d.wordDim, seed: d.seed, trainer: { method, learningRate, warmupEpochs },
        onEpoch: (e) => { if (e.collapse) collapses.push(e.epoch); },
      });
      const h = run.progress.history;
      const best = h.reduce((a, b) => (b.rsum > a.rsum ? b : a));
      const row = {
        method, learningRate, warmupEpochs, bestRsum: best.rsum, bestEpoch: best.epoch + 1,
        rsums: h.map((e) => e.rsum.toFixed(0)).join(' '), losses: h.map((e) => e.loss.toFixed(2)).join(' '),
        collapsed: collapses.length ? collapses.map((e) => e + 1).join(',') : '-', seconds: (performance.now() - started) / 1000,
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
}
engine.destroy();
const table = [
  '| method | lr | warm-up epochs | best dev rsum (epoch) | dev rsum per epoch | collapse warnings (epochs) | loss per epoch | s |',
  '|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.method} | ${r.learningRate} | ${r.warmupEpochs} | ${r.bestRsum.toFixed(1)} (${r.bestEpoch}) | ${r.rsums} | ${r.collapsed} | ${r.losses} | ${r.seconds.toFixed(0)} |`),
].join('\n');
console.log(`\n${table}`);
if (args.includes('--record')) {
  appendFileSync(new URL('./RESULTS.md', import.meta.url), `\n## ${new Date().toISOString().slice(0, 10)} lr-sweep (bench/lr-sweep.mjs)\n\n`
    + `device: ${engine.info.description || engine.info.device}; scenes ${d.images} train images, ${d.regions} x ${d.imgDim}; ${d.epochs} epochs, batch ${d.batchSize}, embed ${d.embedSize}\n\n${table}\n`);
}
