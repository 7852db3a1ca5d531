// Loads the golden cases copied from ../shared/fixtures/golden (float64, checked against the
// original PyTorch code) into flat typed arrays.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { NaafWordTerms } from '../src/similarity/wordTerms.js';
import type { SimilarityOptions } from '../src/types.js';

export interface GoldenCase {
  name: string;
  N: number; R: number; M: number; L: number; D: number;
  images: Float32Array; captions: Float32Array; lengths: Int32Array;
  params: Record<string, number>;
  expected: Record<string, Float64Array>;
  wordTerms: { s_max: number[][]; neg: number[][]; pos_f: number[][]; pos_r: number[][] }[];
}

export const GOLDEN_CASES = ['case1_tiny', 'case2_small', 'case4_d128_lam9', 'case6_edge'];

/** The similarity options that give each golden expected key, from a case's params. */
export function goldenSimilarityOptions(p: Record<string, number>): [string, SimilarityOptions][] {
  return [
    ['naaf_sims', { method: 'naaf', threshold: p.threshold, lambdaSoftmax: p.lambda_softmax }],
    ['naaf_sims_no_intra', { method: 'naaf', threshold: p.threshold, lambdaSoftmax: p.lambda_softmax, intra: false }],
    ['scan_t2i_lse', { method: 'scan-t2i', lambdaSoftmax: p.t2i_lambda_softmax, lambdaLse: p.t2i_lambda_lse }],
    ['scan_t2i_avg', { method: 'scan-t2i', lambdaSoftmax: p.t2i_lambda_softmax, aggregation: 'mean' }],
    ['scan_i2t_lse', { method: 'scan-i2t', lambdaSoftmax: p.i2t_lambda_softmax, lambdaLse: p.i2t_lambda_lse }],
    ['scan_i2t_avg', { method: 'scan-i2t', lambdaSoftmax: p.i2t_lambda_softmax, aggregation: 'mean' }],
  ];
}

export function loadGolden(name: string): GoldenCase {
  const path = fileURLToPath(new URL(`./fixtures/${name}.json`, import.meta.url));
  const json = JSON.parse(readFileSync(path, 'utf8'));
  const img: number[][][] = json.inputs.img;
  const cap: number[][][] = json.inputs.cap;
  const expected: Record<string, Float64Array> = {};
  for (const key of ['naaf_sims', 'naaf_sims_no_intra', 'scan_t2i_lse', 'scan_t2i_avg', 'scan_i2t_lse', 'scan_i2t_avg']) {
    expected[key] = Float64Array.from((json.expected[key] as number[][]).flat());
  }
  return {
    name,
    N: img.length, R: img[0].length, D: img[0][0].length, M: cap.length, L: cap[0].length,
    images: Float32Array.from(img.flat(2)),
    captions: Float32Array.from(cap.flat(2)),
    lengths: Int32Array.from(json.inputs.cap_lens),
    params: json.params,
    expected,
    wordTerms: json.expected.naaf_word_terms,
  };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}

/** A kernel's NAAF word terms [N, M, L] against the golden ones to 1e-5, zero past each caption's length. */
export function expectGoldenWordTerms(terms: NaafWordTerms, c: GoldenCase): void {
  const keys = [['sMax', 's_max'], ['neg', 'neg'], ['posF', 'pos_f'], ['posR', 'pos_r']] as const;
  for (let m = 0; m < c.M; m++) {
    for (let n = 0; n < c.N; n++) {
      const base = (n * c.M + m) * c.L;
      for (const [ours, theirs] of keys) {
        expect(maxAbsDiff(terms[ours].subarray(base, base + c.lengths[m]), c.wordTerms[m][theirs][n]), `${ours} n${n} m${m}`).toBeLessThan(1e-5);
        expect(terms[ours].subarray(base + c.lengths[m], base + c.L).every((v) => v === 0)).toBe(true);
      }
    }
  }
}
