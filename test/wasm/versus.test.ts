// The CPU backend against the WebGPU backend on the same inputs: every method's scores agree to
// 1e-5 (each is within 1e-5 of float64), and the rankings they give agree: topK's ids, exact
// topK from int8 (the f32 top-k on either backend), and a gallery's.
import { describe, expect, it } from 'vitest';
import { methodNames } from '../../src/methods/index.js';
import type { SimilarityOptions } from '../../src/types.js';
import { GOLDEN_CASES, loadGolden, maxAbsDiff } from '../fixtures.js';
import { sharedEngine } from '../gpu.js';
import { randomBatch } from '../random.js';
import { wasmEngine } from './engine.js';

const gpu = await sharedEngine();
const cpu = await wasmEngine({ threads: 2 });
const OPTIONS: Record<string, SimilarityOptions> = {
  naaf: { method: 'naaf', threshold: 0.2 }, 'scan-t2i': { method: 'scan-t2i' }, 'scan-i2t': { method: 'scan-i2t' }, chan: { method: 'chan' },
};

describe('CPU backend vs WebGPU backend', () => {
  it.each(GOLDEN_CASES)('golden %s: every registered method agrees to 1e-5', async (name) => {
    const c = loadGolden(name);
    const images = { data: c.images, shape: [c.N, c.R, c.D] as const };
    const captions = { data: c.captions, shape: [c.M, c.L, c.D] as const, lengths: c.lengths };
    for (const method of methodNames()) {
      const options = { ...OPTIONS[method], ...(method === 'naaf' ? { threshold: c.params.threshold } : {}) };
      expect(maxAbsDiff(await cpu.similarity(images, captions, options), await gpu.similarity(images, captions, options)), method).toBeLessThan(1e-5);
    }
  });

  it('edge shapes (R 1, L 1, odd D; R 7, odd D): every registered method agrees to 1e-5', async () => {
    for (const [N, R, lengths, D] of [[3, 1, [1, 1, 2], 5], [2, 7, [3, 9, 1], 33]] as const) {
      const b = randomBatch(N * 7 + R, N, R, [...lengths], Math.max(...lengths), D);
      const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
      const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
      for (const method of methodNames()) {
        const options = OPTIONS[method];
        expect(maxAbsDiff(await cpu.similarity(images, captions, options), await gpu.similarity(images, captions, options)), `${method} R ${R} D ${D}`).toBeLessThan(1e-5);
      }
    }
  });

  it('R 36, D 1024: scores, topK ids both ways, exact topK from int8 and a gallery rank alike', async () => {
    const b = randomBatch(405, 3, 36, [12, 5, 28], 28, 1024);
    const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
    const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };
    for (const method of ['naaf', 'scan-t2i'] as const) {
      const options = OPTIONS[method];
      expect(maxAbsDiff(await cpu.similarity(images, captions, options), await gpu.similarity(images, captions, options)), method).toBeLessThan(1e-5);
      for (const direction of ['t2i', 'i2t'] as const) {
        const ids = async (engine: typeof gpu, extra = {}) => Array.from((await engine.topK(images, captions, { ...options, k: 2, direction, ...extra })).indices);
        const want = await ids(gpu);
        expect(await ids(cpu), `${method} ${direction}`).toEqual(want);
        expect(await ids(cpu, { precision: 'int8', exact: true })).toEqual(want);
      }
    }
    const gallery = await cpu.createGallery(images, { precision: 'int8' });
    const top = await gallery.topK(captions, { ...OPTIONS.naaf, k: 2, direction: 't2i', exact: true });
    expect(Array.from(top.indices)).toEqual(Array.from((await gpu.topK(images, captions, { ...OPTIONS.naaf, k: 2, direction: 't2i' })).indices));
    gallery.destroy();
  });
});
