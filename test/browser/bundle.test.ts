// The package as users get it: package.json's export conditions pick dist/browser.js for a
// browser bundler and dist/index.js for Node; esbuild with platform 'browser' bundles the
// package with no plugins or stubs, and the bundle mentions neither `webgpu` nor a node: module.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../..');

/** A project that depends on naaf-webgpu (this checkout, built by `npm test`'s build step). */
function userProject(entry: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'naaf-user-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'naaf-webgpu'), 'dir');
  writeFileSync(join(dir, 'main.js'), entry);
  return dir;
}

describe('packaging', () => {
  it('a browser bundler takes dist/browser.js: no plugins, no node: modules, no webgpu', async () => {
    const dir = userProject("import { NaafEngine, scanSimilarityRef } from 'naaf-webgpu';\nglobalThis.out = [NaafEngine, scanSimilarityRef];\n");
    const result = await esbuild.build({ entryPoints: [join(dir, 'main.js')], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent', metafile: true });
    const inputs = Object.keys(result.metafile!.inputs);
    expect(inputs.some((path) => path.endsWith('dist/browser.js'))).toBe(true);
    expect(inputs.some((path) => path.endsWith('dist/index.js'))).toBe(false);
    const code = result.outputFiles[0].text;
    expect(code).not.toMatch(/["']node:[a-z/_]+["']/);
    expect(code).not.toMatch(/(?:from\s*|import\s*\(\s*|require\s*\(\s*)["']webgpu["']/);
    expect(code).toMatch(/NaafEngine = class/);
  });

  it('Node takes dist/index.js (the conditions resolve for each runtime)', () => {
    const dir = userProject("console.log(import.meta.resolve('naaf-webgpu'));\n");
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    const resolved = execFileSync(process.execPath, [join(dir, 'main.js')], { cwd: dir, encoding: 'utf8' }).trim();
    expect(resolved).toBe(`file://${join(root, 'dist', 'index.js')}`); // the symlink resolves to this checkout
  });
});
