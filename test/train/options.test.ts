// Trainer options: defaults per method, validation, and the schedule lr * 0.1^(epoch // lrUpdate).
import { describe, expect, it } from 'vitest';
import { learningRateAt, resolveTrainerOptions } from '../../src/train/options.js';

describe('trainer options', () => {
  it('defaults follow NAAF and SCAN', () => {
    expect(resolveTrainerOptions()).toMatchObject({ method: 'naaf', learningRate: 5e-4, margin: 0.2, gradClip: 2, lrUpdate: 10, alpha: 2, lambdaSoftmax: 20, maxViolation: true });
    expect(resolveTrainerOptions({ method: 'scan-t2i' })).toMatchObject({ learningRate: 2e-4, lambdaSoftmax: 9, lambdaLse: 6, aggregation: 'lse' });
    expect(resolveTrainerOptions({ method: 'scan-i2t' })).toMatchObject({ lambdaSoftmax: 4, lambdaLse: 5 });
    expect(resolveTrainerOptions({ gradClip: null }).gradClip).toBeNull();
  });

  it('the learning rate drops tenfold every lrUpdate epochs', () => {
    const o = resolveTrainerOptions({ learningRate: 5e-4, lrUpdate: 10 });
    expect([0, 9, 10, 19, 20, 35].map((e) => learningRateAt(o, e))).toEqual([5e-4, 5e-4, 5e-4 * 0.1, 5e-4 * 0.1, 5e-4 * 0.1 ** 2, 5e-4 * 0.1 ** 3]);
  });

  it('rejects bad values with the option named', () => {
    expect(() => resolveTrainerOptions({ learningRate: -1 })).toThrow(/options\.learningRate must be a finite number > 0, got -1/);
    expect(() => resolveTrainerOptions({ lrUpdate: 2.5 })).toThrow(/options\.lrUpdate must be an integer, got 2\.5/);
    expect(() => resolveTrainerOptions({ aggregation: 'max' as 'lse' })).toThrow(/options\.aggregation must be 'lse' or 'mean', got "max"/);
  });
});

describe('collapse and warm-up', () => {
  it('flag a loss within 2% of the every-similarity-equal loss, for hardest negatives and for summed violations', async () => {
    const { resolveTrainerOptions, collapsedLoss, hardestNegativesAt } = await import('../../src/train/options.js');
    const { collapseWarning } = await import('../../src/train/loop.js');
    const options = resolveTrainerOptions({ method: 'scan-t2i', warmupEpochs: 1 });
    expect(hardestNegativesAt(options, 0)).toBe(false);
    expect(hardestNegativesAt(options, 1)).toBe(true);
    expect(collapsedLoss(options, 0, 50)).toBeCloseTo(2 * 50 * 49 * 0.2, 10); // summed: every negative pays the margin
    expect(collapsedLoss(options, 1, 50)).toBeCloseTo(20, 10);
    expect(collapseWarning(options, 1, 20.3, [50, 50, 50])).toMatch(/^epoch 1: mean loss 20\.300 is within 2% of 20\.000 \(2 x batch x margin/);
    expect(collapseWarning(options, 1, 19.7, [50, 50])).toMatch(/within 2% of 20\.000/);
    expect(collapseWarning(options, 1, 20.5, [50, 50])).toBeNull();
    expect(collapseWarning(options, 1, 5, [50])).toBeNull();
    expect(collapseWarning(options, 0, 980, [50])).toMatch(/within 2% of 980\.000 \(2 x batch x \(batch - 1\) x margin/);
    // The last batch may be smaller: the reference is the mean over the epoch's batches.
    expect(collapseWarning(options, 1, 15, [50, 25])).toMatch(/within 2% of 15\.000/);
    // A model still improving on dev is not flagged.
    expect(collapseWarning(options, 1, 20.3, [50], true)).toBeNull();
    expect(() => resolveTrainerOptions({ warmupEpochs: -1 })).toThrow(/options.warmupEpochs must be an integer >= 0, got -1/);
  });
});
