// The similarity options a trained model is scored with: NAAF with its learned threshold
// (thres_safe) and lambda, or SCAN t2i. Types only, so the live page's bundle can use it: the
// method registry (src/methods/) carries every kernel's WGSL, which that bundle must not. The
// registry's modelOptions() is the same rule for every method (evalrank uses it).
import type { NaafModel } from '../model/model.js';
import type { SimilarityOptions } from '../types.js';

export function similarityOptionsOf(method: SimilarityOptions['method'], model: Pick<NaafModel, 'config'>): SimilarityOptions {
  return method === 'naaf'
    ? { method: 'naaf', threshold: model.config.threshold ?? 0, lambdaSoftmax: model.config.lambdaSoftmax }
    : { method } as SimilarityOptions; // the others score with their defaults (as the registry's modelOptions)
}
