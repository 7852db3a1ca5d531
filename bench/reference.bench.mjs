// The plain-JavaScript float64 reference against the WebGPU path on a small shape, so a CPU-only
// user sees what the kernels buy even on lavapipe. Built on `benchmark`.
// Usage: node bench/reference.bench.mjs [--record]
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import Benchmark from 'benchmark';
import { NaafEngine, naafSimilarityRef, scanSimilarityRef } from '../dist/index.js';
import { makeInputs } from './shapes.mjs';
import { backendOptions, median } from './util.mjs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const shape = { N: 10, M: 50, R: 36, D: 128 };
const { images, captions: captionChunk, lengths, L } = makeInputs(shape);
const captions = captionChunk();
const batch = { images, captions, lengths, N: shape.N, R: shape.R, M: shape.M, L, D: shape.D };
const engine = await NaafEngine.create(backendOptions());
const gpuImages = { data: images, shape: [shape.N, shape.R, shape.D] };
const gpuCaptions = { data: captions, shape: [shape.M, L, shape.D], lengths };

const cases = [
  ['NAAF', () => naafSimilarityRef(batch, { threshold: 0.2 }), () => engine.similarity(gpuImages, gpuCaptions, { method: 'naaf', threshold: 0.2 })],
  ['SCAN t2i (LSE)', () => scanSimilarityRef(batch, { direction: 't2i' }), () => engine.similarity(gpuImages, gpuCaptions, { method: 'scan-t2i' })],
];

function time(fn, deferred) {
  return new Promise((resolve, reject) => {
    new Benchmark({
      defer: deferred, minSamples: 5, maxTime: 3,
      fn: deferred ? (d) => fn().then(() => d.resolve(), reject) : fn,
      onComplete() { resolve(median(this.stats.sample) * 1000); },
      onError(e) { reject(e.target.error); },
    }).run({ async: true });
  });
}

const words = lengths.reduce((a, b) => a + b, 0);
const flop = 2 * words * shape.N * shape.R * shape.D;
const rows = [];
for (const [label, cpu, gpu] of cases) {
  await gpu(); // compile
  const cpuMs = await time(cpu, false);
  const gpuMs = await time(gpu, true);
  rows.push(`| ${label} | ${cpuMs.toFixed(1)} | ${gpuMs.toFixed(1)} | ${(flop / (gpuMs / 1000) / 1e9).toFixed(2)} | ${(cpuMs / gpuMs).toFixed(1)}x |`);
}
const info = engine.info;
const lines = [
  `device: ${info.description || info.device} (${info.runtime}); dawn flags: ${info.dawnFlags.join(' ') || '(none)'}`,
  `shape: N=${shape.N} x M=${shape.M}, R=${shape.R}, D=${shape.D}, words=${words}; GPU timed from CPU arrays to CPU result (upload and readback included)`,
  '',
  '| method | float64 JS reference ms (median) | WebGPU ms (median) | WebGPU GFLOP/s | speed-up |',
  '|---|---|---|---|---|',
  ...rows,
];
console.log(lines.join('\n'));
if (process.argv.includes('--record')) {
  const path = new URL('./RESULTS.md', import.meta.url);
  if (!existsSync(path)) writeFileSync(path, '# Benchmark results\n');
  appendFileSync(path, `\n## ${new Date().toISOString().slice(0, 10)} reference vs WebGPU\n\n${lines.join('\n')}\n`);
}
engine.destroy();
