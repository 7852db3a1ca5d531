// NAAF vs SCAN similarity benchmark (built on `benchmark`): time from inputs resident on the
// GPU to the N x M result on the GPU, upload and readback timed apart.
// Usage: node bench/similarity.bench.mjs [--shape demo|quick|f30k|coco5k] [--tune] [--int8]
//          [--accuracy] [--sweep] [--samples N] [--unsafe] [--methods naaf] [--record]
//   --tune      engine.tune() the tile on a slice of the shape first (table of candidates)
//   --int8      also time the opt-in int8 path (tensor cores where offered)
//   --accuracy  int8 and float16-rounded inputs against f32: max abs error, unchanged top-10 share
//   --sweep     NAAF at 1/16, 1/4 and all of N x M (pairs/s should grow, then level off)
//   --samples   fixed timed runs per method instead of Benchmark.js's adaptive count
//   --unsafe    Dawn flag enable-dawn-features=allow_unsafe_apis (subgroup matrices)
//   --compare-dot4  with tensor cores, also time the portable int8 dot4 kernel
//   --tile-cache FILE  load (and, with --tune, save) tuned tiles for this adapter
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import Benchmark from 'benchmark';
import { NaafEngine } from '../dist/index.js';
import { compareRankings, f16Rounded } from './accuracy.mjs';
import { SHAPES, makeInputs } from './shapes.mjs';
import { median, storageBuffer } from './util.mjs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const value = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const shapeName = flag('quick') ? 'quick' : value('shape', 'quick');
const shape = SHAPES[shapeName];
if (!shape) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(', ')}, got ${shapeName}`);
const samplesWanted = value('samples', '') ? Number(value('samples')) : 0;
const dawnFlags = [...(value('dawn-flags', '') ? value('dawn-flags').split(' ') : []), ...(flag('unsafe') ? ['enable-dawn-features=allow_unsafe_apis'] : [])];
const onlyMethods = value('methods', '') ? value('methods').split(',') : null;

const lines = [];
const outFile = process.env.OUT ? `${process.env.OUT}/similarity-${shapeName}.md` : null;
function log(...text) {
  for (const line of text) {
    lines.push(line);
    console.log(line);
    if (outFile) appendFileSync(outFile, line + '\n');
  }
}
async function stage(name, body) {
  try {
    await body();
  } catch (error) {
    log(`(${name} failed: ${String(error.message ?? error).split('\n').slice(0, 3).join(' | ')})`);
  }
}

const tileCacheFile = value('tile-cache', '') || undefined;
const engine = await NaafEngine.create({ dawnFlags, tileCacheFile });
const device = engine.device;
const int8Kernel = await engine.int8Product();
const { N, M, R, D } = shape;
const { images, captions: captionChunk, lengths, L } = makeInputs(shape);
const wordTotal = lengths.reduce((a, b) => a + b, 0);
const flop = 2 * wordTotal * N * R * D;

const storage = (data) => storageBuffer(device, data);

// Captions go up in chunks that each fit one buffer (coco5k's padded captions are ~3 GB); each
// chunk's scores land in their own N x chunk result, so timing covers the full N x M.
const captionsPerChunk = Math.max(1, Math.floor(Math.min(device.limits.maxBufferSize, 2 ** 31) / (L * D * 4)));
let t0 = performance.now();
const imageBuffer = storage(images);
const chunks = [];
for (let m0 = 0; m0 < M; m0 += captionsPerChunk) {
  const count = Math.min(captionsPerChunk, M - m0);
  const data = captionChunk(m0, count);
  chunks.push({
    data: chunks.length === 0 && M <= captionsPerChunk ? data : null, // kept for --accuracy (one chunk only)
    captions: { buffer: storage(data), shape: [count, L, D], lengths: lengths.subarray(m0, m0 + count) },
    out: device.createBuffer({ size: N * count * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }),
  });
}
await device.queue.onSubmittedWorkDone();
const uploadMs = performance.now() - t0; // includes generating the captions on the CPU
const gpuImages = { buffer: imageBuffer, shape: [N, R, D] };

const info = engine.info;
log(
  `device: ${info.description || info.device || info.vendor} (${info.runtime}; vendor ${info.vendor}, architecture ${info.architecture}; subgroups ${info.subgroupMinSize}-${info.subgroupMaxSize})`,
  `dawn flags: ${info.dawnFlags.length ? info.dawnFlags.join(' ') : '(none)'}; features: ${info.features.join(', ')}; int8 product: ${int8Kernel ?? 'none'}`,
  `shape ${shapeName}: N=${N} images x M=${M} captions, R=${R}, D=${D}, L=${L}, words=${wordTotal} (mean ${(wordTotal / M).toFixed(1)}); ` +
  `word-region products ${(flop / 1e12).toFixed(2)} TFLOP; captions in ${chunks.length} chunk(s)`,
  `generate + upload ${uploadMs.toFixed(1)} ms`,
);

const fmtTile = (tile) => (Object.keys(tile).length ? JSON.stringify(tile) : '{} (limits only)');
if (flag('tune')) {
  await stage('tune', async () => {
    const slice = { R, L, D, images: Math.min(N, 200), captions: Math.min(M, 1000) };
    const runs = [
      ['naaf', 'f32'], ['scan-t2i', 'f32'], ['scan-i2t', 'f32'],
      ...(flag('int8') && int8Kernel ? [['naaf', 'int8'], ['scan-t2i', 'int8']] : []),
      ...(flag('int8') && int8Kernel === 'subgroup-matrix' && flag('compare-dot4') ? [['naaf', 'int8-dot4']] : []),
    ]
      .filter(([method]) => !onlyMethods || onlyMethods.includes(method));
    for (const [method, precision] of runs) {
      await stage(`tune ${method} ${precision}`, async () => {
        const result = await engine.tune(slice, { method, precision });
        log('', `tile tuning, ${method} ${precision}, ${slice.images} x ${slice.captions} slice: best ${fmtTile(result.best)}`, '', '| tile | median ms |', '|---|---|',
          ...result.timings.map((t) => `| ${fmtTile(t.tile)} | ${Number.isFinite(t.ms) ? t.ms.toFixed(2) : `failed: ${t.error}`} |`));
      });
    }
  });
}

const METHODS = [
  ['NAAF', { method: 'naaf', threshold: 0.2 }],
  ['SCAN t2i (LSE)', { method: 'scan-t2i' }],
  ['SCAN i2t (LSE)', { method: 'scan-i2t' }],
  ...(flag('int8') && int8Kernel ? [
    [`NAAF int8 (${int8Kernel})`, { method: 'naaf', threshold: 0.2, precision: 'int8' }],
    [`SCAN t2i int8 (${int8Kernel})`, { method: 'scan-t2i', precision: 'int8' }],
    ...(int8Kernel === 'subgroup-matrix' && flag('compare-dot4') ? [['NAAF int8 (dot4)', { method: 'naaf', threshold: 0.2, precision: 'int8-dot4' }]] : []),
  ] : []),
].filter(([, o]) => !onlyMethods || onlyMethods.includes(o.method));

async function runOnce(options) {
  for (const chunk of chunks) await engine.similarityInto(gpuImages, chunk.captions, options, { buffer: chunk.out });
  await device.queue.onSubmittedWorkDone();
}
/** Compiles the pipelines on a small slice, so a big shape is not run once just to warm up. */
async function warmUpOnSlice(options) {
  const m = Math.min(chunks[0].captions.shape[0], 64);
  const sub = { buffer: chunks[0].captions.buffer, shape: [m, L, D], lengths: lengths.subarray(0, m) };
  await engine.similarityInto({ buffer: imageBuffer, shape: [Math.min(N, 16), R, D] }, sub, options, { buffer: chunks[0].out });
  await device.queue.onSubmittedWorkDone();
}

async function timeMethod(label, options) {
  if (samplesWanted > 0) {
    const samples = [];
    for (let i = 0; i < samplesWanted; i++) {
      const t = performance.now();
      await runOnce(options);
      samples.push(performance.now() - t);
    }
    return samples;
  }
  return new Promise((resolve, reject) => {
    new Benchmark(label, {
      defer: true, minSamples: 5, maxTime: shapeName === 'demo' ? 1 : 3, initCount: 1,
      fn: (deferred) => runOnce(options).then(() => deferred.resolve(), reject),
      onComplete() { resolve(this.stats.sample.map((s) => s * 1000)); },
      onError(e) { reject(e.target.error); },
    }).run({ async: true });
  });
}

const rows = [];
for (const [label, options] of METHODS) {
  await stage(label, async () => {
    await warmUpOnSlice(options);
    if (samplesWanted === 0) await runOnce(options); // and once at full size, where runs are short enough to repeat
    const samples = await timeMethod(label, options);
    rows.push({ label, medianMs: median(samples), minMs: Math.min(...samples), samples: samples.length });
  });
}

const scan = rows.find((r) => r.label.startsWith('SCAN t2i (LSE)')) ?? rows[0];
if (rows.length) {
  log('', '| method | median ms | min ms | samples | pairs/s | GFLOP/s | time / SCAN t2i |', '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.label} | ${r.medianMs.toFixed(2)} | ${r.minMs.toFixed(2)} | ${r.samples} | ${((N * M) / (r.medianMs / 1000)).toExponential(3)} | ${(flop / (r.medianMs / 1000) / 1e9).toFixed(1)} | ${(r.medianMs / scan.medianMs).toFixed(2)} |`));
}

if (N * M <= 2e7) await stage('readback', async () => {
  t0 = performance.now();
  for (const chunk of chunks) await engine.similarity(gpuImages, chunk.captions, METHODS[0][1]);
  const withReadbackMs = performance.now() - t0;
  const stats = engine.stats();
  const peakBytes = stats.bytesAllocated + images.byteLength + chunks.reduce((a, c) => a + c.captions.shape[0] * L * D * 4 + N * c.captions.shape[0] * 4, 0);
  log('', `${METHODS[0][0]} with readback ${withReadbackMs.toFixed(1)} ms; GPU memory: inputs + results + engine buffers ~${(peakBytes / 2 ** 30).toFixed(2)} GiB ` +
    `(engine ${(stats.bytesAllocated / 2 ** 20).toFixed(1)} MiB, bounded by its chunking)`);
});

if (flag('accuracy')) {
  await stage('accuracy', async () => {
    if (!chunks[0].data) throw new Error('needs the captions in one chunk');
    const captions = chunks[0].captions;
    const base = { method: 'naaf', threshold: 0.2 };
    const reference = await engine.similarity(gpuImages, captions, base);
    const variants = [];
    if (int8Kernel) {
      await stage('int8 accuracy', async () => {
        const auto = await engine.similarity(gpuImages, captions, { ...base, precision: 'int8' });
        variants.push([`int8 (${int8Kernel})`, auto]);
        if (int8Kernel === 'subgroup-matrix') {
          const dot4 = await engine.similarity(gpuImages, captions, { ...base, precision: 'int8-dot4' });
          let differing = 0;
          for (let i = 0; i < dot4.length; i++) if (dot4[i] !== auto[i]) differing++;
          log('', `int8 subgroup-matrix vs int8 dot4 (must be bit-identical): ${differing} of ${dot4.length} entries differ`);
        }
      });
    }
    const halfImages = { buffer: storage(f16Rounded(images)), shape: [N, R, D] };
    const halfCaptions = { ...captions, buffer: storage(f16Rounded(chunks[0].data)) };
    await stage('f16 accuracy', async () => {
      variants.push(['float16-rounded inputs (f16 storage)', await engine.similarity(halfImages, halfCaptions, base)]);
    });
    halfImages.buffer.destroy();
    halfCaptions.buffer.destroy();
    log('', `accuracy against f32 NAAF on this data (${N} x ${M}):`, '', '| variant | max abs error | t2i queries with unchanged top-10 | i2t queries with unchanged top-10 |', '|---|---|---|---|');
    for (const [label, sims] of variants) {
      const c = compareRankings(reference, sims, N, M, 10);
      log(`| ${label} | ${c.maxAbs.toExponential(2)} | ${(100 * c.t2iUnchanged).toFixed(2)}% | ${(100 * c.i2tUnchanged).toFixed(2)}% |`);
    }
  });
}

if (flag('sweep')) {
  await stage('sweep', async () => {
    const sweepMethods = [METHODS[0], ...METHODS.filter(([l]) => l.startsWith('NAAF int8'))];
    for (const [label, options] of sweepMethods) {
      log('', `| ${label} sweep: N x M | median ms | pairs/s |`, '|---|---|---|');
      for (const scale of [0.1, 0.25, 0.5, 1]) {
        const n = Math.max(1, Math.round(N * scale));
        const m = Math.min(chunks[0].captions.shape[0], Math.max(1, Math.round(M * scale)));
        const sub = {
          images: { buffer: imageBuffer, shape: [n, R, D] },
          captions: { buffer: chunks[0].captions.buffer, shape: [m, L, D], lengths: lengths.subarray(0, m) },
        };
        const times = [];
        for (let i = 0; i < 4; i++) {
          const t = performance.now();
          await engine.similarityInto(sub.images, sub.captions, options, { buffer: chunks[0].out });
          await device.queue.onSubmittedWorkDone();
          times.push(performance.now() - t);
        }
        const ms = median(times.slice(1));
        log(`| ${n} x ${m} | ${ms.toFixed(2)} | ${((n * m) / (ms / 1000)).toExponential(3)} |`);
      }
    }
  });
}

if (flag('record')) {
  const path = new URL('./RESULTS.md', import.meta.url);
  if (!existsSync(path)) writeFileSync(path, '# Benchmark results\n\nAppended by `node bench/similarity.bench.mjs --record`.\n');
  appendFileSync(path, `\n## ${new Date().toISOString().slice(0, 10)} ${shapeName}\n\n${lines.join('\n')}\n`);
}
imageBuffer.destroy();
for (const chunk of chunks) { chunk.captions.buffer.destroy(); chunk.out.destroy(); }
engine.destroy();
