// `naaf search`: the best images of an index for one or more captions (src/search/query.ts).
import { methodNames, methodSpec } from '../methods/index.js';
import { parseArgs } from 'node:util';
import { BACKEND_FLAGS, BACKEND_USAGE, commandEngine, deviceLine } from './engine.js';
import { DEFAULT_CANDIDATES, DEFAULT_STUDENT_CANDIDATES, SearchIndex } from '../search/query.js';
import { integerFlag } from './flags.js';

export const SEARCH_USAGE = `naaf search --index INDEX --checkpoint C "a caption" ["another caption" ...] [--k 10] [--candidates K' (default ${DEFAULT_CANDIDATES}; ${DEFAULT_STUDENT_CANDIDATES} for a student index)] [--method ${methodNames().filter((m) => methodSpec(m).search).join('|')}] [--terms] [--json] ${BACKEND_USAGE}
  Coarse candidates from the index (LanceDB), re-ranked exactly on the GPU; --terms adds NAAF's per-word terms.`;

export async function runSearch(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv, strict: true, allowPositionals: true,
    options: {
      ...BACKEND_FLAGS,
      index: { type: 'string' }, checkpoint: { type: 'string' }, k: { type: 'string' }, candidates: { type: 'string' },
      method: { type: 'string' }, terms: { type: 'boolean', default: false }, json: { type: 'boolean', default: false },
    },
  });
  if (!values.index || !values.checkpoint) throw new Error(`naaf search: --index and --checkpoint are required\n${SEARCH_USAGE}`);
  if (positionals.length === 0) throw new Error(`naaf search: give at least one caption in quotes\n${SEARCH_USAGE}`);
  const engine = await commandEngine('naaf search', values);
  if (!values.json) console.log(deviceLine(engine));
  let index: SearchIndex | null = null;
  try {
    index = await SearchIndex.open(engine, values.index, values.checkpoint, { method: values.method as never });
    const { results, timings } = await index.query(positionals, {
      k: integerFlag('naaf search', 'k', values.k, 1), candidates: integerFlag('naaf search', 'candidates', values.candidates, 1), terms: values.terms,
    });
    if (values.json) {
      console.log(JSON.stringify({ index: values.index, method: index.method, images: index.size, results, timings }, null, 1));
      return;
    }
    for (const r of results) {
      console.log(`"${r.caption}"${r.unknown.length ? ` (not in the vocabulary, read as <unk>: ${r.unknown.join(', ')})` : ''}`);
      r.hits.forEach((h, i) => {
        const words = h.terms ? `  ${h.terms.map((w) => `${w.token}${w.mismatched ? '(-)' : ''}:${(w.neg + w.posF + w.posR).toFixed(2)}`).join(' ')}` : '';
        console.log(`  ${String(i + 1).padStart(3)}. image ${String(h.id).padStart(7)}  score ${h.score.toFixed(4)}  coarse rank ${h.coarseRank}${words}`);
      });
    }
    const t = timings;
    console.log(`${index.method} over ${index.size} images: encode ${t.encodeMs.toFixed(0)} ms, coarse ${t.coarseMs.toFixed(0)} ms, gather ${t.gatherMs.toFixed(0)} ms, exact ${t.exactMs.toFixed(0)} ms`);
  } finally {
    index?.close();
    engine.destroy();
  }
}
