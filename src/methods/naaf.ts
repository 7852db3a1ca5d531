// NAAF (CVPR 2022): spec sections 3.1-3.3 of ../shared/docs/naaf-spec.md.
import naafScoreWgsl from '../../kernels/naaf_score.wgsl';
import naafScoreBwdWgsl from '../../kernels/naaf_score.bwd.wgsl';
import naafSplitWgsl from '../../kernels/naaf_split.wgsl';
import naafSplitRowWgsl from '../../kernels/common/naaf_split_row.wgsl';
import { naafSimilarityRef, naafTrainSimilarityRef } from '../ref/naaf.js';
import { naafTrainTapeScore } from '../ref/tapeScores.js';
import { describeValue } from './describe.js';
import type { MethodSpec } from './types.js';

/** NAAF's row terms on the split path, shared with the training epilogue (kernels/naaf_train_split.wgsl). */
export const NAAF_SPLIT_ROW = { name: 'kernels/common/naaf_split_row.wgsl', code: naafSplitRowWgsl };

export const naaf: MethodSpec = {
  name: 'naaf',
  label: 'NAAF',
  help: "naaf: negative-aware attention (options: threshold, the checkpoint's thres_safe; lambdaSoftmax 20; lambdaIntra 5; intra true)",
  optionKeys: ['threshold', 'lambdaSoftmax', 'lambdaIntra', 'intra'],
  sampleOptions: { method: 'naaf', threshold: 0.2 },
  wordGram: (f) => (f.intra ? 'softmax' : null),
  wordTerms: true,
  search: true,
  resolve(o, positive) {
    if (typeof o.threshold !== 'number' || !Number.isFinite(o.threshold)) {
      throw new Error(`similarity: options.threshold must be a finite number (the checkpoint's thres_safe), got ${describeValue(o.threshold)}`);
    }
    if (o.intra !== undefined && typeof o.intra !== 'boolean') throw new Error(`similarity: options.intra must be a boolean, got ${describeValue(o.intra)}`);
    return {
      threshold: o.threshold, lambdaSoftmax: positive('lambdaSoftmax', o.lambdaSoftmax, 20),
      lambdaIntra: positive('lambdaIntra', o.lambdaIntra, 5), intra: (o.intra as boolean | undefined) ?? true, lambdaLse: 1, lse: false,
    };
  },
  training: { learningRate: 5e-4, lambdaSoftmax: 20, lambdaLse: 6, forward: 'naaf-mining' },
  backward: 'naaf-train',
  backwardTerms: { gram: 'regions', scales: false, input: 'thresholds', regionGram: true, aggregation: false },
  kernels: {
    fused: { part: { name: 'kernels/naaf_score.wgsl', code: naafScoreWgsl }, constants: (f) => ({ INTRA: !!f.intra, WORD_TERMS: !!f.wordTerms }) },
    split: {
      parts: [NAAF_SPLIT_ROW, { name: 'kernels/naaf_split.wgsl', code: naafSplitWgsl }], constants: (f) => ({ INTRA: !!f.intra, WORD_TERMS: !!f.wordTerms }),
      readsWordGram: true, // the intra-text mask (bound to a placeholder without it)
    },
    backward: { name: 'kernels/naaf_score.bwd.wgsl', code: naafScoreBwdWgsl },
    wasm: { score: 'naaf_score' }, // kernels/wasm/naaf.c
  },
  modelOptions(config, what, threshold) {
    const t = threshold ?? config.threshold;
    if (t === null || t === undefined) throw new Error(`${what}: this checkpoint carries no NAAF threshold (thres_safe); pass one (--threshold)`);
    return { method: 'naaf', threshold: t, lambdaSoftmax: config.lambdaSoftmax };
  },
  reference: (batch, o) => naafSimilarityRef(batch, { threshold: o.threshold, lambdaSoftmax: o.lambdaSoftmax, lambdaIntra: o.lambdaIntra, intra: o.intra }),
  trainingReference: {
    similarity: (batch, o) => naafTrainSimilarityRef(batch, o.thresholds, o.lambdaSoftmax),
    tapeScore: naafTrainTapeScore,
  },
};
