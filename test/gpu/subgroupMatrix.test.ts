// The subgroup-matrix (tensor-core) int8 kernels cannot run on lavapipe: what can be checked
// here is the rewrite between the builtins' two spellings, and that the engine's checks of the
// tensor-core kernels fail safe (false, dot4 used) where the feature is missing. On a GPU that
// has it (npm run test:gpu with NAAF_TEST_DAWN_FLAGS=enable-dawn-features=allow_unsafe_apis)
// the same test checks that they pass and agree with dot4.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { respellSubgroupMatrix } from '../../src/gpu/shader.js';
import { verifyMmaGemm } from '../../src/ops/gemm.js';
import { verifyFusedMma } from '../../src/similarity/selfCheck.js';
import { sharedEngine } from '../gpu.js';
import { randomBatch } from '../random.js';

const engine = await sharedEngine();
const ctx = (engine as unknown as { ctx: GpuContext }).ctx;

describe('subgroup-matrix builtins: flag spelling to template spelling', () => {
  it('rewrites loads and stores, keeping nested types and expressions', () => {
    const flag = [
      'let a = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>>(&o, (r * 16u + k) * dp, false, dp);',
      'let b = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>>(&images, f(x, y), true, 32u);',
      'subgroupMatrixStore(&accS, rb * 16u * ACOLS, subgroupMatrixMultiplyAccumulate(a, b, acc), false, ACOLS);',
    ].join('\n');
    expect(respellSubgroupMatrix(flag)).toBe([
      'let a = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>, row_major>(&o, (r * 16u + k) * dp, dp);',
      'let b = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&images, f(x, y), 32u);',
      'subgroupMatrixStore<row_major>(&accS, rb * 16u * ACOLS, subgroupMatrixMultiplyAccumulate(a, b, acc), ACOLS);',
    ].join('\n'));
    expect(() => respellSubgroupMatrix('subgroupMatrixStore(&o, 0u, m, colMajor, 16u);')).toThrow(/layout argument must be true or false, got "colMajor"/);
    expect(() => respellSubgroupMatrix('subgroupMatrixLoad<T>(&o, 0u, 16u);')).toThrow(/takes 4 arguments in the flag spelling, got 3/);
  });

  it.each(['kernels/score_gemm_mma.wgsl', 'kernels/common/score_i8_mma.wgsl'])('%s: every call rewritten, line count kept', (file) => {
    const code = readFileSync(file, 'utf8');
    const codeOnly = (text: string) => text.split('\n').map((line) => line.split('//')[0]).join('\n');
    const calls = (codeOnly(code).match(/subgroupMatrix(Load<|Store\()/g) ?? []).length;
    expect(calls).toBeGreaterThan(2);
    const respelled = respellSubgroupMatrix(code);
    expect((codeOnly(respelled).match(/_major>\(/g) ?? []).length).toBe(calls);
    expect(codeOnly(respelled)).not.toMatch(/subgroupMatrixStore\(|, (true|false), /);
    expect(respelled.split('\n').length).toBe(code.split('\n').length);
  });
});

describe('the tensor-core kernels\' checks', () => {
  const b = randomBatch(301, 5, 36, [12, 2, 7], 12, 96);
  const images = { data: b.images, shape: [b.N, b.R, b.D] as const };
  const captions = { data: b.captions, shape: [b.M, b.L, b.D] as const, lengths: b.lengths };

  it('fail safe without the feature (false; int8 stays on dot4 and correct), pass with it (a GPU run with allow_unsafe_apis)', async () => {
    const offered = (await ctx.int8Product()) === 'subgroup-matrix';
    expect(await verifyMmaGemm(ctx)).toBe(offered);
    expect(await verifyFusedMma(ctx)).toBe(offered);
    const sims = await engine.similarity(images, captions, { method: 'naaf', threshold: 0.2, precision: 'int8', kernel: 'split' });
    expect(sims.every(Number.isFinite)).toBe(true);
    if (!offered) {
      expect(engine.info.features).not.toContain('chromium-experimental-subgroup-matrix');
      return;
    }
    // Tensor cores: the split GEMM's S is dot4's bit for bit; the fused epilogue sums in another order.
    for (const kernel of ['split', 'fused'] as const) {
      const dot4 = await engine.similarity(images, captions, { method: 'naaf', threshold: 0.2, precision: 'int8-dot4', kernel });
      const mma = await engine.similarity(images, captions, { method: 'naaf', threshold: 0.2, precision: 'int8-subgroup-matrix', kernel });
      if (kernel === 'split') expect(Array.from(mma)).toEqual(Array.from(dot4));
      else expect(Math.max(...Array.from(mma, (v, i) => Math.abs(v - dot4[i])))).toBeLessThan(1e-5);
    }
  });
});
