// Tile tuning: candidates are timed, the fastest is used for later calls of that shape, and
// the choice is saved per adapter and found again by a new engine.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NaafEngine } from '../../src/index.js';
import { naafSimilarityRef } from '../../src/ref/naaf.js';
import { maxAbsDiff } from '../fixtures.js';
import { randomBatch } from '../random.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';

describe('engine.tune', () => {
  it('times the candidates, keeps the fastest, saves it per adapter and reloads it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'naaf-tune-')), 'tiles.json');
    const engine = await NaafEngine.create({ tileCacheFile: file });
    let result: Awaited<ReturnType<NaafEngine['tune']>>;
    try {
      const candidates = [
        { kernel: 'fused', tile: { images: 2 } }, { kernel: 'split', tile: { rows: 32 } }, { kernel: 'fused', tile: { rows: 100000 } },
      ] as const;
      result = await engine.tune({ R: 6, L: 7, D: 16, images: 4, captions: 12 }, { candidates: [...candidates], repeats: 1 });
      expect(result.timings.map(({ kernel, tile }) => ({ kernel, tile }))).toEqual(candidates);
      expect(result.timings[2].error).toMatch(/options\.tile\.rows must be an integer in \[1, 4096\]/);
      const ok = result.timings.filter((t) => Number.isFinite(t.ms));
      expect(ok).toHaveLength(2);
      const fastest = ok.reduce((a, b) => (b.ms < a.ms ? b : a));
      expect(result.best).toEqual({ kernel: fastest.kernel, tile: fastest.tile });
      expect(result.key).toBe('naaf|f32|R6|rows32|D16');
      const saved = JSON.parse(readFileSync(file, 'utf8'));
      const [adapter] = Object.keys(saved);
      expect(adapter).toContain(engine.info.description);
      expect(saved[adapter][result.key]).toEqual(result.best);

      // Calls of that shape use the tuned kernel and tile, and stay exact.
      const b = randomBatch(90, 3, 6, [7, 3, 5], 7, 16);
      const sims = await engine.similarity({ data: b.images, shape: [3, 6, 16] }, { data: b.captions, shape: [3, 7, 16], lengths: b.lengths }, { method: 'naaf', threshold: 0.3 });
      expect(maxAbsDiff(sims, naafSimilarityRef(b, { threshold: 0.3 }))).toBeLessThan(1e-5);
    } finally {
      engine.destroy();
    }
    // A new engine on the same adapter finds the choice; a broken file is a clear error.
    const again = await NaafEngine.create({ tileCacheFile: file });
    try {
      expect(again.tunedTiles()).toEqual({ [result.key]: result.best });
    } finally {
      again.destroy();
    }
    // A cache written before the split kernel (bare tiles) loads as fused choices.
    writeFileSync(file, JSON.stringify({ [Object.keys(JSON.parse(readFileSync(file, 'utf8')))[0]]: { 'naaf|f32|R6|rows32|D16': { images: 3 } } }));
    const old = await NaafEngine.create({ tileCacheFile: file });
    try {
      expect(old.tunedTiles()).toEqual({ 'naaf|f32|R6|rows32|D16': { kernel: 'fused', tile: { images: 3 } } });
    } finally {
      old.destroy();
    }
    writeFileSync(file, '{oops');
    await expect(NaafEngine.create({ tileCacheFile: file })).rejects.toThrow(/tile cache .*tiles\.json is not valid JSON/);
  });

  it('rejects a bad shape', async () => {
    const engine = await NaafEngine.create();
    try {
      await expect(engine.tune({ R: 0, L: 5, D: 8 })).rejects.toThrow(/tune: shape\.R must be an integer >= 1, got 0/);
    } finally {
      engine.destroy();
    }
  });
});
