// CHAN, "Fine-grained Image-text Matching by Cross-modal Hard Aligning Network" (CVPR 2023),
// as its released code computes it (ppanzx/CHAN at 7a5075e: lib/coding.py VHACoding, then
// LSEPooling or MeanPooling; scripts/train.sh for the training defaults):
//   c_w = max_r u_w . v_r   (each word's best region; the embeddings come l2-normalised)
//   pooling 'lse' (the GRU runs): S = log sum_{w < len} exp(c_w / belta), belta 0.1. belta
//     divides (a temperature, though its help text says "inversed temperature"), and there is no
//     1/lambda in front, so S is on about 10x the cosine scale, and the margin 0.05 with it.
//   pooling 'mean' (the BERT runs): S = the mean of c_w over the caption's words.
// Traps of the original, not reproduced: padding is found by the value -1 (a real word whose best
// region scores exactly -1 would count as padding); its SoftmaxPooling gives NaN for padded
// captions; training runs under fp16 autocast without a GradScaler. Also from its script, not
// here: AdamW with weight decay 0.01 (this trainer's Adam has none), batch 384, 25 epochs.
// Internally lambdaSoftmax carries 1 / belta (the scale the kernels multiply by).
import chanScoreBwdWgsl from '../../kernels/chan_score.bwd.wgsl';
import chanSplitWgsl from '../../kernels/chan_split.wgsl';
import { chanSimilarityRef } from '../ref/chan.js';
import type { RefBatch } from '../ref/naaf.js';
import { chanTapeScore } from '../ref/tapeScores.js';
import { describeValue } from './describe.js';
import type { MethodSpec } from './types.js';

const BELTA = 0.1;

/** CHAN's float64 similarity; lambdaSoftmax carries 1 / belta, lse the pooling. */
function reference(batch: RefBatch, o: { lambdaSoftmax: number; lse: boolean }): Float64Array {
  return chanSimilarityRef(batch, { pooling: o.lse ? 'lse' : 'mean', belta: 1 / o.lambdaSoftmax });
}

export const chan: MethodSpec = {
  name: 'chan',
  label: 'CHAN',
  help: 'chan: CHAN hard alignment, each word\'s best region pooled over the words (options: pooling lse|mean, belta 0.1, the LSE temperature)',
  optionKeys: ['pooling', 'belta'],
  sampleOptions: { method: 'chan' },
  wordGram: () => null,
  wordTerms: false,
  search: false,
  resolve(o, positive) {
    const pooling = o.pooling ?? 'lse';
    if (pooling !== 'lse' && pooling !== 'mean') throw new Error(`similarity: options.pooling must be 'lse' or 'mean', got ${describeValue(pooling)}`);
    const belta = positive('belta', o.belta, BELTA);
    return { threshold: 0, lambdaSoftmax: 1 / belta, lambdaLse: 1, lambdaIntra: 5, intra: false, lse: pooling === 'lse' };
  },
  training: {
    learningRate: 5e-4, lambdaSoftmax: 1 / BELTA, lambdaLse: 1, forward: 'similarity',
    margin: 0.05, warmupEpochs: 1, lrUpdate: 15,
    similarityOptions: (t) => ({ method: 'chan', pooling: t.aggregation, belta: 1 / t.lambdaSoftmax }),
  },
  backward: 'chan',
  backwardTerms: { gram: 'none', scales: false, input: 'none', regionGram: false, aggregation: true },
  kernels: {
    split: { parts: [{ name: 'kernels/chan_split.wgsl', code: chanSplitWgsl }], constants: (f) => ({ LSE: !!f.lse }), readsWordGram: false },
    backward: { name: 'kernels/chan_score.bwd.wgsl', code: chanScoreBwdWgsl },
    wasm: { score: 'chan_score' }, // kernels/wasm/chan.c
  },
  modelOptions: () => ({ method: 'chan' }),
  reference,
  // The training path is the similarity itself.
  trainingReference: { similarity: reference, tapeScore: chanTapeScore },
};
