// LanceDB's multi-vector MaxSim at scale (bench/RESULTS.md, search): on the maxsim index that
// bench/search.bench.mjs built, for --queries captions (default 20) spread over the gallery, how
// often the coarse top-K' holds exhaustive NAAF's whole top-10, and the coarse search's p50
// latency, for: the IVF_PQ index at refine factors 4 and 20; the same search without the index
// (bypassVectorIndex: LanceDB computes MaxSim exactly over every row); and an IVF_FLAT index (no
// quantisation) built on a copy of the table. Each word's ANN list is what loses the images.
// Usage: node bench/search.lance.mjs [--out bench/out/search] [--images 100000] [--checkpoint FILE] [--queries 20]
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { NaafEngine } from '../dist/index.js';
import { encodeCaptions, encodeGallery, galleryText } from './gallery.mjs';
import { argValue as value, backendOptions } from './util.mjs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const OUT = value('out', 'bench/out/search');
const IMAGES = Number(value('images', '100000'));
const CK = value('checkpoint', 'data/runs/naaf/model_best.safetensors');
const Q = Number(value('queries', '20'));
const G = join(OUT, `gallery-${IMAGES}`);
const INDEX = join(OUT, `index-${IMAGES}-maxsim`);
if (!existsSync(join(INDEX, 'naaf-index.json'))) throw new Error(`${INDEX} is missing: run \`npm run bench:search -- --images ${IMAGES}\` first`);
const require = createRequire(import.meta.url);
const lancedb = require('@lancedb/lancedb');

const engine = await NaafEngine.create(backendOptions('auto'));
const model = await engine.loadModel(CK);
const { vocab, captions: caps } = galleryText(G);
const gallery = await encodeGallery(model, G);
const [N, , E] = gallery.shape;
const texts = Array.from({ length: Q }, (_, q) => caps[Math.floor(((q + 0.25) * N) / Q) * 5 + ((q + 2) % 5)]);
const { words, seqs, L } = await encodeCaptions(model, vocab, texts);
const sims = await engine.similarity(gallery, words, { method: 'naaf', threshold: model.config.threshold, lambdaSoftmax: model.config.lambdaSoftmax });
const top10 = Array.from({ length: Q }, (_, m) => Array.from({ length: N }, (_, n) => n).sort((a, b) => sims[b * Q + m] - sims[a * Q + m] || a - b).slice(0, 10));
engine.destroy();

async function measure(table, label, configure, kps) {
  for (const kp of kps) {
    let cover = 0; const lat = [];
    for (let m = 0; m < Q; m++) {
      const vectors = Array.from({ length: seqs[m].length }, (_, w) => words.data.slice((m * L + w) * E, (m * L + w + 1) * E));
      const t = performance.now();
      // The columns the search itself selects (src/search/query.ts), so p50 compares with its coarse time.
      const rows = await configure(table.search(vectors).column('regions').distanceType('cosine').limit(kp).select(['id', 'regions', '_distance'])).toArray();
      lat.push(performance.now() - t);
      const got = new Set(rows.map((row) => Number(row.id)));
      if (top10[m].every((n) => got.has(n))) cover++;
    }
    lat.sort((a, b) => a - b);
    console.log(`${label.padEnd(28)} K' ${String(kp).padStart(4)}: top-10 inside ${(100 * cover / Q).toFixed(0).padStart(3)}%, coarse p50 ${lat[lat.length >> 1].toFixed(0)} ms`);
  }
}
const manifest = JSON.parse(readFileSync(join(INDEX, 'naaf-index.json'), 'utf8'));
if (manifest.table?.includes('://')) throw new Error(`${INDEX}'s table is at ${manifest.table}: this script copies the table for IVF_FLAT, so it wants a local one`);
const location = resolve(INDEX, manifest.table ?? 'lance');
const db = await lancedb.connect(location);
const table = await db.openTable('images');
await measure(table, 'IVF_PQ, nprobes 20, refine 4', (s) => s.nprobes(20).refineFactor(4), [200, 1000]);
await measure(table, 'IVF_PQ, nprobes 20, refine 20', (s) => s.nprobes(20).refineFactor(20), [200]);
await measure(table, 'no index (exact MaxSim)', (s) => s.bypassVectorIndex(), [200, 1000]);
table.close(); db.close();
const copy = join(OUT, `index-${IMAGES}-maxsim-ivfflat`);
rmSync(copy, { recursive: true, force: true });
try {
  cpSync(location, copy, { recursive: true });
  const db2 = await lancedb.connect(copy);
  const flat = await db2.openTable('images');
  const t = performance.now();
  await flat.createIndex('regions', { config: lancedb.Index.ivfFlat({ distanceType: 'cosine', numPartitions: 500 }), name: 'coarse_ann', replace: true });
  console.log(`IVF_FLAT index built in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  await measure(flat, 'IVF_FLAT, nprobes 20', (s) => s.nprobes(20), [200, 1000]);
  flat.close(); db2.close();
} finally {
  rmSync(copy, { recursive: true, force: true });
}
