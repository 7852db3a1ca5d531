// Which int8 product runs: 'int8' is dot4 unless the tensor-core product passed its self-check
// here and engine.tune() measured it faster for the shape. lavapipe has no subgroup matrices,
// so a device that claims them is simulated (int8Product() answers 'subgroup-matrix'; the
// tensor-core kernels then fail to compile, as a broken driver's would): the engine must never
// pick them. The self-checks' harnesses are run with two dot4 tiles, which must agree.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { NaafEngine } from '../../src/index.js';
import { gemmsAgree, makeGemmConfig } from '../../src/ops/gemm.js';
import { fusedProductsAgree } from '../../src/similarity/selfCheck.js';
import { adapterKey } from '../../src/similarity/tune.js';
import type { SimilarityOptions } from '../../src/types.js';
import { sharedEngine } from '../gpu.js';

const engine = await sharedEngine();
const ctxOf = (e: NaafEngine) => (e as unknown as { ctx: GpuContext }).ctx;

/** An engine whose device claims int8 subgroup matrices (they do not compile here). */
async function claimingEngine(options: Parameters<typeof NaafEngine.create>[0] = {}): Promise<NaafEngine> {
  const e = await NaafEngine.create(options);
  const ctx = ctxOf(e);
  ctx.int8Product = async () => 'subgroup-matrix';
  return e;
}

const shape = { N: 4, R: 9, D: 32, M: 6, L: 8 };
const naaf: SimilarityOptions = { method: 'naaf', threshold: 0.2, precision: 'int8' };
const made: NaafEngine[] = [];
afterAll(() => made.forEach((e) => e.destroy()));

describe('the int8 product', () => {
  it("'int8' runs dot4 where tensor cores are offered but not tuned, on both kernels", async () => {
    const claiming = await claimingEngine();
    made.push(claiming);
    expect(await claiming.int8Product()).toBe('subgroup-matrix');
    for (const kernel of ['split', 'fused'] as const) {
      expect((await claiming.plan(shape, { ...naaf, kernel })).product, kernel).toBe('int8-dot4');
    }
  });

  it('pinned tensor cores that fail their self-check are refused by name, on both kernels', async () => {
    const claiming = await claimingEngine();
    made.push(claiming);
    await expect(claiming.plan(shape, { ...naaf, precision: 'int8-subgroup-matrix', kernel: 'fused' })).rejects.toThrow(
      /fused kernel's tensor-core int8 product must compile and give the dot4 product's scores \(to 1e-5\).*self-check/);
    await expect(claiming.plan(shape, { ...naaf, precision: 'int8-subgroup-matrix', kernel: 'split' })).rejects.toThrow(
      /split kernel's tensor-core int8 GEMM .* must compile and match the dot4 GEMM/);
  });

  it('tune() times both products, the failing tensor cores lose, and a cached tensor-core choice that fails its check falls back to dot4', async () => {
    const claiming = await claimingEngine();
    made.push(claiming);
    const result = await claiming.tune({ R: 9, L: 8, D: 32, images: 6, captions: 12 }, {
      method: 'naaf', precision: 'int8', repeats: 1, candidates: [{ kernel: 'fused', tile: {} }, { kernel: 'split', tile: {} }],
    });
    expect(result.timings.map((t) => `${t.kernel} ${t.product}`)).toEqual(['fused int8-dot4', 'fused int8-subgroup-matrix', 'split int8-dot4', 'split int8-subgroup-matrix']);
    expect(result.timings.filter((t) => t.product === 'int8-subgroup-matrix').every((t) => t.error !== undefined)).toBe(true);
    expect(result.best.product).toBe('int8-dot4');
    expect((await claiming.plan({ ...shape, R: 9, L: 8, D: 32 }, naaf)).product).toBe('int8-dot4');

    // A tile cache that says the tensor cores won (another build, a driver that since broke).
    const file = join(mkdtempSync(join(tmpdir(), 'naaf-tiles-')), 'tiles.json');
    const probe = await claimingEngine();
    writeFileSync(file, JSON.stringify({ [adapterKey(ctxOf(probe))]: { 'naaf|int8|R9|rows32|D32': { kernel: 'fused', tile: {}, product: 'int8-subgroup-matrix' } } }));
    probe.destroy();
    const cached = await claimingEngine({ tileCacheFile: file });
    made.push(cached);
    ctxOf(cached).int8Product = async () => 'subgroup-matrix';
    expect(cached.tunedTiles()['naaf|int8|R9|rows32|D32'].product).toBe('int8-subgroup-matrix');
    expect((await cached.plan(shape, naaf)).product).toBe('int8-dot4');
  });

  it('the self-checks: two dot4 GEMM tiles agree bit for bit, two fused dot4 tiles (other workgroup sizes) to 1e-5', async () => {
    const ctx = ctxOf(engine);
    expect(await gemmsAgree(ctx, makeGemmConfig('int8', false, 128, 128, 8), makeGemmConfig('int8', false, 64, 64, 16))).toBe(true);
    expect(await fusedProductsAgree(ctx, ['dot4', 'dot4'], [{ images: 2, rows: 32 }, { images: 1 }])).toBe(true);
  });
});
