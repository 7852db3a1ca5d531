import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [
    {
      // WGSL is imported as text, the same way build.mjs bundles it.
      name: 'wgsl-text',
      load(id: string) {
        if (id.endsWith('.wgsl')) return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
        // WASM modules as bytes, the way build.mjs bundles them.
        if (id.endsWith('.wasm')) return `export default Uint8Array.from(atob(${JSON.stringify(readFileSync(id).toString('base64'))}), (c) => c.charCodeAt(0));`;
        return null;
      },
    },
  ],
  test: {
    include: ['test/**/*.test.ts'],
    // The GPU tests ask for WebGPU: on a software adapter (lavapipe here) 'auto' picks the CPU
    // backend. Tests of the CPU backend and of 'auto' say so in their options.
    env: { NAAF_BACKEND: 'webgpu' },
    reporters: ['default', './test/summary-reporter.ts'],
    // Cold (empty shader cache), lavapipe compiles a backward test's pipelines in up to ~2 minutes.
    testTimeout: 300_000,
    hookTimeout: 120_000,
    // One GPU process at a time: lavapipe has 2 cores and Dawn is not cheap to start.
    fileParallelism: false,
    pool: 'forks',
  },
});
