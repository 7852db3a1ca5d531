// Paced polling of Node's Dawn (src/gpu/dawnPolling.ts): JavaScript's setImmediate is untouched,
// a native callback goes to timers after the first millisecond of a wait, and a pending GPU wait
// polls about once a millisecond instead of back to back.
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { NaafEngine } from '../../src/index.js';
import { sharedEngine } from '../gpu.js';
import { randomBatch } from '../random.js';

const engine = await sharedEngine(); // its runtime installs the pacing (the default)

/** Counts the native callbacks (Dawn's polls) given to setImmediate while `work` runs. */
async function nativePolls(work: () => Promise<unknown>): Promise<{ polls: number; ms: number }> {
  const paced = globalThis.setImmediate;
  let polls = 0;
  globalThis.setImmediate = ((callback: (...args: unknown[]) => void, ...args: unknown[]) => {
    if (/\[native code\]/.test(Function.prototype.toString.call(callback))) polls++;
    return paced(callback, ...args);
  }) as typeof setImmediate;
  const start = performance.now();
  try {
    await work();
  } finally {
    globalThis.setImmediate = paced;
  }
  return { polls, ms: performance.now() - start };
}

describe('Dawn polling', () => {
  it("leaves JavaScript's setImmediate as it was: an Immediate, cancellable, promisified", async () => {
    const handle = setImmediate(() => {});
    expect(handle.constructor.name).toBe('Immediate');
    let ran = false;
    const cancelled = setImmediate(() => { ran = true; });
    clearImmediate(cancelled);
    await promisify(setImmediate)();
    expect(ran).toBe(false);
    expect(await promisify(setImmediate)('value')).toBe('value');
  });

  it('sends a native callback to a timer once a wait has run a millisecond', async () => {
    const first = setImmediate(Math.max); // a native function, as Dawn's poll is
    const start = performance.now();
    while (performance.now() - start < 2) setImmediate(Math.max); // back-to-back polls: one wait
    const later = setImmediate(Math.max);
    expect(first.constructor.name).toBe('Immediate');
    expect(later.constructor.name).toBe('Timeout');
    clearTimeout(later as unknown as NodeJS.Timeout);
  });

  it('a pending GPU wait polls about once a millisecond, not back to back', async () => {
    const b = randomBatch(401, 24, 36, Array.from({ length: 48 }, (_, i) => 4 + (i % 12)), 16, 256);
    const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
    const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
    const run = () => engine.similarity(images, captions, { method: 'naaf', threshold: 0.1 });
    await run(); // compile
    const { polls, ms } = await nativePolls(run);
    // Busy polling runs about 100 polls a millisecond; paced, about one.
    expect(polls).toBeLessThan(200 + 3 * ms);
  });

  it("rejects an unknown options.dawnPolling, naming it", async () => {
    await expect(NaafEngine.create({ dawnPolling: 'fast' as never })).rejects.toThrow(/options\.dawnPolling must be 'paced' or 'busy', got "fast"/);
  });
});
