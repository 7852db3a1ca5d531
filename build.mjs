// Bundles src/index.ts to dist/index.js (ESM, for Node and Deno) with the WGSL kernels inlined
// as text, then emits the .d.ts files.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import * as esbuild from 'esbuild';

rmSync('dist', { recursive: true, force: true });
await esbuild.build({
  entryPoints: ['src/index.ts'],
  outfile: 'dist/index.js',
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  loader: { '.wgsl': 'text' },
  // Dawn, and Node's built-ins used only for file paths (Deno provides node: modules too).
  external: ['webgpu', 'node:*'],
  sourcemap: true,
  logLevel: 'warning',
});
// The `naaf` command line, for Node.
await esbuild.build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/cli.js',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  loader: { '.wgsl': 'text' },
  external: ['webgpu'],
  banner: { js: '#!/usr/bin/env node' },
  sourcemap: true,
  logLevel: 'warning',
});
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json', '--emitDeclarationOnly', '--declaration', '--outDir', 'dist'], { stdio: 'inherit' });
console.log('built dist/index.js, dist/cli.js and dist/index.d.ts');
