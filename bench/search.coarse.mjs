// Why the coarse stage of search misses (bench/RESULTS.md, search): on a gallery that
// bench/search.bench.mjs generated, for --queries captions (default 40) spread over it:
// 1. how many images score near NAAF's 10th best (are there near-ties?);
// 2. how often NAAF's whole top-10 lies inside the top-K' of an EXACT coarse score, computed in
//    plain JS with no ANN index: MaxSim (the sum over words of the best region cosine), the
//    mean-vector cosine, and a bidirectional score MaxSim + g * (the sum over regions of the best
//    word cosine), which no multi-vector store computes but which shows what MaxSim lacks;
// 3. which of NAAF's own terms (engine.naafWordTerms over the MaxSim top-POOL images: the
//    negative term, pos_f and pos_r, summed over words) decides the top-10;
// 4. with the gallery's scenes.json, how many objects NAAF's top-10 images hold against MaxSim's
//    top-200: MaxSim never decreases when an image gains a region (a max over more vectors), while
//    NAAF, negative-aware, ranks an image down for content the caption does not mention.
// Usage: node bench/search.coarse.mjs --gallery bench/out/search/gallery-100000 [--checkpoint FILE] [--queries 40]
import { existsSync, readFileSync } from 'node:fs';
import { NaafEngine } from '../dist/index.js';
import { encodeCaptions, encodeGallery, galleryText } from './gallery.mjs';
import { argValue as value, backendOptions } from './util.mjs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const G = value('gallery', 'bench/out/search/gallery-100000');
const CK = value('checkpoint', 'data/runs/naaf/model_best.safetensors');
const engine = await NaafEngine.create(backendOptions('auto'));
const model = await engine.loadModel(CK);
const { vocab, captions: caps } = galleryText(G);
const gallery = await encodeGallery(model, G);
const [N, R, E] = gallery.shape; const emb = gallery.data;
const Q = Number(value('queries', '40'));
const texts = Array.from({ length: Q }, (_, q) => caps[Math.floor(((q + 0.5) * N) / Q) * 5 + (q % 5)]);
const { words, seqs, L } = await encodeCaptions(model, vocab, texts);
const sims = await engine.similarity(gallery, words, { method: 'naaf', threshold: model.config.threshold, lambdaSoftmax: model.config.lambdaSoftmax });
const res = { d1e3: [], d1e2: [], gap10_11: [] };
for (let m = 0; m < Q; m++) {
  const col = Float32Array.from({ length: N }, (_, n) => sims[n * Q + m]).sort().reverse();
  const s10 = col[9];
  res.d1e3.push(col.filter((v) => v >= s10 - 1e-3).length);
  res.d1e2.push(col.filter((v) => v >= s10 - 1e-2).length);
  res.gap10_11.push(col[9] - col[10]);
}
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(`queries ${Q}: images scoring within 0.001 of the 10th best: median ${med(res.d1e3)}, max ${Math.max(...res.d1e3)}; within 0.01: median ${med(res.d1e2)}, max ${Math.max(...res.d1e2)}; gap 10th-11th median ${med(res.gap10_11).toExponential(2)}`);
// Exact MaxSim (sum over words of the best region cosine; embeddings are l2-normalised) and exact mean-vector cosine, in JS.
const KP = [50, 200, 500, 1000];
const GAMMAS = [0.1, 0.3, 0.5];
const cover = { maxsim: KP.map(() => 0), mean: KP.map(() => 0), ...Object.fromEntries(GAMMAS.map((g) => [`maxsim + ${g} rev`, KP.map(() => 0)])) };
const POOL = Math.min(4000, N);
const TERMS = ['MaxSim', 'neg', 'pos_f', 'pos_r', 'neg + pos_f', 'MaxSim + pos_r', 'pos_f + pos_r'];
const termCover = Object.fromEntries(TERMS.map((k) => [k, KP.map(() => 0)]));
let outsidePool = 0;
const scenesFile = `${G}/scenes.json`;
const scenes = existsSync(scenesFile) ? JSON.parse(readFileSync(scenesFile, 'utf8')).splits.test : null;
const objects = { naafTop10: [], maxsimTop200: [] };
const meanImg = new Float32Array(N * E);
for (let n = 0; n < N; n++) { let nn = 0; for (let e = 0; e < E; e++) { let v = 0; for (let r = 0; r < R; r++) v += emb[(n * R + r) * E + e]; meanImg[n * E + e] = v; nn += v * v; } nn = Math.sqrt(nn) || 1; for (let e = 0; e < E; e++) meanImg[n * E + e] /= nn; }
for (let m = 0; m < Q; m++) {
  const len = seqs[m].length;
  const maxsim = new Float32Array(N), mean = new Float32Array(N), rev = new Float32Array(N);
  const regionBest = new Float32Array(R);
  const qm = new Float32Array(E);
  for (let w = 0; w < len; w++) for (let e = 0; e < E; e++) qm[e] += words.data[(m * L + w) * E + e];
  for (let n = 0; n < N; n++) {
    let total = 0;
    regionBest.fill(-Infinity);
    for (let w = 0; w < len; w++) {
      let best = -Infinity; const wb = (m * L + w) * E;
      let wn = 0; for (let e = 0; e < E; e++) wn += words.data[wb + e] ** 2; wn = Math.sqrt(wn) || 1;
      for (let r = 0; r < R; r++) {
        const rb = (n * R + r) * E; let d = 0; for (let e = 0; e < E; e++) d += words.data[wb + e] * emb[rb + e];
        if (d / wn > best) best = d / wn;
        if (d / wn > regionBest[r]) regionBest[r] = d / wn;
      }
      total += best;
    }
    maxsim[n] = total;
    rev[n] = regionBest.reduce((a, b) => a + b, 0);
    let d = 0; for (let e = 0; e < E; e++) d += qm[e] * meanImg[n * E + e]; mean[n] = d;
  }
  const top10 = Array.from({ length: N }, (_, n) => n).sort((a, b) => sims[b * Q + m] - sims[a * Q + m]).slice(0, 10);
  const bidirectional = GAMMAS.map((g) => [`maxsim + ${g} rev`, Float32Array.from(maxsim, (v, n) => v + g * rev[n])]);
  const worstRank = (sc, among, top) => {
    const order = [...among].sort((a, b) => sc[b] - sc[a] || a - b);
    const rank = new Map(order.map((n, i) => [n, i]));
    return Math.max(...top.map((n) => rank.get(n) ?? Infinity));
  };
  const all = Array.from({ length: N }, (_, n) => n);
  for (const [kind, sc] of [['maxsim', maxsim], ['mean', mean], ...bidirectional]) {
    const worst = worstRank(sc, all, top10);
    KP.forEach((k, i) => { if (worst < k) cover[kind][i]++; });
  }
  // NAAF's own terms over the MaxSim top-POOL (ranked within the pool).
  const pool = [...all].sort((a, b) => maxsim[b] - maxsim[a]).slice(0, POOL);
  if (top10.some((n) => !pool.includes(n))) outsidePool++;
  const poolEmb = new Float32Array(POOL * R * E);
  pool.forEach((n, i) => poolEmb.set(emb.subarray(n * R * E, (n + 1) * R * E), i * R * E));
  const caption = { data: words.data.slice(m * L * E, (m + 1) * L * E), shape: [1, L, E], lengths: [len] };
  const terms = await engine.naafWordTerms({ data: poolEmb, shape: [POOL, R, E] }, caption, { method: 'naaf', threshold: model.config.threshold, lambdaSoftmax: model.config.lambdaSoftmax });
  const sum = (a, i) => { let v = 0; for (let w = 0; w < len; w++) v += a[i * L + w]; return v; };
  const byTerm = {};
  for (const key of TERMS) byTerm[key] = new Float64Array(N);
  pool.forEach((n, i) => {
    const neg = sum(terms.neg, i), posF = sum(terms.posF, i), posR = sum(terms.posR, i);
    byTerm.MaxSim[n] = maxsim[n]; byTerm.neg[n] = neg; byTerm.pos_f[n] = posF; byTerm.pos_r[n] = posR;
    byTerm['neg + pos_f'][n] = neg + posF; byTerm['MaxSim + pos_r'][n] = maxsim[n] + posR; byTerm['pos_f + pos_r'][n] = posF + posR;
  });
  for (const key of TERMS) {
    const worst = worstRank(byTerm[key], pool, top10);
    KP.forEach((k, i) => { if (worst < k) termCover[key][i]++; });
  }
  if (scenes) {
    objects.naafTop10.push(...top10.map((n) => scenes[n].objects.length));
    objects.maxsimTop200.push(...pool.slice(0, 200).map((n) => scenes[n].objects.length));
  }
}
const pct = (c) => `${(100 * c / Q).toFixed(0)}%`;
const avg = (a) => a.reduce((x, y) => x + y, 0) / a.length;
console.log(`exact coarse scores (JS), share of queries whose whole NAAF top-10 is inside the coarse top-K' (K' ${KP.join(', ')}):`);
for (const [kind, counts] of Object.entries(cover)) console.log(`  ${kind}: ${counts.map(pct).join(' ')}`);
console.log(`NAAF's terms (summed over words) as the ranking, within the MaxSim top-${POOL} (NAAF's top-10 outside it for ${outsidePool} of ${Q} queries), same K':`);
for (const [key, counts] of Object.entries(termCover)) console.log(`  ${key}: ${counts.map(pct).join(' ')}`);
if (scenes) {
  const gallery = avg(scenes.map((s) => s.objects.length));
  console.log(`objects per image: NAAF top-10 ${avg(objects.naafTop10).toFixed(2)}, MaxSim top-200 ${avg(objects.maxsimTop200).toFixed(2)}, gallery ${gallery.toFixed(2)}`);
}
engine.destroy();
