// Every similarity variant against the golden float64 data (from the original PyTorch code).
import { describe, expect, it } from 'vitest';
import { GOLDEN_CASES, loadGolden, maxAbsDiff } from '../fixtures.js';
import { sharedEngine } from '../gpu.js';

const engine = await sharedEngine();

describe.each(GOLDEN_CASES)('golden %s', (name) => {
  const c = loadGolden(name);
  const images = { data: c.images, shape: [c.N, c.R, c.D] as const };
  const captions = { data: c.captions, shape: [c.M, c.L, c.D] as const, lengths: c.lengths };
  const p = c.params;

  it('naaf (intra propagation) and naaf without intra', async () => {
    const naaf = await engine.similarity(images, captions, { method: 'naaf', threshold: p.threshold, lambdaSoftmax: p.lambda_softmax });
    expect(maxAbsDiff(naaf, c.expected.naaf_sims)).toBeLessThan(1e-5);
    const noIntra = await engine.similarity(images, captions, { method: 'naaf', threshold: p.threshold, lambdaSoftmax: p.lambda_softmax, intra: false });
    expect(maxAbsDiff(noIntra, c.expected.naaf_sims_no_intra)).toBeLessThan(1e-5);
  });

  it('scan t2i and i2t, lse and mean', async () => {
    const cases = [
      ['scan_t2i_lse', { method: 'scan-t2i', lambdaSoftmax: p.t2i_lambda_softmax, lambdaLse: p.t2i_lambda_lse }],
      ['scan_t2i_avg', { method: 'scan-t2i', lambdaSoftmax: p.t2i_lambda_softmax, aggregation: 'mean' }],
      ['scan_i2t_lse', { method: 'scan-i2t', lambdaSoftmax: p.i2t_lambda_softmax, lambdaLse: p.i2t_lambda_lse }],
      ['scan_i2t_avg', { method: 'scan-i2t', lambdaSoftmax: p.i2t_lambda_softmax, aggregation: 'mean' }],
    ] as const;
    for (const [key, options] of cases) {
      const sims = await engine.similarity(images, captions, options);
      expect(maxAbsDiff(sims, c.expected[key]), key).toBeLessThan(1e-5);
    }
  });
});
