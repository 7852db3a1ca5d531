// The resident gallery at real sizes (R 36, D 1024): per-query latency (p50, p95) of
// gallery.topK for a caption alone and in batches of 8 and 64, against engine.topK on the same
// inputs (which uploads the images and computes their Grams on every call) as a ratio; for
// f32, f16 and int8 galleries of each size; resident bytes per image, the engine's peak bytes
// and the longest single submission. Synthetic embeddings (unit rows around a shared direction,
// so scores spread as a trained model's do); captions of 8-16 words (Flickr30K's are ~12).
// Usage: node bench/gallery.bench.mjs [--images 1000,10000,20000] [--precisions f32,f16,int8]
//   [--batches 1,8,64] [--reps 5] [--baseline-reps 2] [--k 10] [--toggles] [--record]
// Repetitions shrink with the work (at least 2 for gallery calls, 1 for a baseline past 20 s).
import { appendFileSync } from 'node:fs';
import { NaafEngine } from '../dist/index.js';
import { argValue, backendOptions, median } from './util.mjs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const args = process.argv.slice(2);
const SIZES = argValue('images', '1000,10000,20000').split(',').map(Number);
const PRECISIONS = argValue('precisions', 'f32,f16,int8').split(',');
const BATCHES = argValue('batches', '1,8,64').split(',').map(Number);
const REPS = Number(argValue('reps', '5'));
const BASELINE_REPS = Number(argValue('baseline-reps', '2'));
const K = Number(argValue('k', '10'));
const R = 36;
const D = 1024;
const dawnFlags = args.includes('--toggles') ? ['enable-dawn-features=disable_robustness,disable_workgroup_init'] : [];

const log = (line) => console.log(`[${(performance.now() / 1000).toFixed(0).padStart(5)} s] ${line}`);
const quantile = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]; };
const fmt = (ms) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));

/** Seeded unit rows around a shared direction. */
function unitRows(rows, seed, shared) {
  let s = seed >>> 0;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const out = new Float32Array(rows * D);
  for (let i = 0; i < rows; i++) {
    let sq = 0;
    for (let d = 0; d < D; d++) {
      const v = (next() - 0.5) + shared[d];
      out[i * D + d] = v;
      sq += v * v;
    }
    const scale = 1 / Math.sqrt(sq);
    for (let d = 0; d < D; d++) out[i * D + d] *= scale;
  }
  return out;
}

const shared = Float32Array.from({ length: D }, (_, d) => 0.06 * Math.sin(d * 0.37));
const engine = await NaafEngine.create({ dawnFlags, ...backendOptions('auto') });
const info = engine.info;
log(`device: ${info.description || info.device} (${info.vendor} ${info.architecture}, ${info.runtime}); Dawn flags: ${info.dawnFlags.join(' ') || 'none'}`);
log(`shape: R ${R}, D ${D}, k ${K}; galleries ${SIZES.join(', ')}; precisions ${PRECISIONS.join(', ')}; batches ${BATCHES.join(', ')}`);

const largest = Math.max(...SIZES);
const images = unitRows(largest * R, 11, shared); // one buffer; each size is its first N images
const maxBatch = Math.max(...BATCHES);
const lengths = Array.from({ length: maxBatch }, (_, m) => 8 + ((m * 5) % 9));
const L = 16;
const words = new Float32Array(maxBatch * L * D);
for (let m = 0; m < maxBatch; m++) words.set(unitRows(lengths[m], 100 + m, shared), m * L * D);
const method = { method: 'naaf', threshold: 0.1 };
const rows = [];

for (const N of SIZES) {
  const gallerySource = { data: images.subarray(0, N * R * D), shape: [N, R, D] };
  for (const precision of PRECISIONS) {
    engine.trim();
    let t = performance.now();
    const gallery = await engine.createGallery(gallerySource, { precision });
    const createMs = performance.now() - t;
    log(`N ${N} ${precision}: gallery made in ${fmt(createMs)} ms, ${(gallery.bytes / N).toFixed(0)} bytes per image (${(gallery.bytes / 2 ** 20).toFixed(0)} MiB)`);
    for (const B of BATCHES) {
      const captions = { data: words.subarray(0, B * L * D), shape: [B, L, D], lengths: lengths.slice(0, B) };
      const options = { ...method, k: K, direction: 't2i' };
      const wordsTotal = lengths.slice(0, B).reduce((a, b) => a + b, 0);
      const flops = 2 * N * R * wordsTotal * D; // the word-region product (the epilogue adds ~R^2 per word and image)
      await gallery.topK(captions, options); // warm: pipelines compiled (a CPU driver compiles at the first dispatch)
      engine.resetPeak();
      const first = performance.now();
      const times = [];
      while (times.length < REPS && (times.length < 2 || performance.now() - first < 60_000)) {
        t = performance.now();
        await gallery.topK(captions, options);
        times.push(performance.now() - t);
      }
      // The baseline: engine.topK on the same f32 rows and precision (uploads and prepares the images each call).
      const baseTimes = [];
      const baseFirst = performance.now();
      while (baseTimes.length < BASELINE_REPS && (baseTimes.length < 1 || performance.now() - baseFirst < 20_000)) {
        t = performance.now();
        await engine.topK(gallerySource, captions, { ...options, precision });
        baseTimes.push(performance.now() - t);
      }
      const stats = engine.stats();
      const perQuery = times.map((ms) => ms / B);
      const row = {
        N, precision, B, reps: times.length, p50: median(perQuery), p95: quantile(perQuery, 0.95), callMs: median(times),
        baselineMs: median(baseTimes) / B, baselineReps: baseTimes.length, ratio: median(baseTimes) / median(times),
        gflops: flops / (median(times) * 1e6), bytesPerImage: gallery.bytes / N, peak: stats.peakBytesAllocated, longest: stats.longestSubmitMs,
      };
      rows.push(row);
      log(`N ${N} ${precision} batch ${B}: per query p50 ${fmt(row.p50)} ms, p95 ${fmt(row.p95)} ms (${row.reps} calls of ${fmt(row.callMs)} ms, ${row.gflops.toFixed(1)} GFLOP/s); ` +
        `engine.topK ${fmt(row.baselineMs)} ms per query (${row.baselineReps} calls): ${row.ratio.toFixed(1)}x; longest submission so far ${fmt(row.longest)} ms`);
    }
    gallery.destroy();
  }
}

const table = [
  '| images | precision | batch | gallery.topK per query p50 / p95 | engine.topK per query | ratio | GFLOP/s | resident bytes / image |',
  '|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.N} | ${r.precision} | ${r.B} | ${fmt(r.p50)} / ${fmt(r.p95)} ms (${r.reps}) | ${fmt(r.baselineMs)} ms (${r.baselineReps}) | ${r.ratio.toFixed(1)}x | ${r.gflops.toFixed(1)} | ${r.bytesPerImage.toFixed(0)} |`),
];
const f32Bytes = rows.find((r) => r.precision === 'f32')?.bytesPerImage;
const int8Bytes = rows.find((r) => r.precision === 'int8')?.bytesPerImage;
const summary = [
  `device ${info.description || info.device} (${info.runtime}), Dawn flags ${info.dawnFlags.join(' ') || 'none'}, R ${R}, D ${D}, k ${K}, captions of 8-16 words`,
  f32Bytes && int8Bytes ? `int8 / f32 resident bytes: ${(int8Bytes / f32Bytes).toFixed(3)}` : '',
  `peak engine bytes: ${(Math.max(...rows.map((r) => r.peak)) / 2 ** 20).toFixed(0)} MiB; longest submission: ${fmt(Math.max(...rows.map((r) => r.longest)))} ms`,
].filter(Boolean);
console.log(['', ...table, '', ...summary].join('\n'));
if (args.includes('--record')) {
  appendFileSync('bench/RESULTS.md', ['', `### bench:gallery (${new Date().toISOString().slice(0, 10)})`, '', ...summary.map((l) => `- ${l}`), '', ...table, ''].join('\n'));
  log('recorded in bench/RESULTS.md');
}
engine.destroy();
