// Every similarity variant against the golden float64 data (from the original PyTorch code).
import { describe, expect, it } from 'vitest';
import { GOLDEN_CASES, expectGoldenWordTerms, goldenSimilarityOptions, loadGolden, maxAbsDiff } from '../fixtures.js';
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

  it.each([{}, { maxImagesPerChunk: 1, maxCaptionsPerChunk: 2 }])('the per-word NAAF terms from the fused kernel (chunks %j)', async (chunks) => {
    const terms = await engine.naafWordTerms(images, captions, { method: 'naaf', threshold: p.threshold, lambdaSoftmax: p.lambda_softmax, ...chunks });
    expect(maxAbsDiff(terms.sims, c.expected.naaf_sims)).toBeLessThan(1e-5);
    expectGoldenWordTerms(terms, c);
  });

  it('scan t2i and i2t, lse and mean', async () => {
    for (const [key, options] of goldenSimilarityOptions(p).filter(([key]) => key.startsWith('scan_'))) {
      const sims = await engine.similarity(images, captions, options);
      expect(maxAbsDiff(sims, c.expected[key]), key).toBeLessThan(1e-5);
    }
  });
});
