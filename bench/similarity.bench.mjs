// NAAF vs SCAN similarity benchmark (built on `benchmark`): time from inputs resident on the
// GPU to the N x M result on the GPU, upload and readback timed apart; every variant of the
// kernel (fused, split) and precision (f32, f16, int8), the split / fused ratio, and optionally
// the per-kernel GPU profile, Dawn toggles, exact top-k from low precision, accuracy and tuning.
// Usage: node bench/similarity.bench.mjs [--shape demo|quick|f30k|coco5k] [--kernels split,fused]
//          [--f16] [--int8] [--methods naaf,scan-t2i,scan-i2t,chan] [--samples N] [--unsafe]
//          [--profile] [--toggles] [--exact] [--accuracy] [--tune] [--sweep] [--record]
//   --kernels   score kernels to time (default split,fused)
//   --f16 / --int8  also time precision 'f16' / 'int8' (int8: tensor cores where offered)
//   --compare-dot4  with tensor cores, also time the portable int8 dot4 kernel
//   --profile   each variant's GPU time per kernel (timestamp queries), one run each
//   --toggles   the same variants on a second engine with Dawn's disable_robustness and
//               disable_workgroup_init, as a ratio
//   --exact     topK (k 10, t2i) in f32, in low precision, and low precision with exact: true
//   --accuracy  f16 and int8 against f32: max abs error, unchanged top-10 share
//   --tune      engine.tune() kernel and tile on a slice of the shape first
//   --sweep     NAAF at 1/10 .. all of N x M (pairs/s should grow, then level off)
//   --samples   fixed timed runs per variant instead of Benchmark.js's adaptive count
//   --unsafe    Dawn flag enable-dawn-features=allow_unsafe_apis (subgroup matrices)
//   --dawn-flags "..."  more Dawn flags;  --tile-cache FILE  tuned choices for this adapter
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import Benchmark from 'benchmark';
import { NaafEngine, formatKernelTimes, methodNames, methodSpec } from '../dist/index.js';
import { compareRankings, sameTopK } from './accuracy.mjs';
import { SHAPES, makeInputs } from './shapes.mjs';
import { argValue as value, median, storageBuffer } from './util.mjs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const shapeName = flag('quick') ? 'quick' : value('shape', 'quick');
const shape = SHAPES[shapeName];
if (!shape) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(', ')}, got ${shapeName}`);
const samplesWanted = value('samples', '') ? Number(value('samples')) : 0;
// --unsafe: subgroup matrices (tensor cores), and shader-f16 on NVIDIA where Dawn hides it.
const dawnFlags = [...(value('dawn-flags', '') ? value('dawn-flags').split(' ') : []), ...(flag('unsafe') ? ['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia'] : [])];
const TOGGLES = 'enable-dawn-features=disable_robustness,disable_workgroup_init';
const onlyMethods = value('methods', '') ? value('methods').split(',') : null;
const kernels = value('kernels', 'split,fused').split(',');

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

const { N, M, R, D } = shape;
const { images, captions: captionChunk, lengths, L } = makeInputs(shape);
const wordTotal = lengths.reduce((a, b) => a + b, 0);
const flop = 2 * wordTotal * N * R * D;

/**
 * An engine with the inputs uploaded to it: captions in chunks that each fit one buffer
 * (coco5k's padded captions are ~3 GB); each chunk's scores land in their own N x chunk result.
 */
async function makeWorld(options) {
  const engine = await NaafEngine.create({ backend: 'webgpu', ...options });
  const device = engine.device;
  const captionsPerChunk = Math.max(1, Math.floor(Math.min(device.limits.maxBufferSize, 2 ** 31) / (L * D * 4)));
  const t0 = performance.now();
  const imageBuffer = storageBuffer(device, images);
  const chunks = [];
  for (let m0 = 0; m0 < M; m0 += captionsPerChunk) {
    const count = Math.min(captionsPerChunk, M - m0);
    const data = captionChunk(m0, count);
    chunks.push({
      data: chunks.length === 0 && M <= captionsPerChunk ? data : null, // kept for --accuracy (one chunk only)
      captions: { buffer: storageBuffer(device, data), shape: [count, L, D], lengths: lengths.subarray(m0, m0 + count) },
      out: device.createBuffer({ size: N * count * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }),
    });
  }
  await device.queue.onSubmittedWorkDone();
  const uploadMs = performance.now() - t0; // includes generating the captions on the CPU
  const world = {
    engine, device, chunks, uploadMs, gpuImages: { buffer: imageBuffer, shape: [N, R, D] },
    async runOnce(opts) {
      for (const chunk of chunks) await engine.similarityInto(world.gpuImages, chunk.captions, opts, { buffer: chunk.out });
      await device.queue.onSubmittedWorkDone();
    },
    /** Compiles the pipelines on a small slice, so a big shape is not run once just to warm up. */
    async warmUp(opts) {
      const m = Math.min(chunks[0].captions.shape[0], 64);
      const sub = { buffer: chunks[0].captions.buffer, shape: [m, L, D], lengths: lengths.subarray(0, m) };
      await engine.similarityInto({ buffer: imageBuffer, shape: [Math.min(N, 16), R, D] }, sub, opts, { buffer: chunks[0].out });
      await device.queue.onSubmittedWorkDone();
    },
    destroy() {
      imageBuffer.destroy();
      for (const chunk of chunks) { chunk.captions.buffer.destroy(); chunk.out.destroy(); }
      engine.destroy();
    },
  };
  return world;
}

const world = await makeWorld({ dawnFlags, tileCacheFile: value('tile-cache', '') || undefined });
const { engine } = world;
const int8Kernel = await engine.int8Product();
const info = engine.info;
log(
  `device: ${info.description || info.device || info.vendor} (${info.runtime}; vendor ${info.vendor}, architecture ${info.architecture}; subgroups ${info.subgroupMinSize}-${info.subgroupMaxSize})`,
  `dawn flags: ${info.dawnFlags.length ? info.dawnFlags.join(' ') : '(none)'}; features: ${info.features.join(', ')}; int8 product: ${int8Kernel ?? 'none'}`,
  `shape ${shapeName}: N=${N} images x M=${M} captions, R=${R}, D=${D}, L=${L}, words=${wordTotal} (mean ${(wordTotal / M).toFixed(1)}); ` +
  `word-region products ${(flop / 1e12).toFixed(3)} TFLOP; captions in ${world.chunks.length} chunk(s)`,
  `generate + upload ${world.uploadMs.toFixed(1)} ms`,
);

const fmtChoice = (c) => `${c.kernel} ${Object.keys(c.tile).length ? JSON.stringify(c.tile) : '{}'}`;
if (flag('tune')) {
  await stage('tune', async () => {
    const slice = { R, L, D, images: Math.min(N, 200), captions: Math.min(M, 1000) };
    const runs = [
      ['naaf', 'f32'], ['scan-t2i', 'f32'], ['scan-i2t', 'f32'],
      ...(flag('f16') ? [['naaf', 'f16']] : []),
      ...(flag('int8') && int8Kernel ? [['naaf', 'int8'], ['scan-t2i', 'int8']] : []),
    ].filter(([method]) => !onlyMethods || onlyMethods.includes(method));
    for (const [method, precision] of runs) {
      await stage(`tune ${method} ${precision}`, async () => {
        const result = await engine.tune(slice, { method, precision });
        log('', `tuning, ${method} ${precision}, ${slice.images} x ${slice.captions} slice: best ${fmtChoice(result.best)}`, '', '| kernel and tile | median ms |', '|---|---|',
          ...result.timings.map((t) => `| ${fmtChoice(t)} | ${Number.isFinite(t.ms) ? t.ms.toFixed(2) : `failed: ${t.error}`} |`));
      });
    }
  });
}

// Every registered method (src/methods/), with its sample options and label.
const METHOD_OPTIONS = Object.fromEntries(methodNames().map((m) => [m, methodSpec(m).sampleOptions]));
const LABELS = Object.fromEntries(methodNames().map((m) => [m, methodSpec(m).label]));
const precisions = [
  ['f32', 'f32'],
  ...(flag('f16') ? [['f16', 'f16']] : []),
  ...(flag('int8') && int8Kernel ? [[`int8 (${int8Kernel})`, 'int8']] : []),
  ...(flag('int8') && int8Kernel === 'subgroup-matrix' && flag('compare-dot4') ? [['int8 (dot4)', 'int8-dot4']] : []),
];
const VARIANTS = [];
for (const method of methodNames()) {
  if (onlyMethods && !onlyMethods.includes(method)) continue;
  for (const [precisionLabel, precision] of precisions) {
    if (precision !== 'f32' && (method === 'scan-i2t' || method === 'chan')) continue;
    for (const kernel of kernels) {
      if (precision === 'f16' && kernel === 'fused') continue;
      if (kernel === 'fused' && !methodSpec(method).kernels.fused) continue; // split only
      VARIANTS.push([`${LABELS[method]} ${precisionLabel} ${kernel}`, { ...METHOD_OPTIONS[method], precision, kernel }]);
    }
  }
}

async function timeVariant(w, label, options) {
  await w.warmUp(options);
  if (samplesWanted > 0) {
    const samples = [];
    for (let i = 0; i < samplesWanted; i++) {
      const t = performance.now();
      await w.runOnce(options);
      samples.push(performance.now() - t);
    }
    return samples;
  }
  await w.runOnce(options); // and once at full size, where runs are short enough to repeat
  return new Promise((resolve, reject) => {
    new Benchmark(label, {
      defer: true, minSamples: 5, maxTime: shapeName === 'demo' ? 1 : 3, initCount: 1,
      fn: (deferred) => w.runOnce(options).then(() => deferred.resolve(), reject),
      onComplete() { resolve(this.stats.sample.map((s) => s * 1000)); },
      onError(e) { reject(e.target.error); },
    }).run({ async: true });
  });
}

const rows = [];
const planLines = [];
for (const [label, options] of VARIANTS) {
  await stage(label, async () => {
    const plan = await engine.plan({ N, R, D, M: world.chunks[0].captions.shape[0], L }, options);
    planLines.push(`- ${label}: ${plan.kernel}, ${plan.product}; ${JSON.stringify(plan.split ?? plan.fused)}`);
    const samples = await timeVariant(world, label, options);
    rows.push({ label, options, medianMs: median(samples), minMs: Math.min(...samples), samples: samples.length });
  });
}
const baseline = rows.find((r) => r.label === 'SCAN t2i f32 fused') ?? rows.find((r) => r.label.startsWith('SCAN t2i f32')) ?? rows[0];
if (rows.length) {
  log('', `| variant | median ms | min ms | samples | pairs/s | GFLOP/s | time / ${baseline.label} |`, '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.label} | ${r.medianMs.toFixed(2)} | ${r.minMs.toFixed(2)} | ${r.samples} | ${((N * M) / (r.medianMs / 1000)).toExponential(3)} | ${(flop / (r.medianMs / 1000) / 1e9).toFixed(1)} | ${(r.medianMs / baseline.medianMs).toFixed(2)} |`));
  log('', 'plans (engine.plan):', ...planLines, '');
  for (const method of Object.values(LABELS)) {
    for (const [precisionLabel] of precisions) {
      const split = rows.find((r) => r.label === `${method} ${precisionLabel} split`);
      const fused = rows.find((r) => r.label === `${method} ${precisionLabel} fused`);
      if (split && fused) log(`${method} ${precisionLabel}: split / fused time = ${(split.medianMs / fused.medianMs).toFixed(2)} (${split.medianMs.toFixed(1)} / ${fused.medianMs.toFixed(1)} ms)`);
    }
  }
}

if (N * M <= 2e7) await stage('readback', async () => {
  const t0 = performance.now();
  for (const chunk of world.chunks) await engine.similarity(world.gpuImages, chunk.captions, VARIANTS[0][1]);
  const withReadbackMs = performance.now() - t0;
  log('', `${VARIANTS[0][0]} with readback ${withReadbackMs.toFixed(1)} ms`);
});
{
  const stats = engine.stats();
  const inputBytes = images.byteLength + world.chunks.reduce((a, c) => a + c.captions.shape[0] * L * D * 4 + N * c.captions.shape[0] * 4, 0);
  log('', `GPU memory: inputs + results ${(inputBytes / 2 ** 30).toFixed(2)} GiB; engine buffers at peak ${(stats.peakBytesAllocated / 2 ** 20).toFixed(1)} MiB ` +
    `(bounded by chunking and the split kernel's scratch budget); peak total ~${((inputBytes + stats.peakBytesAllocated) / 2 ** 30).toFixed(2)} GiB`);
}

if (flag('exact')) {
  await stage('exact', async () => {
    // t2i top-10 over the first caption chunk: f32, plain low precision, and exact.
    const captions = world.chunks[0].captions;
    const base = { method: 'naaf', threshold: 0.2, k: 10, direction: 't2i' };
    const timed = async (options) => {
      await engine.topK(world.gpuImages, { ...captions, shape: [Math.min(64, captions.shape[0]), L, D], lengths: captions.lengths.subarray(0, 64) }, options); // compile
      const t = performance.now();
      const result = await engine.topK(world.gpuImages, captions, options);
      return { result, ms: performance.now() - t };
    };
    const f32 = await timed(base);
    log('', `top-10 (t2i, NAAF) over ${N} images x ${captions.shape[0]} captions, against f32 (${f32.ms.toFixed(1)} ms):`, '',
      '| variant | ms | / f32 | queries with the f32 top-10 | f32 re-scored pairs per query | rounds | margin |', '|---|---|---|---|---|---|---|');
    for (const precision of ['f16', ...(int8Kernel ? ['int8'] : [])]) {
      for (const exact of [false, true]) {
        const run = await timed({ ...base, precision, exact });
        const same = sameTopK(f32.result, run.result, 10);
        const e = run.result.exact;
        log(`| ${precision}${exact ? ' exact' : ''} | ${run.ms.toFixed(1)} | ${(run.ms / f32.ms).toFixed(2)} | ${(100 * same).toFixed(2)}% | ${e ? e.rescoredPerQuery.toFixed(1) : '-'} | ${e ? e.rounds : '-'} | ${e ? e.margin.toExponential(2) : '-'} |`);
      }
    }
  });
}

if (flag('accuracy')) {
  await stage('accuracy', async () => {
    if (!world.chunks[0].data) throw new Error('needs the captions in one chunk');
    const captions = world.chunks[0].captions;
    const base = { method: 'naaf', threshold: 0.2 };
    const reference = await engine.similarity(world.gpuImages, captions, base);
    const variants = [['f16', await engine.similarity(world.gpuImages, captions, { ...base, precision: 'f16' })]];
    if (int8Kernel) {
      const auto = await engine.similarity(world.gpuImages, captions, { ...base, precision: 'int8' });
      variants.push([`int8 (${int8Kernel})`, auto]);
      const dot4 = await engine.similarity(world.gpuImages, captions, { ...base, precision: 'int8-dot4', kernel: 'fused' });
      const dot4Split = await engine.similarity(world.gpuImages, captions, { ...base, precision: 'int8-dot4', kernel: 'split' });
      const fusedAuto = await engine.similarity(world.gpuImages, captions, { ...base, precision: 'int8', kernel: 'fused' });
      const splitAuto = await engine.similarity(world.gpuImages, captions, { ...base, precision: 'int8', kernel: 'split' });
      const differing = (x, y) => x.reduce((n, v, i) => n + (v !== y[i] ? 1 : 0), 0);
      log('', `int8 products bit for bit (same kernel, other product; must be 0): fused ${differing(dot4, fusedAuto)}, split ${differing(dot4Split, splitAuto)} of ${dot4.length} entries differ`);
    }
    log('', `accuracy against f32 NAAF on this data (${N} x ${captions.shape[0]}):`, '', '| variant | max abs error | t2i queries with unchanged top-10 | i2t queries with unchanged top-10 |', '|---|---|---|---|');
    for (const [label, sims] of variants) {
      const c = compareRankings(reference, sims, N, captions.shape[0], 10);
      log(`| ${label} | ${c.maxAbs.toExponential(2)} | ${(100 * c.t2iUnchanged).toFixed(2)}% | ${(100 * c.i2tUnchanged).toFixed(2)}% |`);
    }
  });
}

if (flag('sweep')) {
  await stage('sweep', async () => {
    const sweepVariants = VARIANTS.filter(([l]) => l.startsWith('NAAF') && l.endsWith('split'));
    for (const [label, options] of sweepVariants) {
      log('', `| ${label} sweep: N x M | median ms | pairs/s |`, '|---|---|---|');
      for (const scale of [0.1, 0.25, 0.5, 1]) {
        const n = Math.max(1, Math.round(N * scale));
        const m = Math.min(world.chunks[0].captions.shape[0], Math.max(1, Math.round(M * scale)));
        const sub = {
          images: { buffer: world.gpuImages.buffer, shape: [n, R, D] },
          captions: { buffer: world.chunks[0].captions.buffer, shape: [m, L, D], lengths: lengths.subarray(0, m) },
        };
        const times = [];
        for (let i = 0; i < 4; i++) {
          const t = performance.now();
          await engine.similarityInto(sub.images, sub.captions, options, { buffer: world.chunks[0].out });
          await world.device.queue.onSubmittedWorkDone();
          times.push(performance.now() - t);
        }
        const ms = median(times.slice(1));
        log(`| ${n} x ${m} | ${ms.toFixed(2)} | ${((n * m) / (ms / 1000)).toExponential(3)} |`);
      }
    }
  });
}
world.destroy();

if (flag('toggles')) {
  await stage('toggles', async () => {
    const toggled = await makeWorld({ dawnFlags: [...dawnFlags, TOGGLES] });
    log('', `Dawn toggles ${TOGGLES} (a second engine, same inputs):`, '', '| variant | median ms | / without |', '|---|---|---|');
    for (const row of rows.filter((r) => r.label.includes('split') || r.label.startsWith('NAAF'))) {
      const samples = await timeVariant(toggled, row.label, row.options);
      log(`| ${row.label} | ${median(samples).toFixed(2)} | ${(median(samples) / row.medianMs).toFixed(2)} |`);
    }
    toggled.destroy();
  });
}

if (flag('profile')) {
  await stage('profile', async () => {
    const profiled = await makeWorld({ dawnFlags, profile: true });
    for (const [label, options] of VARIANTS) {
      await profiled.warmUp(options);
      await profiled.engine.kernelTimes();
      await profiled.runOnce(options);
      log('', `${label}: GPU time per kernel (one run; one timestamped pass per dispatch)`, '', formatKernelTimes(await profiled.engine.kernelTimes()));
    }
    profiled.destroy();
  });
}

if (flag('record')) {
  const path = new URL('./RESULTS.md', import.meta.url);
  if (!existsSync(path)) writeFileSync(path, '# Benchmark results\n\nAppended by `node bench/similarity.bench.mjs --record`.\n');
  appendFileSync(path, `\n## ${new Date().toISOString().slice(0, 10)} ${shapeName}\n\n${lines.join('\n')}\n`);
}
