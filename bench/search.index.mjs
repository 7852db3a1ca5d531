// The student as the product's coarse stage (`naaf index --coarse student`): a LanceDB index of
// --images scenes test images whose coarse column is the distilled student's image vector
// (bench/distill.mjs), built (or resumed) here, then searched through SearchIndex.query in three
// ways against exhaustive NAAF over a resident gallery (the reference of search.flat):
//   lance-ann       not resident: LanceDB's IVF_PQ search of the student vectors (the coarse rows
//                   carry the candidates' regions), exact NAAF of the shortlist uploaded per query:
//                   the store for a gallery the GPU cannot hold;
//   lance-ann+gpu   resident regions, LanceDB's IVF_PQ coarse search (residentCoarse: false);
//   flat+gpu        resident regions and student vectors: the coarse pass is an exact inner
//                   product over every image on the CPU (vectorTopK).
// Per mode and K': identical top-10 / overlap@10 / RBO against exhaustive, ground-truth R@1/5/10,
// per-stage p50 and total p50 / p95 per query, speedup (exhaustive's time plus the caption's
// encoding, which the reference skips, over the total); the index's build time and disk size; and
// where LanceDB's ANN overtakes the flat pass (its coarse time against the flat pass's, which
// grows with the gallery).
// Usage: node bench/search.index.mjs --student FILE [--images 100000] [--queries 80] [--kprimes 200,500,1000,2000]
//   [--modes lance-ann,lance-ann+gpu,flat+gpu] [--nprobes 20] [--refine 4] [--checkpoint FILE] [--data data/scenes] [--out bench/out/search] [--record]
import { appendFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { buildIndex, fidelity, SearchIndex } from '../dist/search.js';
import { searchBenchEngine, searchBenchSetup } from './gallery.mjs';
import { argValue as value, fmtMs as fmt, log, quantile } from './util.mjs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const args = process.argv.slice(2);
const IMAGES = Number(value('images', '100000'));
const QUERIES = Number(value('queries', '80'));
const STUDENT = value('student', '');
const CHECKPOINT = value('checkpoint', 'data/runs/naaf/model_best.safetensors');
const DATA = value('data', 'data/scenes');
const OUT = value('out', 'bench/out/search');
const KPRIMES = value('kprimes', '200,500,1000,2000').split(',').map(Number);
const MODES = value('modes', 'lance-ann,lance-ann+gpu,flat+gpu').split(',');
const NPROBES = Number(value('nprobes', '20'));
const REFINE = Number(value('refine', '4'));
const K = 10;
if (STUDENT === '') throw new Error('search.index: --student FILE is required (bench/distill.mjs writes one)');

const engine = await searchBenchEngine(CHECKPOINT, log);
const { dir, queries, half, dev, test, naaf, images, words, seqs, L } = await searchBenchSetup(engine, { checkpoint: CHECKPOINT, data: DATA, out: OUT, images: IMAGES, count: QUERIES }, log);
const [N, R, E] = images.shape;
// The reference: exhaustive NAAF over a resident f32 gallery, one caption at a time.
const full = await engine.createGallery(images);
images.data = null;
const captionOf = (m) => ({ data: words.data.slice(m * L * E, (m * L + seqs[m].length) * E), shape: [1, seqs[m].length, E], lengths: [seqs[m].length] });
await full.topK(captionOf(0), { ...naaf, k: K, direction: 't2i' });
const exhaustiveMs = [];
const exhaustiveTop = [];
for (let m = 0; m < QUERIES; m++) {
  const t = performance.now();
  exhaustiveTop.push(Array.from((await full.topK(captionOf(m), { ...naaf, k: K, direction: 't2i' })).indices));
  exhaustiveMs.push(performance.now() - t);
}
full.destroy();
const exP50 = quantile(exhaustiveMs, 0.5);
log(`exhaustive NAAF over the resident gallery: p50 ${fmt(exP50)} / p95 ${fmt(quantile(exhaustiveMs, 0.95))} ms per query`);

// The index, built or resumed (a finished one is reused as it is).
const out = join(OUT, `index-${IMAGES}-student`);
const built = await buildIndex(engine, { data: dir, split: 'test', checkpoint: CHECKPOINT, out, coarse: 'student', student: STUDENT, log });
const mib = Number(execFileSync('du', ['-sm', out], { encoding: 'utf8' }).split('\t')[0]);
const buildLine = `index ${out}: ${built.resumedFrom === N ? 'existing' : `built in ${built.seconds.toFixed(0)} s`} (${built.manifest.buildSeconds?.toFixed(0)} s recorded), ${mib} MiB on disk, ANN ${JSON.stringify(built.manifest.ann)}, student ${STUDENT} (D ${built.manifest.student.dim})`;
log(buildLine);

const groundTruth = (tops, kk, range) => 100 * range.filter((m) => tops[m].slice(0, kk).includes(queries[m].image)).length / range.length;
const rows = [];
for (const mode of MODES) {
  const options = mode === 'lance-ann' ? {} : { resident: true, residentCoarse: mode === 'flat+gpu' };
  let t = performance.now();
  const index = await SearchIndex.open(engine, out, CHECKPOINT, options);
  const openMs = performance.now() - t;
  await index.query([queries[0].caption], { k: K, candidates: KPRIMES[0], nprobes: NPROBES, refine: REFINE }); // warm
  log(`${mode}: opened in ${fmt(openMs)} ms`);
  for (const kp of KPRIMES) {
    const tops = [];
    const stage = { encodeMs: [], coarseMs: [], gatherMs: [], exactMs: [], totalMs: [] };
    for (const q of queries) {
      t = performance.now();
      const { results, timings } = await index.query([q.caption], { k: K, candidates: kp, nprobes: NPROBES, refine: REFINE });
      stage.totalMs.push(performance.now() - t);
      for (const key of Object.keys(timings)) stage[key].push(timings[key]);
      tops.push(results[0].hits.map((h) => h.id));
    }
    const pick = (range) => fidelity(range.map((m) => tops[m]), range.map((m) => exhaustiveTop[m]), K);
    const row = {
      mode, kp, dev: pick(dev), test: pick(test), recall: [1, 5, 10].map((kk) => groundTruth(tops, kk, test)),
      stages: ['encodeMs', 'coarseMs', 'gatherMs', 'exactMs'].map((key) => quantile(stage[key], 0.5)),
      total: [quantile(stage.totalMs, 0.5), quantile(stage.totalMs, 0.95)],
    };
    // Both sides encode the caption: exhaustive NAAF's reference time gets this query path's encoding.
    row.speedup = (exP50 + row.stages[0]) / row.total[0];
    rows.push(row);
    log(`${mode} K'=${kp}: identical ${(100 * row.test.identical).toFixed(0)}% (dev ${(100 * row.dev.identical).toFixed(0)}%), overlap@10 ${row.test.overlap.toFixed(3)}, p50 ${fmt(row.total[0])} ms (${row.speedup.toFixed(1)}x)`);
  }
  index.close();
}

const exhaustiveRecall = [1, 5, 10].map((kk) => groundTruth(exhaustiveTop, kk, test));
const lines = [
  "| mode | K' | top-10 = exhaustive (test / dev) | overlap@10 | RBO p0.9 | R@1 / R@5 / R@10 | encode / coarse / gather / exact p50 ms | total p50 / p95 ms | (exhaustive + encode) / two-stage (p50) |",
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.mode} | ${r.kp} | ${(100 * r.test.identical).toFixed(0)}% / ${(100 * r.dev.identical).toFixed(0)}% | ${r.test.overlap.toFixed(3)} | ${r.test.rbo.toFixed(3)} | ${r.recall.map((x) => x.toFixed(1)).join(' / ')} | ${r.stages.map(fmt).join(' / ')} | ${r.total.map(fmt).join(' / ')} | ${r.speedup.toFixed(1)}x |`),
];
// Crossover: the flat pass costs about coarse ms x (gallery / N) elsewhere; LanceDB's IVF search
// grows far slower (it probes a fixed number of partitions), so it wins past the gallery where
// the two coarse times meet.
const coarseOf = (mode) => { const r = rows.filter((x) => x.mode === mode); return r.length ? quantile(r.map((x) => x.stages[1]), 0.5) : null; };
const flat = coarseOf('flat+gpu');
const ann = coarseOf('lance-ann+gpu') ?? coarseOf('lance-ann');
const crossover = flat && ann ? `coarse p50 (median over K'): flat ${fmt(flat)} ms, LanceDB IVF_PQ ${fmt(ann)} ms at ${N} images; the flat pass, linear in the gallery, would reach LanceDB's at about ${Math.round((N * ann) / flat).toLocaleString('en')} images` : 'crossover: needs both flat+gpu and a LanceDB mode';
const summary = [
  `device: ${engine.info.description || engine.info.device} (${engine.info.runtime}); gallery: ${N} scenes images x ${R} regions, embeddings ${E}; ${QUERIES} queries (${half} dev, ${QUERIES - half} test); k = ${K}; nprobes ${NPROBES}, refine ${REFINE}`,
  `exhaustive NAAF over the resident gallery: p50 ${fmt(exP50)} / p95 ${fmt(quantile(exhaustiveMs, 0.95))} ms per query; R@1/5/10 on the test queries ${exhaustiveRecall.map((x) => x.toFixed(1)).join(' / ')}`,
  buildLine,
  crossover,
];
console.log(`\n${summary.join('\n')}\n\n${lines.join('\n')}\n`);
if (args.includes('--record')) {
  appendFileSync(new URL('./RESULTS.md', import.meta.url), `\n### search.index (${new Date().toISOString().slice(0, 10)}, \`node bench/search.index.mjs ${args.filter((a) => a !== '--record').join(' ')}\`)\n\n${summary.map((s) => `- ${s}`).join('\n')}\n\n${lines.join('\n')}\n`);
  log('recorded in bench/RESULTS.md');
}
engine.destroy();
