// NAAF vs SCAN similarity benchmark (built on `benchmark`): time from inputs resident on the
// GPU to the N x M result on the GPU, upload and readback timed apart.
// Usage: node bench/similarity.bench.mjs [--shape demo|quick|f30k|coco5k] [--sweep] [--record]
// --sweep adds NAAF at 1/16, 1/4 and all of N x M (pairs/s should grow with N*M, then level off).
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import Benchmark from 'benchmark';
import { NaafEngine } from '../dist/index.js';
import { SHAPES, makeInputs } from './shapes.mjs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const value = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const shapeName = flag('quick') ? 'quick' : value('shape', 'quick');
const shape = SHAPES[shapeName];
if (!shape) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(', ')}, got ${shapeName}`);
const dawnFlags = value('dawn-flags', '') ? value('dawn-flags', '').split(' ') : [];

const METHODS = [
  ['NAAF', { method: 'naaf', threshold: 0.2 }],
  ['SCAN t2i (LSE)', { method: 'scan-t2i' }],
  ['SCAN i2t (LSE)', { method: 'scan-i2t' }],
];

const engine = await NaafEngine.create({ dawnFlags });
const device = engine.device;
const { N, M, R, D } = shape;
const { images, captions, lengths, L } = makeInputs(shape);
const wordTotal = lengths.reduce((a, b) => a + b, 0);
const flop = 2 * wordTotal * N * R * D;

function storage(data) {
  const buffer = device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buffer, 0, data);
  return buffer;
}

// Captions go up in chunks that each fit one buffer (coco5k's padded captions are ~6 GB); each
// chunk's scores land in their own N x chunk result, so timing covers the full N x M.
const captionChunk = Math.max(1, Math.floor(Math.min(device.limits.maxBufferSize, 2 ** 31) / (L * D * 4)));
let t0 = performance.now();
const imageBuffer = storage(images);
const chunks = [];
for (let m0 = 0; m0 < M; m0 += captionChunk) {
  const count = Math.min(captionChunk, M - m0);
  chunks.push({
    captions: { buffer: storage(captions.subarray(m0 * L * D, (m0 + count) * L * D)), shape: [count, L, D], lengths: lengths.subarray(m0, m0 + count) },
    out: device.createBuffer({ size: N * count * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }),
  });
}
await device.queue.onSubmittedWorkDone();
const uploadMs = performance.now() - t0;
const captionBuffer = chunks[0].captions.buffer;
const out = chunks[0].out;
const gpuImages = { buffer: imageBuffer, shape: [N, R, D] };

async function runOnce(options) {
  for (const chunk of chunks) await engine.similarityInto(gpuImages, chunk.captions, options, { buffer: chunk.out });
  await device.queue.onSubmittedWorkDone();
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const h = s.length >> 1; return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2; };
const rows = [];
for (const [label, options] of METHODS) {
  await runOnce(options); // compile and warm up
  const samples = await new Promise((resolve, reject) => {
    new Benchmark(label, {
      defer: true, minSamples: 5, maxTime: shapeName === 'demo' ? 1 : 3, initCount: 1,
      fn: (deferred) => runOnce(options).then(() => deferred.resolve(), reject),
      onComplete() { resolve(this.stats.sample.map((s) => s * 1000)); },
      onError(e) { reject(e.target.error); },
    }).run({ async: true });
  });
  rows.push({ label, medianMs: median(samples), minMs: Math.min(...samples), samples: samples.length });
}

t0 = performance.now();
for (const chunk of chunks) await engine.similarity(gpuImages, chunk.captions, METHODS[0][1]);
const withReadbackMs = performance.now() - t0;
const peakBytes = engine.stats().bytesAllocated + images.byteLength + captions.byteLength + N * M * 4;

const info = engine.info;
const scan = rows.find((r) => r.label.startsWith('SCAN t2i'));
const lines = [
  `device: ${info.description || info.device || info.vendor} (${info.runtime}; vendor ${info.vendor}, architecture ${info.architecture})`,
  `dawn flags: ${info.dawnFlags.length ? info.dawnFlags.join(' ') : '(none)'}; features: ${info.features.join(', ')}`,
  `shape ${shapeName}: N=${N} images x M=${M} captions, R=${R}, D=${D}, L=${L}, words=${wordTotal} (mean ${(wordTotal / M).toFixed(1)})`,
  `upload ${uploadMs.toFixed(1)} ms; NAAF with readback ${withReadbackMs.toFixed(1)} ms (readback ${(withReadbackMs - rows[0].medianMs).toFixed(1)} ms more); peak GPU bytes ~${(peakBytes / 2 ** 20).toFixed(1)} MiB; captions in ${chunks.length} chunk(s)`,
  '',
  '| method | median ms | min ms | samples | pairs/s | GFLOP/s | time / SCAN t2i |',
  '|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.label} | ${r.medianMs.toFixed(2)} | ${r.minMs.toFixed(2)} | ${r.samples} | ${((N * M) / (r.medianMs / 1000)).toExponential(3)} | ${(flop / (r.medianMs / 1000) / 1e9).toFixed(2)} | ${(r.medianMs / scan.medianMs).toFixed(2)} |`),
];
if (flag('sweep')) {
  lines.push('', '| NAAF sweep: N x M | median ms | pairs/s |', '|---|---|---|');
  for (const scale of [0.25, 0.5, 1]) {
    const n = Math.max(1, Math.round(N * scale));
    const m = Math.min(chunks[0].captions.shape[0], Math.max(1, Math.round(M * scale)));
    const sub = {
      images: { buffer: imageBuffer, shape: [n, R, D] },
      captions: { buffer: captionBuffer, shape: [m, L, D], lengths: lengths.subarray(0, m) },
    };
    const times = [];
    for (let i = 0; i < 4; i++) {
      const t = performance.now();
      await engine.similarityInto(sub.images, sub.captions, METHODS[0][1], { buffer: out });
      await device.queue.onSubmittedWorkDone();
      times.push(performance.now() - t);
    }
    const ms = median(times.slice(1));
    lines.push(`| ${n} x ${m} | ${ms.toFixed(2)} | ${((n * m) / (ms / 1000)).toExponential(3)} |`);
  }
}
console.log(lines.join('\n'));
if (flag('record')) {
  const path = new URL('./RESULTS.md', import.meta.url);
  if (!existsSync(path)) writeFileSync(path, '# Benchmark results\n\nAppended by `node bench/similarity.bench.mjs --record`.\n');
  appendFileSync(path, `\n## ${new Date().toISOString().slice(0, 10)} ${shapeName}\n\n${lines.join('\n')}\n`);
}
imageBuffer.destroy();
for (const chunk of chunks) { chunk.captions.buffer.destroy(); chunk.out.destroy(); }
engine.destroy();
