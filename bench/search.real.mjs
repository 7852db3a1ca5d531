// The search index at real dimensions (R 36, D 1024): latency and memory of the two-stage query
// where a shortlist does not fit one GPU pass. Scenes images at 36 regions x --img-dim features
// (a test split of --images), a NAAF model with embeddings of 1024 trained for one epoch on 10
// images (its scores are not meaningful; their cost and exactness are what is measured), one
// LanceDB index (MaxSim coarse). Each caption is queried with K' candidates for each --kprimes:
// the default pass budget holds floor(128 MiB / (R x D x 4)) = 910 images, so K' 1000 and up take
// several passes. Reported per K': passes, per-stage p50, total p50 / p95, the engine's peak GPU
// bytes (the pool's retained buffers included); and, for K' = all images, whether the multi-pass top-10 equals
// exhaustive engine.topK over the same regions, ids and scores bit for bit. With --coarse student:
// a student index instead (a random student of the distilled shape: cost, not quality), opened
// resident (regions on the GPU, the student's vectors in memory: the flat coarse pass).
// Usage: node bench/search.real.mjs [--images 3000] [--queries 8] [--kprimes 200,500,1000,2000]
//   [--coarse maxsim|student] [--img-dim 128] [--out bench/out/search-real] [--record]
import { appendFileSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { NaafEngine } from '../dist/index.js';
import { buildIndex, initStudent, SearchIndex, studentToSafetensors } from '../dist/search.js';
import { encodeCaptions, encodeGallery, galleryQueries, galleryText } from './gallery.mjs';
import { argValue as value, backendOptions, fmtMs as fmt, log, quantile } from './util.mjs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const args = process.argv.slice(2);
const IMAGES = Number(value('images', '3000'));
const QUERIES = Number(value('queries', '8'));
const KPRIMES = value('kprimes', '200,500,1000,2000').split(',').map(Number).filter((k) => k <= IMAGES);
const IMG_DIM = Number(value('img-dim', '128'));
const OUT = value('out', 'bench/out/search-real');
const COARSE = value('coarse', 'maxsim');
const R = 36;
const E = 1024;
const K = 10;
const MiB = 2 ** 20;

const cli = (...a) => execFileSync(process.execPath, ['dist/cli.js', ...a], { stdio: ['ignore', 'ignore', 'inherit'] });
const data = join(OUT, `scenes-${IMAGES}`);
if (!existsSync(join(data, 'test_ims.npy'))) {
  const t = performance.now();
  cli('scenes', '--out', data, '--images', '10', '--dev', '10', '--test', String(IMAGES), '--regions', String(R), '--img-dim', String(IMG_DIM), '--seed', '5');
  log(`scenes: ${IMAGES} test images x ${R} regions x ${IMG_DIM} in ${((performance.now() - t) / 1000).toFixed(0)} s`);
}
const runDir = join(OUT, 'model');
const checkpoint = join(runDir, 'model_best.safetensors');
if (!existsSync(checkpoint)) {
  const t = performance.now();
  cli('train', '--data', data, '--out', runDir, '--epochs', '1', '--batch-size', '10', '--embed-size', String(E), '--word-dim', '300');
  log(`model: embeddings ${E}, one epoch on 10 images, in ${((performance.now() - t) / 1000).toFixed(0)} s`);
}
const index = join(OUT, COARSE === 'student' ? `index-${IMAGES}-student` : `index-${IMAGES}`);
const studentPath = join(OUT, 'student-random.safetensors');
if (COARSE === 'student' && !existsSync(studentPath)) {
  writeFileSync(studentPath, studentToSafetensors(initStudent(E, { hidden: 128, outDim: 64, pool: 'sum+max', normalize: false, seed: 1 })));
}
const dirBytes = (dir) => readdirSync(dir, { recursive: true }).map((f) => statSync(join(dir, f))).filter((s) => s.isFile()).reduce((a, s) => a + s.size, 0);
const engine = await NaafEngine.create(backendOptions('auto'));
const info = engine.info;
log(`device: ${info.description || info.device} (${info.runtime})`);
let buildSeconds = null;
if (!existsSync(join(index, 'naaf-index.json')) || !JSON.parse(readFileSync(join(index, 'naaf-index.json'), 'utf8')).complete) {
  const result = await buildIndex(engine, { data, split: 'test', checkpoint, out: index, coarse: COARSE, ...(COARSE === 'student' ? { student: studentPath } : {}) });
  buildSeconds = result.seconds;
  log(`index: built in ${buildSeconds.toFixed(0)} s`);
}
const indexMiB = dirBytes(index) / MiB;

const { vocab, captions } = galleryText(data);
const queries = galleryQueries(captions, IMAGES, QUERIES).map((q) => q.caption);
const search = await SearchIndex.open(engine, index, checkpoint, { resident: COARSE === 'student' });
const budget = Math.min(65535, Math.floor((128 * MiB) / (R * E * 4)));
await search.query([queries[0]], { k: K, candidates: KPRIMES[0] }); // compile
const rows = [];
for (const kp of [...KPRIMES, IMAGES]) {
  const ms = [];
  const stages = { encodeMs: [], coarseMs: [], gatherMs: [], exactMs: [] };
  const tops = [];
  engine.resetPeak();
  for (const q of queries) {
    const t = performance.now();
    const { results, timings } = await search.query([q], { k: K, candidates: kp });
    ms.push(performance.now() - t);
    for (const s of Object.keys(stages)) stages[s].push(timings[s]);
    tops.push(results[0].hits);
  }
  const stats = engine.stats();
  // A resident gallery sizes its own gathered passes (pairs.ts, gatheredPassImages).
  const passes = COARSE === 'student' ? 'resident' : Math.ceil(kp / budget);
  rows.push({ kp, passes, ms, stages, peak: stats.peakBytesAllocated, tops });
  log(`K' ${kp}: ${passes} pass(es), p50 ${fmt(quantile(ms, 0.5))} ms, peak ${(stats.peakBytesAllocated / MiB).toFixed(0)} MiB`);
}
search.close();

// Exhaustive NAAF over the same regions (as the index stored them: the model's encoding of the split).
const model = await engine.loadModel(checkpoint);
const regions = await encodeGallery(model, data);
const { words } = await encodeCaptions(model, vocab, queries);
const options = { method: 'naaf', threshold: model.config.threshold ?? 0, lambdaSoftmax: model.config.lambdaSoftmax };
const exhaustive = await engine.topK(regions, words, { ...options, k: K, direction: 't2i' });
model.destroy();
const all = rows.at(-1);
const same = all.tops.every((hits, m) => hits.every((h, i) => h.id === exhaustive.indices[m * K + i] && Math.fround(h.score) === exhaustive.scores[m * K + i]));

const lines = [
  "| K' | GPU passes | encode / coarse / gather / exact p50 ms | total p50 / p95 ms | peak GPU MiB |",
  '|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.kp === IMAGES ? `${r.kp} (all)` : r.kp} | ${r.passes} | ${['encodeMs', 'coarseMs', 'gatherMs', 'exactMs'].map((s) => fmt(quantile(r.stages[s], 0.5))).join(' / ')} | ${fmt(quantile(r.ms, 0.5))} / ${fmt(quantile(r.ms, 0.95))} | ${(r.peak / MiB).toFixed(0)} |`),
];
const summary = [
  `device: ${info.description || info.device} (${info.runtime}); ${IMAGES} scenes images x ${R} regions, embeddings ${E}; ${QUERIES} captions, one at a time; k ${K}; pass budget ${budget} images (128 MiB binding)`,
  `index (${COARSE === 'student' ? 'student coarse, opened resident: flat coarse pass in memory' : 'MaxSim coarse'}, ANN ${JSON.parse(readFileSync(join(index, 'naaf-index.json'), 'utf8')).ann.kind}): ${buildSeconds === null ? 'built earlier' : `built in ${buildSeconds.toFixed(0)} s`}, ${indexMiB.toFixed(0)} MiB on disk`,
  `multi-pass exact stage with K' = all ${IMAGES} images (${COARSE === 'student' ? 'the resident gallery\'s gathered passes' : `${Math.ceil(IMAGES / budget)} passes`}): top-10 ${same ? 'equals' : 'DIFFERS from'} exhaustive engine.topK (ids and f32 scores)`,
];
console.log(`\n${summary.join('\n')}\n\n${lines.join('\n')}\n`);
if (args.includes('--record')) {
  appendFileSync(new URL('./RESULTS.md', import.meta.url), `\n### search.real (${new Date().toISOString().slice(0, 10)}, \`node bench/search.real.mjs ${args.filter((a) => a !== '--record').join(' ')}\`)\n\n${summary.map((s) => `- ${s}`).join('\n')}\n\n${lines.join('\n')}\n`);
  log('recorded in bench/RESULTS.md');
}
engine.destroy();
if (!same) process.exitCode = 1;
