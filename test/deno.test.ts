// Deno: the built bundle (dist/index.js) reproduces a golden case through Deno's own WebGPU.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('dist/index.js matches the golden data under Deno (navigator.gpu)', () => {
  const deno = fileURLToPath(new URL('../node_modules/.bin/deno', import.meta.url));
  const script = fileURLToPath(new URL('./deno/golden.deno.mjs', import.meta.url));
  const child = spawnSync(deno, ['run', '--allow-read', '--allow-env', script, 'case4_d128_lam9'], {
    encoding: 'utf8', timeout: 300_000, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', NO_COLOR: '1' },
  });
  expect(child.error, child.stderr).toBeUndefined();
  expect(child.status, child.stderr).toBe(0);
  const result = JSON.parse(child.stdout.trim().split('\n').pop()!);
  expect(result.runtime).toBe('navigator');
  for (const [key, worst] of Object.entries(result.worst as Record<string, number>)) expect(worst, key).toBeLessThan(1e-5);
});

it('dist/index.js matches the golden data under Deno on the CPU backend, with its Web Workers as threads', () => {
  const deno = fileURLToPath(new URL('../node_modules/.bin/deno', import.meta.url));
  const script = fileURLToPath(new URL('./deno/golden.deno.mjs', import.meta.url));
  const child = spawnSync(deno, ['run', '--allow-read', '--allow-env', script, 'case2_small', 'wasm'], {
    encoding: 'utf8', timeout: 300_000, env: { ...process.env, NO_COLOR: '1' },
  });
  expect(child.error, child.stderr).toBeUndefined();
  expect(child.status, child.stderr).toBe(0);
  const result = JSON.parse(child.stdout.trim().split('\n').pop()!);
  expect(result.runtime).toBe('wasm');
  expect(result.line).toMatch(/^wasm: \d+ threads?, SIMD128/);
  for (const [key, worst] of Object.entries(result.worst as Record<string, number>)) expect(worst, key).toBeLessThan(1e-5);
});
