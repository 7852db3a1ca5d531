// The whole model's loss and parameter gradients for one batch in float64, composed from the
// references of each op (encoders, training similarity with mining, triplet loss, backwards).
import type { DmmState } from '../../src/ops/naafTrain.js';
import { biGruRef, l2normRowsRef, linearRef } from '../../src/ref/encoders.js';
import { biGruBackwardRef } from '../../src/ref/gruBackward.js';
import { naafTrainingSimilarityRef } from '../../src/ref/naafTrain.js';
import { scanSimilarityRef } from '../../src/ref/scan.js';
import { scoreBackwardRef } from '../../src/ref/scoreBackward.js';
import { embeddingBackwardRef, l2normRowsBackwardRef, tripletLossRef } from '../../src/ref/train.js';
import type { StateDict } from '../../src/model/weights.js';

export interface RefBatchInput {
  feats: Float32Array; B: number; R: number; imgDim: number;
  ids: Int32Array; L: number; lengths: Int32Array;
}

export interface RefTrainOptions {
  method: 'naaf' | 'scan-t2i' | 'scan-i2t';
  lambdaSoftmax: number; lambdaLse: number; lse: boolean; margin: number; alpha: number;
  state: DmmState;
}

const gruPair = (state: StateDict, key: string) => [state[`txt_enc.rnn.${key}`].data, state[`txt_enc.rnn.${key}_reverse`].data] as [Float32Array, Float32Array];

export function modelForwardRef(state: StateDict, batch: RefBatchInput, o: RefTrainOptions) {
  const { B, R, imgDim, L, lengths } = batch;
  const E = state['img_enc.fc.bias'].data.length;
  const embed = state['txt_enc.embed.weight'];
  const wordDim = embed.shape[1];
  const fcOut = linearRef(batch.feats, B * R, imgDim, state['img_enc.fc.weight'].data, state['img_enc.fc.bias'].data, E);
  const images = l2normRowsRef(Float64Array.from(fcOut), E);
  const words = new Float64Array(B * L * wordDim);
  for (let p = 0; p < B * L; p++) for (let d = 0; d < wordDim; d++) words[p * wordDim + d] = embed.data[batch.ids[p] * wordDim + d];
  const gru = { weightIH: gruPair(state, 'weight_ih_l0'), weightHH: gruPair(state, 'weight_hh_l0'), biasIH: gruPair(state, 'bias_ih_l0'), biasHH: gruPair(state, 'bias_hh_l0'), inputSize: wordDim, hidden: E };
  const hidden = biGruRef(words, B, L, lengths, gru);
  const mean = Float64Array.from({ length: B * L * E }, (_, i) => 0.5 * (hidden[i] + hidden[B * L * E + i]));
  const captions = l2normRowsRef(mean, E);
  const pairs = { images, captions, lengths, N: B, R, M: B, L, D: E };
  let sims: Float64Array;
  let thresholds: Float64Array | undefined;
  let stateAfter = o.state;
  if (o.method === 'naaf') {
    const out = naafTrainingSimilarityRef(pairs, o.state, { alpha: o.alpha, lambdaSoftmax: o.lambdaSoftmax });
    sims = out.sims;
    thresholds = out.thresholdsUsed;
    stateAfter = out.state;
  } else {
    sims = scanSimilarityRef(pairs, { direction: o.method === 'scan-t2i' ? 't2i' : 'i2t', lambdaSoftmax: o.lambdaSoftmax, aggregation: o.lse ? 'lse' : 'mean', lambdaLse: o.lambdaLse });
  }
  const { loss, grad } = tripletLossRef(sims, B, o.margin, true);
  return { loss, gradSims: grad, sims, thresholds, stateAfter, fcOut, hidden, words, pairs, gru, E, wordDim };
}

export function modelGradientsRef(state: StateDict, batch: RefBatchInput, o: RefTrainOptions): { loss: number; grads: Record<string, Float64Array>; state: DmmState } {
  const f = modelForwardRef(state, batch, o);
  const { B, R, imgDim, L, lengths } = batch;
  const { E, wordDim } = f;
  const back = scoreBackwardRef(f.pairs, { method: o.method === 'naaf' ? 'naaf-train' : o.method, thresholds: f.thresholds, lambdaSoftmax: o.lambdaSoftmax, lse: o.lse, lambdaLse: o.lambdaLse }, f.gradSims);
  const dFc = l2normRowsBackwardRef(f.fcOut, back.gradImages, B * R, E);
  const dW = new Float64Array(E * imgDim);
  const db = new Float64Array(E);
  for (let row = 0; row < B * R; row++) {
    for (let o2 = 0; o2 < E; o2++) {
      db[o2] += dFc[row * E + o2];
      for (let k = 0; k < imgDim; k++) dW[o2 * imgDim + k] += dFc[row * E + o2] * batch.feats[row * imgDim + k];
    }
  }
  const dHidden = l2normRowsBackwardRef(f.hidden, back.gradCaptions, B * L, E, true);
  const gru = biGruBackwardRef(f.words, B, L, lengths, f.gru, dHidden);
  const include = (p: number) => p % L < lengths[Math.floor(p / L)];
  const vocab = state['txt_enc.embed.weight'].shape[0];
  const grads: Record<string, Float64Array> = {
    'img_enc.fc.weight': dW, 'img_enc.fc.bias': db,
    'txt_enc.embed.weight': embeddingBackwardRef(batch.ids, include, gru.input, vocab, wordDim),
  };
  for (const [key, pair] of [['weight_ih_l0', gru.weightIH], ['weight_hh_l0', gru.weightHH], ['bias_ih_l0', gru.biasIH], ['bias_hh_l0', gru.biasHH]] as const) {
    grads[`txt_enc.rnn.${key}`] = pair[0];
    grads[`txt_enc.rnn.${key}_reverse`] = pair[1];
  }
  return { loss: f.loss, grads, state: f.stateAfter };
}
