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
