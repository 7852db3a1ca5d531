// Why the coarse stage of search misses (bench/RESULTS.md, search): on a gallery that
// bench/search.bench.mjs generated, for --queries captions (default 40) spread over it, how
// many images score near NAAF's 10th best, and how often NAAF's whole top-10 lies inside the
// top-K' of an EXACT coarse score (MaxSim: the sum over words of the best region cosine; and
// the mean-vector cosine), computed in plain JS with no ANN index.
// Usage: node bench/search.coarse.mjs --gallery bench/out/search/gallery-100000 [--checkpoint FILE] [--queries 40]
import { readFileSync } from 'node:fs';
import { NaafEngine, NpyReader, Vocabulary } from '../dist/index.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const args = process.argv.slice(2);
const value = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const G = value('gallery', 'bench/out/search/gallery-100000');
const CK = value('checkpoint', 'data/runs/naaf/model_best.safetensors');
const engine = await NaafEngine.create();
const model = await engine.loadModel(CK);
const vocab = Vocabulary.fromJSON(readFileSync(`${G}/scenes_vocab.json`, 'utf8'));
const caps = readFileSync(`${G}/test_caps.txt`, 'utf8').split('\n').filter(Boolean);
const reader = await NpyReader.open(`${G}/test_ims.npy`);
const [N, R, F] = reader.shape; const E = model.config.embedSize;
const emb = new Float32Array(N * R * E);
for (let s = 0; s < N; s += 4096) { const n = Math.min(4096, N - s); emb.set((await model.encodeImages({ data: await reader.readRows(s, n), shape: [n, R, F] })).data, s * R * E); }
const Q = Number(value('queries', '40'));
const texts = Array.from({ length: Q }, (_, q) => caps[Math.floor(((q + 0.5) * N) / Q) * 5 + (q % 5)]);
const seqs = texts.map((t) => vocab.encode(t)); const L = Math.max(...seqs.map((s) => s.length));
const ids = new Int32Array(Q * L).fill(vocab.padId); seqs.forEach((s, m) => ids.set(s, m * L));
const words = await model.encodeCaptions({ ids, shape: [Q, L], lengths: seqs.map((s) => s.length) });
const sims = await engine.similarity({ data: emb, shape: [N, R, E] }, words, { method: 'naaf', threshold: model.config.threshold, lambdaSoftmax: model.config.lambdaSoftmax });
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
const cover = { maxsim: KP.map(() => 0), mean: KP.map(() => 0) };
const meanImg = new Float32Array(N * E);
for (let n = 0; n < N; n++) { let nn = 0; for (let e = 0; e < E; e++) { let v = 0; for (let r = 0; r < R; r++) v += emb[(n * R + r) * E + e]; meanImg[n * E + e] = v; nn += v * v; } nn = Math.sqrt(nn) || 1; for (let e = 0; e < E; e++) meanImg[n * E + e] /= nn; }
for (let m = 0; m < Q; m++) {
  const len = seqs[m].length;
  const maxsim = new Float32Array(N), mean = new Float32Array(N);
  const qm = new Float32Array(E);
  for (let w = 0; w < len; w++) for (let e = 0; e < E; e++) qm[e] += words.data[(m * L + w) * E + e];
  for (let n = 0; n < N; n++) {
    let total = 0;
    for (let w = 0; w < len; w++) {
      let best = -Infinity; const wb = (m * L + w) * E;
      let wn = 0; for (let e = 0; e < E; e++) wn += words.data[wb + e] ** 2; wn = Math.sqrt(wn) || 1;
      for (let r = 0; r < R; r++) { const rb = (n * R + r) * E; let d = 0; for (let e = 0; e < E; e++) d += words.data[wb + e] * emb[rb + e]; if (d / wn > best) best = d / wn; }
      total += best;
    }
    maxsim[n] = total;
    let d = 0; for (let e = 0; e < E; e++) d += qm[e] * meanImg[n * E + e]; mean[n] = d;
  }
  const top10 = Array.from({ length: N }, (_, n) => n).sort((a, b) => sims[b * Q + m] - sims[a * Q + m]).slice(0, 10);
  for (const [kind, sc] of [['maxsim', maxsim], ['mean', mean]]) {
    const order = Array.from({ length: N }, (_, n) => n).sort((a, b) => sc[b] - sc[a]);
    const rank = new Int32Array(N); order.forEach((n, i) => { rank[n] = i; });
    const worst = Math.max(...top10.map((n) => rank[n]));
    KP.forEach((k, i) => { if (worst < k) cover[kind][i]++; });
  }
}
console.log(`exact coarse scores (JS), share of queries whose whole NAAF top-10 is inside the coarse top-K' (K' ${KP.join(', ')}): maxsim ${cover.maxsim.map((c) => (100 * c / Q).toFixed(0) + '%').join(' ')}, mean ${cover.mean.map((c) => (100 * c / Q).toFixed(0) + '%').join(' ')}`);
engine.destroy();
