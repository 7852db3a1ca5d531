// The engine's working-memory budget: concurrent calls queue for it (first come, first served),
// so 16 at once hold what the budget allows; a call larger than the budget runs alone; a waiting
// call can be aborted. One small call's scratch is sized by its problem.
import { describe, expect, it } from 'vitest';
import { WorkingMemory } from '../../src/gpu/budget.js';
import { sharedEngine } from '../gpu.js';
import { rng } from '../random.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('WorkingMemory', () => {
  it('admits while the budget holds, then first come first served; an oversized call runs alone', async () => {
    const memory = new WorkingMemory(100);
    const order: string[] = [];
    const a = await memory.reserve(60, 'a');
    const b = memory.reserve(60, 'b').then((release) => { order.push('b'); return release; });
    const c = memory.reserve(10, 'c').then((release) => { order.push('c'); return release; }); // fits, but waits behind b
    await tick();
    expect(order).toEqual([]);
    expect(memory.reserved).toBe(60);
    a();
    const releaseB = await b;
    const releaseC = await c;
    expect(order).toEqual(['b', 'c']);
    expect(memory.reserved).toBe(70);
    const huge = memory.reserve(500, 'huge').then((release) => { order.push('huge'); return release; });
    releaseB();
    await tick();
    expect(order).toEqual(['b', 'c']); // c still runs
    releaseC();
    (await huge)();
    expect(order).toEqual(['b', 'c', 'huge']);
    expect(memory.reserved).toBe(0);
    expect(memory.peakReserved).toBe(500);
  });

  it('a waiting call can be aborted, and lets the ones behind it in', async () => {
    const memory = new WorkingMemory(100);
    const first = await memory.reserve(90, 'first');
    const controller = new AbortController();
    const waiting = memory.reserve(50, 'second', controller.signal);
    controller.abort(new Error('user cancelled'));
    await expect(waiting).rejects.toThrow(/second \(waiting for GPU working memory\): aborted \(user cancelled\)/);
    first();
    expect(memory.reserved).toBe(0);
    await expect(memory.reserve(1, 'late', controller.signal)).rejects.toThrow(/late: aborted/);
  });
});

describe('engine calls under maxWorkingBytes', async () => {
  const budget = 3_000_000;
  const engine = await sharedEngine({ maxWorkingBytes: budget });
  const next = rng(9);
  const data = (n: number) => Float32Array.from({ length: n }, () => next() * 2 - 1);
  const [N, R, D, M, L] = [64, 8, 64, 40, 6];
  const images = { data: data(N * R * D), shape: [N, R, D] as [number, number, number] };
  const captions = { data: data(M * L * D), shape: [M, L, D] as [number, number, number], lengths: Array.from({ length: M }, (_, m) => 1 + (m % L)) };
  const options = { method: 'naaf' as const, threshold: 0.1, maxGpuBytes: 2 ** 20 };

  it('16 concurrent calls stay within the budget and give the single call\'s scores', async () => {
    engine.trim();
    engine.resetPeak();
    const alone = await engine.similarity(images, captions, options);
    const oneCall = engine.stats().peakBytesAllocated;
    engine.trim();
    engine.resetPeak();
    const all = await Promise.all(Array.from({ length: 16 }, () => engine.similarity(images, captions, options)));
    const stats = engine.stats();
    for (const scores of all) expect(scores).toEqual(alone);
    expect(stats.peakWorkingBytes).toBeLessThanOrEqual(budget);
    expect(stats.peakBytesAllocated).toBeLessThanOrEqual(budget);
    expect(stats.peakBytesAllocated).toBeLessThan(16 * oneCall); // without the budget: 16 calls' worth
    expect(stats.workingBytes).toBe(0);
  });

  it('a small call takes scratch for its problem, not a fixed size', async () => {
    engine.trim();
    engine.resetPeak();
    await engine.similarity({ data: data(2 * 2 * 8), shape: [2, 2, 8] }, { data: data(2 * 3 * 8), shape: [2, 3, 8], lengths: [3, 2] }, { method: 'naaf', threshold: 0.1 });
    expect(engine.stats().peakBytesAllocated).toBeLessThan(64 * 1024);
  });

  it('refuses a budget that is not a positive integer', async () => {
    const { NaafEngine } = await import('../../src/index.js');
    await expect(NaafEngine.create({ maxWorkingBytes: 0 })).rejects.toThrow(/options.maxWorkingBytes must be an integer >= 1, got 0/);
  });
});
