// `naaf index`: builds a search index of a split's images (src/search/build.ts).
import { isAbsolute, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BACKEND_FLAGS, BACKEND_USAGE, commandEngine, deviceLine } from './engine.js';
import { buildIndex } from '../search/build.js';
import { isUri } from '../search/lance.js';
import { diskBytes } from '../search/manifest.js';
import { integerFlag } from './flags.js';
import { createProgress } from './progress.js';

export const INDEX_USAGE = `naaf index --data DIR --split S --checkpoint C --out INDEX [--batch-size 2048] [--coarse maxsim|mean|student] [--student FILE] [--ann auto|ivf_pq|flat] [--vocab FILE] [--table DIR|URI] ${BACKEND_USAGE}
  Encodes the split's images with the model and writes them, a coarse vector and an ANN index to a LanceDB table in INDEX
  (--coarse student: each image's vector from a student distilled from the model's NAAF scores, bench/distill.mjs),
  or with --table in another folder or on object storage (s3://bucket/path, gs://, az://; credentials from LanceDB's
  environment variables, e.g. AWS_ACCESS_KEY_ID, AWS_REGION, AWS_ENDPOINT), where many machines can search it.
  Ctrl-C stops it (exit 130): the batch being written is committed first, and the ANN index build, which LanceDB cannot
  interrupt, is abandoned; every committed batch is kept: run the same command again to resume. One build per INDEX at a time. Needs ${'`'}npm install -E @lancedb/lancedb@0.31.0 apache-arrow@18.1.0${'`'}.`;

export async function runIndex(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: {
      ...BACKEND_FLAGS,
      data: { type: 'string' }, split: { type: 'string' }, checkpoint: { type: 'string' }, out: { type: 'string' },
      'batch-size': { type: 'string' }, coarse: { type: 'string' }, ann: { type: 'string' }, vocab: { type: 'string' }, table: { type: 'string' },
      student: { type: 'string' },
    },
  });
  for (const name of ['data', 'split', 'checkpoint', 'out'] as const) {
    if (!values[name]) throw new Error(`naaf index: --${name} is required\n${INDEX_USAGE}`);
  }
  const batchSize = integerFlag('naaf index', 'batch-size', values['batch-size'], 1);
  const engine = await commandEngine('naaf index', values);
  console.log(deviceLine(engine));
  const progress = createProgress();
  // Ctrl-C: save (the batch being committed), stop, exit 130. Whatever runs then cannot be told
  // to stop at once (a LanceDB commit or index build), so the build is aborted and, should it
  // not return at once, a second Ctrl-C exits at once; the index lock goes with the process.
  const stop = new AbortController();
  let finished = false;
  const onSignal = () => {
    progress.done();
    if (stop.signal.aborted || finished) process.exit(130);
    stop.abort();
    console.error(`stopping: the batch being written is committed first; an ANN index build in progress is abandoned (rerun to redo it). `
      + `${values.out} stays resumable: run the same command again. Ctrl-C again quits at once.`);
  };
  process.on('SIGINT', onSignal);
  try {
    const result = await buildIndex(engine, {
      data: values.data!, split: values.split!, checkpoint: values.checkpoint!, out: values.out!, batchSize,
      coarse: values.coarse as never, ann: values.ann as never, vocab: values.vocab, table: values.table, student: values.student,
      onProgress: (done, total) => progress.update('indexing', done, total),
      signal: stop.signal,
      log: (line) => { progress.done(); console.log(line); },
    });
    finished = true;
    progress.done();
    const m = result.manifest;
    if (result.stopped) {
      console.log(result.stoppedIn === 'ann'
        ? `stopped before the ANN index was complete: every image is kept; ${values.out} is incomplete: run the same command again to build the ANN index`
        : `stopped: ${values.out} is incomplete and resumable; run the same command again`);
      // LanceDB's abandoned index build would keep the process alive: exit now (the lock goes with it).
      engine.destroy();
      process.exit(130);
    }
    const inside = (dir: string) => {
      const path = relative(resolve(values.out!), dir);
      return !path.startsWith('..') && !isAbsolute(path);
    };
    const local = [values.out!, ...(m.table && !isUri(m.table) && !inside(m.table) ? [m.table] : [])];
    const mb = (await Promise.all(local.map(diskBytes))).reduce((a, b) => a + b, 0) / 2 ** 20;
    console.log(`index ${values.out}: ${m.rows} images (${m.data.regions} regions x ${m.embedSize}), coarse ${m.coarse}, ANN ${m.ann.kind}`
      + `${m.ann.partitions ? ` (${m.ann.partitions} partitions, ${m.ann.subVectors} sub-vectors)` : ''}, ${mb.toFixed(1)} MiB, ${result.seconds.toFixed(1)} s`
      + `${result.resumedFrom > 0 ? ` (resumed at ${result.resumedFrom})` : ''}${m.table ? `; table at ${m.table}${isUri(m.table) ? ' (not counted)' : ''}` : ''}`);
  } finally {
    process.off('SIGINT', onSignal);
    progress.done();
    engine.destroy();
  }
}
