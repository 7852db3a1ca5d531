// `naaf index`: builds a search index of a split's images (src/search/build.ts).
import { isAbsolute, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { NaafEngine } from '../engine.js';
import { buildIndex } from '../search/build.js';
import { isUri } from '../search/lance.js';
import { diskBytes } from '../search/manifest.js';
import { createProgress } from './progress.js';

export const INDEX_USAGE = `naaf index --data DIR --split S --checkpoint C --out INDEX [--batch-size 2048] [--coarse maxsim|mean] [--ann auto|ivf_pq|flat] [--vocab FILE] [--table DIR|URI]
  Encodes the split's images with the model and writes them, a coarse vector and an ANN index to a LanceDB table in INDEX,
  or with --table in another folder or on object storage (s3://bucket/path, gs://, az://; credentials from LanceDB's
  environment variables, e.g. AWS_ACCESS_KEY_ID, AWS_REGION, AWS_ENDPOINT), where many machines can search it.
  Interrupted (Ctrl-C), it keeps every committed batch: run the same command again to resume. Needs ${'`'}npm install -E @lancedb/lancedb@0.31.0 apache-arrow@18.1.0${'`'}.`;

export async function runIndex(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: {
      data: { type: 'string' }, split: { type: 'string' }, checkpoint: { type: 'string' }, out: { type: 'string' },
      'batch-size': { type: 'string' }, coarse: { type: 'string' }, ann: { type: 'string' }, vocab: { type: 'string' }, table: { type: 'string' },
    },
  });
  for (const name of ['data', 'split', 'checkpoint', 'out'] as const) {
    if (!values[name]) throw new Error(`naaf index: --${name} is required\n${INDEX_USAGE}`);
  }
  const batchSize = values['batch-size'] === undefined ? undefined : Number(values['batch-size']);
  const engine = await NaafEngine.create();
  const progress = createProgress();
  let stop = false;
  const onSignal = () => {
    if (stop) process.exit(130);
    stop = true;
    progress.done();
    console.error('stopping after the current batch (Ctrl-C again to quit at once; committed batches are kept)');
  };
  process.on('SIGINT', onSignal);
  try {
    const result = await buildIndex(engine, {
      data: values.data!, split: values.split!, checkpoint: values.checkpoint!, out: values.out!, batchSize,
      coarse: values.coarse as never, ann: values.ann as never, vocab: values.vocab, table: values.table,
      onProgress: (done, total) => progress.update('indexing', done, total),
      shouldStop: () => stop,
      log: (line) => { progress.done(); console.log(line); },
    });
    progress.done();
    const m = result.manifest;
    if (result.stopped) {
      console.log(`stopped: ${values.out} is incomplete and resumable; run the same command again`);
      process.exitCode = 130;
      return;
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
