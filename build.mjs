// Compiles the CPU kernels (kernels/wasm/*.c, with clang's wasm32 target) into build/wasm/,
// then bundles src/index.ts to dist/index.js (ESM, for Node and Deno) and dist/browser.js (the
// same source with src/platform/browser.ts for src/platform/index.ts: no file system, no Dawn,
// and no mention of `webgpu` or a `node:` module), with the WGSL kernels inlined as text and the
// WASM modules as bytes, then emits the .d.ts files; and the live search page's script
// (dist/live/app.js). The .wasm files are also copied to dist/wasm/.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import { buildWasm } from './kernels/wasm/build.mjs';

const wasmFiles = buildWasm();
rmSync('dist', { recursive: true, force: true });
mkdirSync('dist/wasm', { recursive: true });
for (const file of wasmFiles) copyFileSync(file, join('dist/wasm', file.split('/').pop()));
await esbuild.build({
  entryPoints: ['src/index.ts'],
  outfile: 'dist/index.js',
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  loader: { '.wgsl': 'text', '.wasm': 'binary' },
  // Dawn, and Node's built-ins used only for file paths (Deno provides node: modules too).
  external: ['webgpu', 'node:*'],
  sourcemap: true,
  logLevel: 'warning',
});
// The browser build: src/platform/index.ts swapped for src/platform/browser.ts.
const browserPlatform = {
  name: 'browser-platform',
  setup(build) {
    const platformIndex = resolve('src/platform/index.ts');
    build.onResolve({ filter: /platform\/index\.js$/ }, (args) => {
      const target = resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
      return target === platformIndex ? { path: resolve('src/platform/browser.ts') } : undefined;
    });
  },
};
await esbuild.build({
  entryPoints: ['src/index.ts'],
  outfile: 'dist/browser.js',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  loader: { '.wgsl': 'text', '.wasm': 'binary' },
  plugins: [browserPlatform],
  sourcemap: true,
  logLevel: 'warning',
});
const browserCode = readFileSync('dist/browser.js', 'utf8');
for (const banned of [/(?:from\s*|import\s*\(\s*|require\s*\(\s*)["']webgpu["']/, /["']node:[a-z/_]+["']/]) {
  if (banned.test(browserCode)) throw new Error(`dist/browser.js must not reference ${banned} (a browser bundler would follow it)`);
}
// The live search page's script (report/live/app.js): the page's code only; the engine is the
// browser bundle beside it (src/index.ts is mapped to ./naaf-webgpu.js and left external).
/** Leaves imports of src/index.ts external, as `target` (the engine comes from a bundle beside the output). */
const engineAs = (target) => ({
  name: `engine-as-${target}`,
  setup(build) {
    const index = resolve('src/index.ts');
    build.onResolve({ filter: /\.js$/ }, (args) => {
      const path = resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
      return path === index ? { path: target, external: true } : undefined;
    });
  },
});
await esbuild.build({
  entryPoints: ['src/live/app.ts'],
  outfile: 'dist/live/app.js',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  plugins: [browserPlatform, engineAs('./naaf-webgpu.js')],
  sourcemap: 'inline',
  logLevel: 'warning',
});
const appCode = readFileSync('dist/live/app.js', 'utf8');
for (const banned of [/(?:from\s*|import\s*\(\s*|require\s*\(\s*)["']webgpu["']/, /["']node:[a-z/_]+["']/, /class NaafEngine\b/]) {
  if (banned.test(appCode)) throw new Error(`dist/live/app.js must not contain ${banned} (the engine comes from the browser bundle)`);
}
// The Node-only bundles: Dawn and LanceDB are left to the user's install.
const nodeBundle = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  loader: { '.wgsl': 'text', '.wasm': 'binary' },
  external: ['webgpu', '@lancedb/lancedb', 'apache-arrow'],
  sourcemap: true,
  logLevel: 'warning',
};
// naaf-webgpu/search: the search code, with the engine taken from ./index.js (the same
// dist/index.js a user imports, so one engine class).
await esbuild.build({ ...nodeBundle, entryPoints: ['src/search/index.ts'], outfile: 'dist/search.js', plugins: [engineAs('./index.js')] });
// The `naaf` command line.
await esbuild.build({ ...nodeBundle, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } });
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json', '--emitDeclarationOnly', '--declaration', '--outDir', 'dist'], { stdio: 'inherit' });
console.log('built dist/index.js, dist/browser.js, dist/live/app.js, dist/search.js, dist/cli.js and dist/index.d.ts');
