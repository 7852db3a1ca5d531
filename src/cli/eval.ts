// `naaf eval`: evalrank on a precomp split with one or two checkpoints.
import { parseArgs } from 'node:util';
import { BACKEND_FLAGS, BACKEND_USAGE, commandEngine, deviceLine } from './engine.js';
import { checkVocabularyFit, encodeCaptionIds, findVocabulary, openPrecompSplit } from '../data/precomp.js';
import { numberFlag } from './flags.js';
import { evalrank, EvalReport } from '../eval/evalrank.js';
import type { RecallResult } from '../eval/recall.js';
import type { NaafModel } from '../model/model.js';
import { createProgress } from './progress.js';
import { minOf } from '../arrays.js';
import { methodSpec, methodUsage } from '../methods/index.js';

export const EVAL_USAGE = `naaf eval --data DIR --split test --checkpoint FILE [--vocab FILE] [--checkpoint2 FILE]
          [--fold5] [--json] [${methodUsage().flag}] [--threshold T] ${BACKEND_USAGE}
  DIR holds {split}_ims.npy and {split}_caps.txt; without --vocab, the vocabulary JSON in DIR or DIR/../vocab.
  --backend: 'auto' (default; NAAF_BACKEND where not given) runs on WebGPU with a hardware adapter, else on the CPU (WASM SIMD).
  Methods (default naaf):
${methodUsage().lines.join('\n')}`;

const fmt = (x: number) => x.toFixed(1);

/** The original evaluation.py's lines. */
export function formatRecall(r: RecallResult): string {
  const ar = (r.i2t.r1 + r.i2t.r5 + r.i2t.r10) / 3;
  const ari = (r.t2i.r1 + r.t2i.r5 + r.t2i.r10) / 3;
  const line = (m: RecallResult['i2t']) => [m.r1, m.r5, m.r10, m.medr, m.meanr].map(fmt).join(' ');
  return [`rsum: ${fmt(r.rsum)}`, `Average i2t Recall: ${fmt(ar)}`, `Image to text: ${line(r.i2t)}`, `Average t2i Recall: ${fmt(ari)}`, `Text to image: ${line(r.t2i)}`].join('\n');
}

export function formatReport(report: EvalReport): string {
  const parts: string[] = [];
  if (report.folds) {
    report.folds.forEach((fold, i) => parts.push(`fold ${i}:`, formatRecall(fold)));
    parts.push('-----------------------------------', 'Mean metrics: ');
  }
  parts.push(formatRecall(report));
  parts.push(`images ${report.images}, captions ${report.captions}; encode ${report.timings.encodeMs.toFixed(0)} ms, similarity ${report.timings.similarityMs.toFixed(0)} ms`);
  return parts.join('\n');
}

export async function runEval(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...BACKEND_FLAGS,
      data: { type: 'string' }, split: { type: 'string', default: 'test' }, checkpoint: { type: 'string' },
      checkpoint2: { type: 'string' }, vocab: { type: 'string' }, fold5: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false }, method: { type: 'string', default: 'naaf' }, threshold: { type: 'string' },
    },
    strict: true,
  });
  if (!values.data || !values.checkpoint) throw new Error(`naaf eval: --data and --checkpoint are required\n${EVAL_USAGE}`);
  const method = methodSpec(values.method, 'naaf eval', '--method', false).name;
  const threshold = numberFlag('naaf eval', 'threshold', values.threshold);

  const split = await openPrecompSplit(values.data, values.split!);
  const engine = await commandEngine('naaf eval', values);
  console.error(deviceLine(engine));
  const models: NaafModel[] = [];
  const progress = createProgress();
  try {
    for (const path of [values.checkpoint, values.checkpoint2].filter((p): p is string => !!p)) models.push(await engine.loadModel(path));
    const { vocab, path: vocabPath } = await findVocabulary(values.data, models[0].config.textEncoder, values.vocab);
    for (const model of models) {
      if (model.config.imgDim !== split.images.shape[2]) {
        throw new Error(`naaf eval: ${values.split}_ims.npy has ${split.images.shape[2]} features per region, the checkpoint expects imgDim ${model.config.imgDim}`);
      }
    }
    const captions = encodeCaptionIds(split.captions, vocab, minOf(models.map((m) => m.config.vocabSize)));
    checkVocabularyFit(captions.ids, captions.lengths, captions.maxWords, vocab, { vocab: vocabPath, captions: split.capsPath });
    const report = await evalrank(engine, models, split.images, captions, {
      method, threshold, fold5: values.fold5, onProgress: (phase, done, total) => progress.update(phase, done, total),
    });
    progress.done();
    if (values.json) {
      const { i2t, t2i, rsum, timings, folds } = report;
      console.log(JSON.stringify({ i2t, t2i, rsum, timings, ...(folds ? { folds } : {}) }));
    } else {
      console.log(formatReport(report));
    }
  } finally {
    progress.done();
    models.forEach((m) => m.destroy());
    split.images.close();
    engine.destroy();
  }
}
