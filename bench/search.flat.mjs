// Two-stage search flat on the GPU, against exhaustive NAAF over the same resident gallery
// (issue: search round 2). A gallery of --images scenes test images is encoded by the trained
// scenes NAAF model and kept on the GPU (engine.createGallery); each query caption is ranked
//   exhaustive  by NAAF over every image (gallery.topK, the reference), and
//   two-stage   by a coarse stage's top-K' re-scored exactly (gallery.scorePairs on the f32
//               gallery: bit for bit the exhaustive scores), for each coarse design:
//     maxsim      MaxSim (each word's best region cosine, averaged: CHAN's mean pooling) over
//                 the full gallery: late interaction, blind to what the caption does not mention;
//     naaf-int8   NAAF itself over an int8 copy of the gallery (quarter of the bytes);
//     naaf-pcaD   NAAF over region sketches: regions and words projected onto the top D principal
//                 axes of the gallery's regions (PCA fitted here), rows re-normalised;
//     student     with --student (bench/distill.mjs): one cosine per image between single vectors
//                 of a student distilled from NAAF's scores ([N, 1, D] resident gallery).
// Per design and K': the share of queries whose top-10 equals exhaustive's, mean overlap@10 and
// RBO (p 0.9) against it (src/search/fidelity.ts), ground-truth R@1/5/10 of both, per-stage
// latency p50 / p95 and the speedup over exhaustive per query. Defaults per design come from the
// dev half of the queries (the smallest K' with overlap@10 >= 0.99 and >= 95% identical top-10).
// Usage: node bench/search.flat.mjs [--images 20000] [--queries 100] [--pca 16,8]
//   [--student bench/out/search/student.safetensors] [--kprimes 10,20,50,100,200] [--checkpoint data/runs/naaf/model_best.safetensors] [--data data/scenes] [--out bench/out/search] [--record]
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { embedTower, fidelity, studentFromSafetensors, vectorTopK } from '../dist/search.js';
import { searchBenchEngine, searchBenchSetup } from './gallery.mjs';
import { argValue as value, fmtMs as fmt, log, quantile } from './util.mjs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const args = process.argv.slice(2);
const IMAGES = Number(value('images', '20000'));
const QUERIES = Number(value('queries', '100'));
const PCA = value('pca', '16,8').split(',').filter((x) => x !== '').map(Number);
const CHECKPOINT = value('checkpoint', 'data/runs/naaf/model_best.safetensors');
const DATA = value('data', 'data/scenes');
const OUT = value('out', 'bench/out/search');
const KPRIMES = value('kprimes', '10,20,50,100,200').split(',').map(Number);
const STUDENT = value('student', '');
const DESIGNS = value('designs', '');
const K = 10;

const engine = await searchBenchEngine(CHECKPOINT, log);
const info = engine.info;

// The gallery: the scenes test split at IMAGES images, in the model's world (seed, regions, features).
const { queries, half, dev, test, naaf, images, words, seqs, L } = await searchBenchSetup(engine, { checkpoint: CHECKPOINT, data: DATA, out: OUT, images: IMAGES, count: QUERIES }, log);
const [N, R, E] = images.shape;
/** Query m's words alone, [1, len, dim]. */
const captionOf = (data, dim, m) => ({ data: data.slice(m * L * dim, (m * L + seqs[m].length) * dim), shape: [1, seqs[m].length, dim], lengths: [seqs[m].length] });

// PCA of the gallery's regions (a sample): the covariance's top eigenvectors by Jacobi rotations.
function principalAxes(data, rows, dim, sample = 50000) {
  const step = Math.max(1, Math.floor(rows / sample));
  const mean = new Float64Array(dim);
  const cov = new Float64Array(dim * dim);
  let count = 0;
  for (let i = 0; i < rows; i += step, count++) for (let e = 0; e < dim; e++) mean[e] += data[i * dim + e];
  for (let e = 0; e < dim; e++) mean[e] /= count;
  for (let i = 0; i < rows; i += step) {
    for (let a = 0; a < dim; a++) {
      const x = data[i * dim + a] - mean[a];
      for (let b = a; b < dim; b++) cov[a * dim + b] += x * (data[i * dim + b] - mean[b]);
    }
  }
  for (let a = 0; a < dim; a++) for (let b = 0; b < a; b++) cov[a * dim + b] = cov[b * dim + a];
  const V = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) V[i * dim + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < dim; p++) for (let q = p + 1; q < dim; q++) off += cov[p * dim + q] ** 2;
    if (off < 1e-18) break;
    for (let p = 0; p < dim; p++) {
      for (let q = p + 1; q < dim; q++) {
        const apq = cov[p * dim + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (cov[q * dim + q] - cov[p * dim + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < dim; k++) {
          const akp = cov[k * dim + p], akq = cov[k * dim + q];
          cov[k * dim + p] = c * akp - s * akq; cov[k * dim + q] = s * akp + c * akq;
        }
        for (let k = 0; k < dim; k++) {
          const apk = cov[p * dim + k], aqk = cov[q * dim + k];
          cov[p * dim + k] = c * apk - s * aqk; cov[q * dim + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < dim; k++) {
          const vkp = V[k * dim + p], vkq = V[k * dim + q];
          V[k * dim + p] = c * vkp - s * vkq; V[k * dim + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = [...Array(dim).keys()].sort((a, b) => cov[b * dim + b] - cov[a * dim + a]);
  const total = order.reduce((acc, i) => acc + cov[i * dim + i], 0);
  return { axes: order.map((i) => Float64Array.from({ length: dim }, (_, k) => V[k * dim + i])), variance: order.map((i) => cov[i * dim + i] / total) };
}

/** Rows of `data` [rows, dim] projected onto `axes` and re-normalised (cosines in the subspace). */
function project(data, rows, dim, axes) {
  const d = axes.length;
  const out = new Float32Array(rows * d);
  for (let i = 0; i < rows; i++) {
    let norm = 0;
    for (let j = 0; j < d; j++) {
      let v = 0;
      for (let e = 0; e < dim; e++) v += data[i * dim + e] * axes[j][e];
      out[i * d + j] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm);
    if (norm > 0) for (let j = 0; j < d; j++) out[i * d + j] /= norm;
  }
  return out;
}

// The reference: exhaustive NAAF over the resident f32 gallery, a query at a time and in one batch.
let t = performance.now();
const full = await engine.createGallery(images);
log(`resident f32 gallery: ${N} images x ${R} x ${E} uploaded in ${fmt(performance.now() - t)} ms`);
await full.topK(captionOf(words.data, E, 0), { ...naaf, k: K, direction: 't2i' }); // compile
const exhaustiveMs = [];
const exhaustiveTop = [];
for (let m = 0; m < QUERIES; m++) {
  t = performance.now();
  const r = await full.topK(captionOf(words.data, E, m), { ...naaf, k: K, direction: 't2i' });
  exhaustiveMs.push(performance.now() - t);
  exhaustiveTop.push(Array.from(r.indices));
}
t = performance.now();
await full.topK(words, { ...naaf, k: K, direction: 't2i' });
const batchMs = (performance.now() - t) / QUERIES;
const exP50 = quantile(exhaustiveMs, 0.5);
log(`exhaustive NAAF over the resident gallery: p50 ${fmt(exP50)} ms, p95 ${fmt(quantile(exhaustiveMs, 0.95))} ms per query alone; ${fmt(batchMs)} ms per query in a batch of ${QUERIES}`);

// The coarse designs: each a resident gallery, its options and how a query's words map into it.
const wanted = (name) => DESIGNS === '' || DESIGNS.split(',').some((d) => name.startsWith(d));
const designs = [];
if (wanted('maxsim')) designs.push({ name: 'maxsim', gallery: full, options: { method: 'chan', pooling: 'mean' }, query: (m) => captionOf(words.data, E, m), owned: false });
t = performance.now();
if (wanted('naaf-int8')) {
  designs.push({ name: 'naaf-int8', gallery: await engine.createGallery(images, { precision: 'int8' }), options: naaf, query: (m) => captionOf(words.data, E, m), owned: true });
  log(`int8 gallery in ${fmt(performance.now() - t)} ms`);
}
if (STUDENT !== '') {
  // One vector per image, kept in CPU memory; per query the caption's vector (its words through
  // the text tower) and one inner product per image (vectorTopK), both inside the coarse time.
  const { student, metadata } = studentFromSafetensors(readFileSync(STUDENT), STUDENT);
  t = performance.now();
  const vectors = embedTower(student.image, { data: images.data, shape: [N, R, E] });
  const encodeMs = performance.now() - t;
  const S = student.image.outDim;
  log(`student ${STUDENT} (${metadata.images} distillation images, hidden ${student.image.hidden}, pool ${student.image.pool}, D ${S}): gallery encoded in ${fmt(encodeMs)} ms on the CPU (${(1000 * encodeMs / N).toFixed(1)} us an image), ${(vectors.byteLength / 2 ** 20).toFixed(1)} MiB`);
  designs.push({
    name: 'student', owned: false,
    coarse: async (m, k) => {
      const q = embedTower(student.text, { data: words.data.subarray(m * L * E, (m + 1) * L * E), shape: [1, L, E], lengths: [seqs[m].length] });
      return Array.from(vectorTopK(vectors, S, q, k).indices);
    },
  });
}
if (PCA.length > 0 && wanted('naaf-pca')) {
  t = performance.now();
  const { axes, variance } = principalAxes(images.data, N * R, E);
  log(`PCA of ${N * R} regions in ${fmt(performance.now() - t)} ms; variance kept by ${PCA.map((d) => `${d} axes ${(100 * variance.slice(0, d).reduce((a, b) => a + b, 0)).toFixed(1)}%`).join(', ')}`);
  for (const d of PCA) {
    const sketch = project(images.data, N * R, E, axes.slice(0, d));
    const sketchWords = project(words.data, QUERIES * L, E, axes.slice(0, d));
    designs.push({
      name: `naaf-pca${d}`, gallery: await engine.createGallery({ data: sketch, shape: [N, R, d] }), options: naaf,
      query: (m) => captionOf(sketchWords, d, m), owned: true,
    });
  }
}

const groundTruth = (tops, kk, range) => 100 * range.filter((m) => tops[m].slice(0, kk).includes(queries[m].image)).length / range.length;
const rows = [];
for (const design of designs) {
  const maxKp = Math.min(N, KPRIMES[KPRIMES.length - 1]);
  design.coarse ??= async (m, k) => Array.from((await design.gallery.topK(design.query(m), { ...design.options, k, direction: 't2i' })).indices);
  await design.coarse(0, maxKp); // compile
  const coarseMs = [];
  const shortlists = [];
  for (let m = 0; m < QUERIES; m++) {
    t = performance.now();
    const list = await design.coarse(m, maxKp);
    coarseMs.push(performance.now() - t);
    shortlists.push(list);
  }
  for (const kp of KPRIMES.filter((k) => k <= N)) {
    const exactMs = [];
    const tops = [];
    for (let m = 0; m < QUERIES; m++) {
      const ids = shortlists[m].slice(0, kp);
      t = performance.now();
      const scores = await full.scorePairs(captionOf(words.data, E, m), { images: ids, captions: ids.map(() => 0) }, naaf);
      exactMs.push(performance.now() - t);
      // Ties as exhaustive topK breaks them: the lower index first.
      tops.push(ids.map((n, i) => [n, scores[i]]).sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, K).map(([n]) => n));
    }
    const totals = coarseMs.map((c, m) => c + exactMs[m]);
    const pick = (range) => fidelity(range.map((m) => tops[m]), range.map((m) => exhaustiveTop[m]), K);
    const row = {
      design: design.name, kp, dev: pick(dev), test: pick(test),
      recall: [1, 5, 10].map((kk) => groundTruth(tops, kk, test)),
      coarse: [quantile(coarseMs, 0.5), quantile(coarseMs, 0.95)], exact: [quantile(exactMs, 0.5), quantile(exactMs, 0.95)],
      total: [quantile(totals, 0.5), quantile(totals, 0.95)],
    };
    row.speedup = exP50 / row.total[0];
    rows.push(row);
    log(`${design.name} K'=${kp}: identical ${(100 * row.test.identical).toFixed(0)}%, overlap@10 ${row.test.overlap.toFixed(3)}, RBO ${row.test.rbo.toFixed(3)}, p50 ${fmt(row.total[0])} ms (${row.speedup.toFixed(1)}x)`);
  }
  if (design.owned) design.gallery.destroy();
}

const exhaustiveRecall = [1, 5, 10].map((kk) => groundTruth(exhaustiveTop, kk, test));
const lines = [
  "| coarse | K' | top-10 = exhaustive (test / dev) | overlap@10 | RBO p0.9 | R@1 / R@5 / R@10 | coarse p50 / p95 ms | exact p50 / p95 ms | total p50 / p95 ms | exhaustive / two-stage (p50) |",
  '|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.design} | ${r.kp} | ${(100 * r.test.identical).toFixed(0)}% / ${(100 * r.dev.identical).toFixed(0)}% | ${r.test.overlap.toFixed(3)} | ${r.test.rbo.toFixed(3)} | ${r.recall.map((x) => x.toFixed(1)).join(' / ')} | ${r.coarse.map(fmt).join(' / ')} | ${r.exact.map(fmt).join(' / ')} | ${r.total.map(fmt).join(' / ')} | ${r.speedup.toFixed(1)}x |`),
];
const chosen = designs.map((d) => {
  const ok = rows.find((r) => r.design === d.name && r.dev.overlap >= 0.99 && r.dev.identical >= 0.95);
  return `${d.name} ${ok ? ok.kp : 'none (no K\' reaches it on dev)'}`;
});
const summary = [
  `device: ${info.description || info.device} (${info.runtime}); gallery: ${N} scenes images x ${R} regions, embeddings ${E}, resident f32; ${QUERIES} queries (${half} dev, ${QUERIES - half} test); k = ${K}`,
  `exhaustive NAAF over the resident gallery: p50 ${fmt(exP50)} / p95 ${fmt(quantile(exhaustiveMs, 0.95))} ms per query alone, ${fmt(batchMs)} ms per query in one batch; R@1/5/10 on the test queries ${exhaustiveRecall.map((x) => x.toFixed(1)).join(' / ')}`,
  `default K' on the dev queries (the smallest with overlap@10 >= 0.99 and >= 95% identical top-10): ${chosen.join(', ')}`,
];
console.log(`\n${summary.join('\n')}\n\n${lines.join('\n')}\n`);
if (args.includes('--record')) {
  appendFileSync(new URL('./RESULTS.md', import.meta.url), `\n### search.flat (${new Date().toISOString().slice(0, 10)}, \`node bench/search.flat.mjs ${args.filter((a) => a !== '--record').join(' ')}\`)\n\n${summary.map((s) => `- ${s}`).join('\n')}\n\n${lines.join('\n')}\n`);
  log('recorded in bench/RESULTS.md');
}
full.destroy();
engine.destroy();
