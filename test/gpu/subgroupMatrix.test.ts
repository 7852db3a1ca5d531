// The subgroup-matrix (tensor-core) int8 kernels cannot run on lavapipe: what can be checked
// here is the rewrite between the builtins' two spellings, and that the engine's check of the
// split kernel's tensor-core GEMM fails safe (false, dot4 used) where the feature is missing.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { respellSubgroupMatrix } from '../../src/gpu/shader.js';
import { verifyMmaGemm } from '../../src/ops/gemm.js';
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

describe('the split kernel\'s tensor-core GEMM check', () => {
  it('is false without the feature, and int8 stays on dot4 and correct', async () => {
    expect(engine.info.features).not.toContain('chromium-experimental-subgroup-matrix');
    expect(await verifyMmaGemm(ctx)).toBe(false);
    const b = randomBatch(301, 3, 8, [4, 2], 4, 40);
    const sims = await engine.similarity({ data: b.images, shape: [b.N, b.R, b.D] }, { data: b.captions, shape: [b.M, b.L, b.D], lengths: b.lengths },
      { method: 'naaf', threshold: 0.2, precision: 'int8', kernel: 'split' });
    expect(sims.every(Number.isFinite)).toBe(true);
  });
});
