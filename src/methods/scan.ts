// SCAN (ECCV 2018) text-to-image and image-to-text: spec section 4 of ../shared/docs/naaf-spec.md.
import scanI2tScoreWgsl from '../../kernels/scan_i2t_score.wgsl';
import scanI2tScoreBwdWgsl from '../../kernels/scan_i2t_score.bwd.wgsl';
import scanI2tSplitWgsl from '../../kernels/scan_i2t_split.wgsl';
import scanT2iScoreWgsl from '../../kernels/scan_t2i_score.wgsl';
import scanT2iScoreBwdWgsl from '../../kernels/scan_t2i_score.bwd.wgsl';
import scanT2iSplitWgsl from '../../kernels/scan_t2i_split.wgsl';
import type { WgslPart } from '../gpu/shader.js';
import type { RefBatch } from '../ref/naaf.js';
import { scanSimilarityRef } from '../ref/scan.js';
import { TapeScore, scanI2tTapeScore, scanT2iTapeScore } from '../ref/tapeScores.js';
import { describeValue } from './describe.js';
import type { MethodSpec, ScoreMethod } from './types.js';

interface ScanDirection {
  name: Extract<ScoreMethod, 'scan-t2i' | 'scan-i2t'>;
  label: string;
  help: string;
  lambdaSoftmax: number;
  lambdaLse: number;
  fused: WgslPart; split: WgslPart; backward: WgslPart;
  /** The CPU kernel's export (kernels/wasm/scan_t2i.c, scan_i2t.c). */
  wasmScore: string;
  /** The split epilogue keeps per (region, word) weights in workgroup memory. */
  regionRowWeights: boolean;
  /** t2i: dG over regions, scales of the words; i2t: dW over words, scales of the regions. */
  backwardGram: 'regions' | 'words';
  search: boolean;
  /** The training path's score on the autodiff tape (the backward's reference). */
  tapeScore: TapeScore;
}

function scan(d: ScanDirection): MethodSpec {
  const reference = (batch: RefBatch, o: { lambdaSoftmax: number; lse: boolean; lambdaLse: number }) => scanSimilarityRef(batch, {
    direction: d.name === 'scan-t2i' ? 't2i' : 'i2t', lambdaSoftmax: o.lambdaSoftmax, aggregation: o.lse ? 'lse' : 'mean', lambdaLse: o.lambdaLse,
  });
  return {
    name: d.name,
    label: d.label,
    help: d.help,
    optionKeys: ['lambdaSoftmax', 'aggregation', 'lambdaLse'],
    sampleOptions: { method: d.name },
    wordGram: () => 'raw',
    wordTerms: false,
    search: d.search,
    resolve(o, positive) {
      const aggregation = o.aggregation ?? 'lse';
      if (aggregation !== 'lse' && aggregation !== 'mean') throw new Error(`similarity: options.aggregation must be 'lse' or 'mean', got ${describeValue(aggregation)}`);
      return {
        threshold: 0, lambdaIntra: 5, intra: false, lse: aggregation === 'lse',
        lambdaSoftmax: positive('lambdaSoftmax', o.lambdaSoftmax, d.lambdaSoftmax), lambdaLse: positive('lambdaLse', o.lambdaLse, d.lambdaLse),
      };
    },
    // SCAN's own train.py: lr 2e-4; the same lambdas as its evaluation.
    training: {
      learningRate: 2e-4, lambdaSoftmax: d.lambdaSoftmax, lambdaLse: d.lambdaLse, forward: 'similarity',
      similarityOptions: (t) => ({ method: d.name, lambdaSoftmax: t.lambdaSoftmax, aggregation: t.aggregation, lambdaLse: t.lambdaLse }),
    },
    backward: d.name,
    backwardTerms: { gram: d.backwardGram, scales: true, input: 'wordGram', regionGram: true, aggregation: true },
    kernels: {
      fused: { part: d.fused, constants: (f) => ({ LSE: !!f.lse }) },
      split: { parts: [d.split], constants: (f) => ({ LSE: !!f.lse }), regionRowWeights: d.regionRowWeights, readsWordGram: true },
      backward: d.backward,
      wasm: { score: d.wasmScore },
    },
    // SCAN's evaluation uses its default options whatever the model trained with (as the original's evaluation.py).
    modelOptions: () => ({ method: d.name }),
    reference,
    // The training path is the similarity itself.
    trainingReference: { similarity: reference, tapeScore: d.tapeScore },
  };
}

export const scanT2i = scan({
  name: 'scan-t2i', label: 'SCAN t2i', lambdaSoftmax: 9, lambdaLse: 6, regionRowWeights: false, backwardGram: 'regions', search: true, tapeScore: scanT2iTapeScore,
  help: 'scan-t2i: SCAN text-to-image, each word attends over the regions (options: lambdaSoftmax 9, aggregation lse|mean, lambdaLse 6)',
  fused: { name: 'kernels/scan_t2i_score.wgsl', code: scanT2iScoreWgsl },
  split: { name: 'kernels/scan_t2i_split.wgsl', code: scanT2iSplitWgsl },
  backward: { name: 'kernels/scan_t2i_score.bwd.wgsl', code: scanT2iScoreBwdWgsl },
  wasmScore: 'scan_t2i_score',
});

export const scanI2t = scan({
  name: 'scan-i2t', label: 'SCAN i2t', lambdaSoftmax: 4, lambdaLse: 5, regionRowWeights: true, backwardGram: 'words', search: false, tapeScore: scanI2tTapeScore,
  help: 'scan-i2t: SCAN image-to-text, each region attends over the words (options: lambdaSoftmax 4, aggregation lse|mean, lambdaLse 5)',
  fused: { name: 'kernels/scan_i2t_score.wgsl', code: scanI2tScoreWgsl },
  split: { name: 'kernels/scan_i2t_split.wgsl', code: scanI2tSplitWgsl },
  backward: { name: 'kernels/scan_i2t_score.bwd.wgsl', code: scanI2tScoreBwdWgsl },
  wasmScore: 'scan_i2t_score',
});
