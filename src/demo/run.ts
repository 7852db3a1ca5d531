// The main job (`npm start`): build the scenes dataset if absent, train NAAF and the SCAN t2i
// baseline on it, evaluate both on the test split (recalls, rsum, foil accuracy), print the
// comparison, write report/index.html and the live search page report/live/.
import { learnsThreshold, methodSpec } from '../methods/index.js';
import type { NaafEngine } from '../engine.js';
import { findVocabulary, openPrecompSplit } from '../data/precomp.js';
import type { MethodResult, ReportData } from '../report/types.js';
import { writeReport } from '../report/write.js';
import { writeLivePage } from '../live/write.js';
import { generateScenes } from '../scenes/generate.js';
import { readScenes, writeScenes } from '../scenes/write.js';
import { runTraining } from '../train/loop.js';
import { evaluateOnTest } from './evaluate.js';
import { queryPanels, similarityDistributions } from './reportData.js';

export interface DemoOptions {
  data: string; // scenes folder (built if absent)
  runs: string; // checkpoints of the two trainings
  report: string; // report folder
  images: number; regions: number; imgDim: number; seed: number;
  epochs: number; batchSize: number; embedSize: number; wordDim: number;
  /** Per method (default METHOD_SETTINGS, picked on the dev split by bench/lr-sweep.mjs); `learningRate` overrides every method's. */
  settings?: Partial<Record<DemoMethod, MethodSettings>>;
  learningRate?: number;
  /** Which methods to train and compare (default NAAF and SCAN t2i); must include 'naaf'. */
  methods?: DemoMethod[];
  log: (line: string) => void;
  onStep?: (label: string, done: number, total: number) => void;
  /** Polled after every training step (Ctrl-C): true saves that training's checkpoint and stops the job with DemoStoppedError. */
  shouldStop?: () => boolean;
}

/** The main job stopped on request; `checkpoint` holds the interrupted training (resumable with naaf train --resume). */
export class DemoStoppedError extends Error {
  constructor(readonly label: string, readonly checkpoint: string) {
    super(`stopped during the ${label} training; its checkpoint: ${checkpoint}`);
    this.name = 'DemoStoppedError';
  }
}

export const DEMO_DEFAULTS = { images: 300, regions: 10, imgDim: 48, seed: 0, epochs: 10, batchSize: 50, embedSize: 48, wordDim: 32 };

/** The methods the main job can train; NAAF always (the report is about it), the rest by --methods. */
export const DEMO_METHODS = ['naaf', 'scan-t2i', 'chan'] as const;
export type DemoMethod = (typeof DEMO_METHODS)[number];
export const DEFAULT_DEMO_METHODS: DemoMethod[] = ['naaf', 'scan-t2i'];

/** How each method trains: its learning rate and warm-up epochs of summed violations before hardest negatives. */
export interface MethodSettings { learningRate: number; warmupEpochs: number }

/**
 * Each method's own settings, picked by the dev rsum of bench/lr-sweep.mjs at the main job's
 * sizes (its table: bench/RESULTS.md, "lr-sweep"), not NAAF's for both.
 */
/** CHAN at the main job's sizes: picked by bench/lr-sweep.mjs (bench/RESULTS.md). */
const CHAN_LR = 2e-3;

export const METHOD_SETTINGS: Record<DemoMethod, MethodSettings> = {
  naaf: { learningRate: 3e-3, warmupEpochs: 0 },
  'scan-t2i': { learningRate: 3e-3, warmupEpochs: 1 },
  chan: { learningRate: CHAN_LR, warmupEpochs: 1 },
};

async function ensureScenes(o: DemoOptions): Promise<void> {
  try {
    const existing = await readScenes(o.data);
    const c = existing.config;
    if (c.images.train === o.images && c.regions === o.regions && c.imgDim === o.imgDim && c.seed === o.seed) {
      o.log(`scenes: using ${o.data} (${o.images} train images)`);
      return;
    }
  } catch {
    // absent or unreadable: build it
  }
  const started = performance.now();
  const dataset = generateScenes({ images: o.images, regions: o.regions, imgDim: o.imgDim, seed: o.seed });
  await writeScenes(o.data, dataset);
  o.log(`scenes: built ${o.data} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

function settingsOf(o: DemoOptions, method: DemoMethod): MethodSettings {
  const settings = { ...METHOD_SETTINGS[method], ...o.settings?.[method] };
  return o.learningRate === undefined ? settings : { ...settings, learningRate: o.learningRate };
}

const fmt = (x: number) => x.toFixed(1).padStart(6);

export function comparisonTable(results: MethodResult[]): string {
  const header = 'method      |  i2t R@1    R@5   R@10 |  t2i R@1    R@5   R@10 |   rsum | foil acc | train';
  const rows = results.map((r) => `${r.method.padEnd(11)} | ${fmt(r.i2t.r1)} ${fmt(r.i2t.r5)} ${fmt(r.i2t.r10)} | ${fmt(r.t2i.r1)} ${fmt(r.t2i.r5)} ${fmt(r.t2i.r10)} | ${fmt(r.rsum)} | ${(100 * r.foilAccuracy).toFixed(1).padStart(7)}% | ${r.trainSeconds.toFixed(0)} s`);
  return [header, '-'.repeat(header.length), ...rows].join('\n');
}

export async function runDemo(engine: NaafEngine, o: DemoOptions): Promise<{
  results: MethodResult[]; reportPath: string; livePath: string; table: string;
  /** Each method's dev curve (epoch from 1) and the collapse warnings of the run. */
  curves: ReportData['curves']; warnings: string[];
}> {
  await ensureScenes(o);
  const scenes = await readScenes(o.data);
  const test = await openPrecompSplit(o.data, 'test');
  const results: MethodResult[] = [];
  const curves: ReportData['curves'] = [];
  let naafEvaluation: Awaited<ReturnType<typeof evaluateOnTest>> | null = null;
  let naafThresholds = { thres: 0, thresSafe: 0 };
  const methods = o.methods ?? DEFAULT_DEMO_METHODS;
  for (const m of methods) if (!(DEMO_METHODS as readonly string[]).includes(m)) throw new Error(`naaf demo: --methods takes ${DEMO_METHODS.join(', ')}, got ${JSON.stringify(m)}`);
  if (!methods.includes('naaf')) throw new Error(`naaf demo: --methods must include naaf (the report and the live page are about it), got ${methods.join(',')}`);
  const trained: { method: DemoMethod; label: string; checkpoint: string; vocab: string }[] = [];
  const used: string[] = [];
  const warnings: string[] = [];
  try {
    for (const method of methods) {
      const label = methodSpec(method).label;
      const started = performance.now();
      const settings = settingsOf(o, method);
      used.push(`${label}: learning rate ${settings.learningRate}, ${settings.warmupEpochs} warm-up epoch${settings.warmupEpochs === 1 ? '' : 's'}`);
      o.log(`${label}: training ${o.epochs} epochs, batch ${o.batchSize}, embed ${o.embedSize}, lr ${settings.learningRate}, warm-up ${settings.warmupEpochs}`);
      const run = await runTraining(engine, {
        data: o.data, out: `${o.runs}/${method}`, epochs: o.epochs, batchSize: o.batchSize, embedSize: o.embedSize, wordDim: o.wordDim,
        seed: o.seed, trainer: { method, ...settings },
        onStep: (s) => o.onStep?.(`${label} epoch ${s.epoch + 1}/${o.epochs} loss ${s.loss.toFixed(2)}`, s.batch, s.batches),
        onEpoch: (e) => {
          o.log(`${label} epoch ${e.epoch + 1}/${o.epochs}: loss ${e.loss.toFixed(3)}, dev rsum ${e.rsum.toFixed(1)}` +
            (learnsThreshold(method) ? `, thres ${e.thres.toFixed(3)}, thres_safe ${e.thresSafe.toFixed(3)}` : ''));
          if (e.collapse) {
            o.log(`warning: ${label} ${e.collapse}`);
            warnings.push(`${label} ${e.collapse}`);
          }
        },
        shouldStop: o.shouldStop,
      });
      if (run.stopped) throw new DemoStoppedError(label, run.checkpoint);
      const trainSeconds = (performance.now() - started) / 1000;
      curves.push({ method: label, points: run.progress.history.map((h) => ({ ...h, epoch: h.epoch + 1 })) });
      const model = await engine.loadModel(run.best);
      try {
        const { vocab, path: vocabPath } = await findVocabulary(o.data, model.config.textEncoder);
        trained.push({ method, label, checkpoint: run.best, vocab: vocabPath });
        const evaluation = await evaluateOnTest(engine, model, method, test.images, test.captions, scenes.foils, vocab);
        results.push({ method: label, i2t: evaluation.i2t, t2i: evaluation.t2i, rsum: evaluation.rsum, foilAccuracy: evaluation.foilAccuracy, trainSeconds,
          ...(learnsThreshold(method) ? { threshold: model.config.threshold ?? 0 } : {}) });
        if (method === 'naaf') {
          naafEvaluation = evaluation;
          naafThresholds = { thres: model.thresholdState?.thres ?? 0, thresSafe: model.thresholdState?.thresSafe ?? 0 };
        }
        o.log(`${label}: test rsum ${evaluation.rsum.toFixed(1)}, foil accuracy ${(100 * evaluation.foilAccuracy).toFixed(1)}% (trained in ${trainSeconds.toFixed(0)} s)`);
      } finally {
        model.destroy();
      }
    }
  } finally {
    await test.images.close();
  }
  const table = comparisonTable(results);
  const e = naafEvaluation!;
  const distributions = similarityDistributions(e, scenes.foils);
  const c = scenes.config;
  const info = engine.info;
  const reportPath = await writeReport(o.report, {
    title: 'NAAF vs SCAN on generated scenes',
    generatedAt: new Date().toISOString(),
    device: `${info.description || info.device || info.vendor} (${info.runtime})`,
    datasetSummary: `scenes: ${c.images.train} train / ${c.images.dev} dev / ${c.images.test} test images, 5 captions each, ${c.regions} regions x ${c.imgDim} features; ${scenes.foils.length} test foils`,
    notes: [
      `Both models: ${o.epochs} epochs, batch ${o.batchSize}, embedding ${o.embedSize}, word vectors ${o.wordDim}, the best dev-rsum epoch evaluated; `
        + `each with its own settings (${used.join('; ')}).`,
      warnings.length ? `Collapse warnings (loss within 2% of the every-similarity-equal loss): ${warnings.join(' | ')}` : 'No epoch of either model collapsed (no mean loss within 2% of the loss when every similarity is equal).',
      'Foil accuracy: share of test captions scored strictly above the same caption with one attribute or object word swapped for one absent from the image.',
      'Matched: the max region cosine of each word of a test caption with its own image; mismatched: that of each foil\'s swapped-in word.',
    ],
    results, curves,
    distributions: { ...distributions, threshold: naafThresholds.thres, thresSafe: naafThresholds.thresSafe, caption: 'Max word-region cosine on the test split (trained NAAF model).' },
    queries: queryPanels(e, test.captions, scenes.foils, scenes.splits.test),
  });
  // The live page compares NAAF with SCAN t2i (its panels are theirs).
  const live = trained.filter((t) => t.method === 'naaf' || t.method === 'scan-t2i') as { method: 'naaf' | 'scan-t2i'; label: string; checkpoint: string; vocab: string }[];
  const livePath = await writeLivePage(o.report, { data: o.data, vocab: live[0]!.vocab, models: live });
  o.log(`live search page: ${livePath} (serve it with \`npx naaf serve ${o.report}\`, then open http://localhost:8080/live/)`);
  return { results, reportPath, livePath, table, curves, warnings };
}
