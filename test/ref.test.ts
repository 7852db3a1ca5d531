// The float64 references against the golden data (which came from the original PyTorch code).
import { describe, expect, it } from 'vitest';
import { naafSimilarityRef, naafWordTermsRef } from '../src/ref/naaf.js';
import { scanSimilarityRef } from '../src/ref/scan.js';
import { GOLDEN_CASES, loadGolden, maxAbsDiff } from './fixtures.js';

describe.each(GOLDEN_CASES)('float64 reference vs golden %s', (name) => {
  const c = loadGolden(name);
  const batch = { images: c.images, captions: c.captions, lengths: c.lengths, N: c.N, R: c.R, M: c.M, L: c.L, D: c.D };
  const threshold = c.params.threshold;
  const lambdaSoftmax = c.params.lambda_softmax;

  it('naaf with and without intra propagation', () => {
    expect(maxAbsDiff(naafSimilarityRef(batch, { threshold, lambdaSoftmax }), c.expected.naaf_sims)).toBeLessThan(1e-12);
    expect(maxAbsDiff(naafSimilarityRef(batch, { threshold, lambdaSoftmax, intra: false }), c.expected.naaf_sims_no_intra)).toBeLessThan(1e-12);
  });

  it('naaf per-word terms', () => {
    for (let m = 0; m < c.M; m++) {
      for (let n = 0; n < c.N; n++) {
        const terms = naafWordTermsRef(batch, n, m, { threshold, lambdaSoftmax });
        expect(maxAbsDiff(terms.sMax, c.wordTerms[m].s_max[n])).toBeLessThan(1e-12);
        expect(maxAbsDiff(terms.neg, c.wordTerms[m].neg[n])).toBeLessThan(1e-12);
        expect(maxAbsDiff(terms.posF, c.wordTerms[m].pos_f[n])).toBeLessThan(1e-12);
        expect(maxAbsDiff(terms.posR, c.wordTerms[m].pos_r[n])).toBeLessThan(1e-12);
      }
    }
  });

  it('scan t2i and i2t, lse and mean', () => {
    const p = c.params;
    const t2i = { direction: 't2i' as const, lambdaSoftmax: p.t2i_lambda_softmax, lambdaLse: p.t2i_lambda_lse };
    const i2t = { direction: 'i2t' as const, lambdaSoftmax: p.i2t_lambda_softmax, lambdaLse: p.i2t_lambda_lse };
    expect(maxAbsDiff(scanSimilarityRef(batch, t2i), c.expected.scan_t2i_lse)).toBeLessThan(1e-12);
    expect(maxAbsDiff(scanSimilarityRef(batch, { ...t2i, aggregation: 'mean' }), c.expected.scan_t2i_avg)).toBeLessThan(1e-12);
    expect(maxAbsDiff(scanSimilarityRef(batch, i2t), c.expected.scan_i2t_lse)).toBeLessThan(1e-12);
    expect(maxAbsDiff(scanSimilarityRef(batch, { ...i2t, aggregation: 'mean' }), c.expected.scan_i2t_avg)).toBeLessThan(1e-12);
  });
});
