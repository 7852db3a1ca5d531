// Training steps per second (forward, backward, clipping, Adam) for NAAF and SCAN t2i, built on
// `benchmark`. Full sizes (batch 128, 2048-d regions, 1024-d embeddings, 300-d words, 8481 words)
// with --full; --mid (256-d regions and embeddings) for a CPU driver; --demo the main job's
// (npm start: batch 50, 10 regions, 48-d); small ones by default.
// --profile: each kernel's GPU time in one step (timestamp queries), with its share.
// --baseline PATH: also times another build (e.g. the previous commit's dist/index.js) in this
// run, interleaved with this one's, and prints each method's time against it.
// Usage: node bench/train.bench.mjs [--full | --mid | --demo] [--profile] [--dist PATH] [--baseline PATH] [--record]
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import Benchmark from 'benchmark';
import { captionLengths, rng } from './shapes.mjs';
import { argValue as value, median } from './util.mjs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const args = process.argv.slice(2);
// --dist: another build of the package (e.g. the previous commit's) to compare on the same machine
const { NaafEngine, formatKernelTimes, initialState } = await import(value('dist', '../dist/index.js'));
const full = args.includes('--full');
const mid = args.includes('--mid');
const demo = args.includes('--demo');
const profile = args.includes('--profile');
const shape = full
  ? { B: 128, R: 36, imgDim: 2048, embedSize: 1024, wordDim: 300, vocabSize: 8481 }
  : mid ? { B: 128, R: 36, imgDim: 256, embedSize: 256, wordDim: 64, vocabSize: 2000 }
    : demo ? { B: 50, R: 10, imgDim: 48, embedSize: 48, wordDim: 32, vocabSize: 39 } // the main job's (npm start)
    : { B: 128, R: 12, imgDim: 64, embedSize: 64, wordDim: 32, vocabSize: 500 };

const engine = await NaafEngine.create({ backend: 'webgpu' }); // it trains
const profiler = profile ? await NaafEngine.create({ backend: 'webgpu', profile: true }) : null;
const baselinePath = value('baseline', null);
const baseline = baselinePath ? await import(baselinePath) : null;
const baselineEngine = baseline ? await baseline.NaafEngine.create({ backend: 'webgpu' }) : null; // (a build before backends ignores the option)
const next = rng(5);
const lengths = captionLengths(shape.B, 9);
const L = Math.max(...lengths);
const batch = {
  regionFeats: { data: Float32Array.from({ length: shape.B * shape.R * shape.imgDim }, () => next() * 2), shape: [shape.B, shape.R, shape.imgDim] },
  tokenIds: { ids: Int32Array.from({ length: shape.B * L }, () => 4 + Math.floor(next() * (shape.vocabSize - 4))), shape: [shape.B, L], lengths },
};
const words = lengths.reduce((a, b) => a + b, 0);
// Word-region products of the similarity: forward once, backward recomputes and forms dU, dV.
const simFlop = 2 * words * shape.B * shape.R * shape.embedSize * 4;
const fcFlop = 2 * shape.B * shape.R * shape.imgDim * shape.embedSize * 2;

/** Median ms of a training step (after one to compile), by benchmark.js. */
async function timeSteps(eng, init, config, method) {
  const model = eng.createModel(init(config, 1), config);
  const trainer = await eng.createTrainer(model, { method });
  await trainer.step(batch); // compile and warm up
  const samples = await new Promise((resolve, reject) => {
    new Benchmark(method, {
      defer: true, minSamples: 5, maxTime: full ? 10 : 4, initCount: 1,
      fn: (deferred) => trainer.step(batch).then(() => deferred.resolve(), reject),
      onComplete() { resolve(this.stats.sample.map((s) => s * 1000)); },
      onError(e) { reject(e.target.error); },
    }).run({ async: true });
  });
  trainer.destroy();
  model.destroy();
  return median(samples);
}

const rows = [];
for (const method of ['naaf', 'scan-t2i']) {
  const config = { imgDim: shape.imgDim, embedSize: shape.embedSize, wordDim: shape.wordDim, vocabSize: shape.vocabSize, textEncoder: 'basic', threshold: 0, lambdaSoftmax: 20 };
  const ms = await timeSteps(engine, initialState, config, method);
  const baselineMs = baselineEngine ? await timeSteps(baselineEngine, baseline.initialState, config, method) : null;
  rows.push({ method, ms, baselineMs });
  if (profiler) {
    const profiledModel = profiler.createModel(initialState(config, 1), config);
    const profiled = await profiler.createTrainer(profiledModel, { method });
    await profiled.step(batch); // compile
    await profiler.kernelTimes();
    await profiled.step(batch);
    rows[rows.length - 1].profile = await profiler.kernelTimes();
    profiled.destroy();
    profiledModel.destroy();
  }
}
const info = engine.info;
const lines = [
  `device: ${info.description || info.device || info.vendor} (${info.runtime}); dawn flags: ${info.dawnFlags.join(' ') || '(none)'}`,
  `training step shape: batch ${shape.B}, R ${shape.R}, imgDim ${shape.imgDim}, embed ${shape.embedSize}, wordDim ${shape.wordDim}, vocab ${shape.vocabSize}, L ${L} (mean ${(words / shape.B).toFixed(1)} words)`,
  '',
  ...(baseline ? [`baseline: ${baselinePath}`, ''] : []),
  `| method | median step ms | steps/s | samples/s | GFLOP/s (FC + similarity products) | time / SCAN t2i |${baseline ? ' baseline step ms | time / baseline |' : ''}`,
  `|---|---|---|---|---|---|${baseline ? '---|---|' : ''}`,
  ...rows.map((r) => `| ${r.method} | ${r.ms.toFixed(1)} | ${(1000 / r.ms).toFixed(2)} | ${((shape.B * 1000) / r.ms).toFixed(0)} | ${((simFlop + fcFlop) / (r.ms / 1000) / 1e9).toFixed(2)} | ${(r.ms / rows[1]?.ms || 1).toFixed(2)} |` +
    (baseline ? ` ${r.baselineMs.toFixed(1)} | ${(r.ms / r.baselineMs).toFixed(2)} |` : '')),
];
for (const r of rows.filter((row) => row.profile)) {
  lines.push('', `${r.method}: GPU time per kernel in one step (one timestamped pass per dispatch)`, '', formatKernelTimes(r.profile));
}
console.log(lines.join('\n'));
if (args.includes('--record')) {
  const path = new URL('./RESULTS.md', import.meta.url);
  if (!existsSync(path)) writeFileSync(path, '# Benchmark results\n');
  appendFileSync(path, `\n## ${new Date().toISOString().slice(0, 10)} training${full ? ' (full sizes)' : ''}\n\n${lines.join('\n')}\n`);
}
engine.destroy();
profiler?.destroy();
baselineEngine?.destroy();
