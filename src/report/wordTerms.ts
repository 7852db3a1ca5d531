// A caption's words with NAAF's terms, as the report and the live page show them (and search
// returns them): <start>, the caption's tokens, <end>, each with neg, pos_f, pos_r and max_r s.
import type { WordTerm } from './types.js';

type Terms = { neg: ArrayLike<number>; posF: ArrayLike<number>; posR: ArrayLike<number>; sMax: ArrayLike<number> };

/** `terms` indexed by word position (<start> first), for one (image, caption) pair. */
export function captionWordTerms(tokens: readonly string[], terms: Terms): WordTerm[] {
  return ['<start>', ...tokens, '<end>'].map((token, w) => ({
    token, neg: terms.neg[w]!, posF: terms.posF[w]!, posR: terms.posR[w]!, sMax: terms.sMax[w]!, mismatched: terms.neg[w]! < 0,
  }));
}
