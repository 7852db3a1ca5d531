// Builds the CPU kernels (this folder's .c files) into build/wasm/ with clang's wasm32 target
// and lld: four modules, plain SIMD128 or with relaxed-SIMD FMA, each for one thread or for a
// shared memory (atomics). Rebuilt only when a source is newer than its module. clang 16 comes
// from Debian (`apt-get install -y clang-16 lld-16`; .ci/install-system.sh installs it).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SOURCE = 'kernels/wasm';
const OUT = 'build/wasm';

const COMMON = [
  '--target=wasm32', '-O3', '-std=c11', '-msimd128', '-mbulk-memory', '-mnontrapping-fptoint', '-msign-ext', '-mmutable-globals',
  '-nostdlib', '-ffreestanding', '-Wall', '-Wextra', '-Wno-unused-parameter', '-Werror',
  // No libc: every export is a kernel; the memory is the host's; each thread sets its own stack.
  '-Wl,--no-entry', '-Wl,--import-memory', '-Wl,--export=__stack_pointer', '-Wl,--export=__heap_base',
  '-Wl,-z,stack-size=65536', '-Wl,--max-memory=4294967296',
];

const VARIANTS = {
  'naaf-simd.wasm': [],
  'naaf-relaxed.wasm': ['-mrelaxed-simd', '-DNAAF_RELAXED'],
  'naaf-simd-threads.wasm': ['-matomics', '-Wl,--shared-memory'],
  'naaf-relaxed-threads.wasm': ['-mrelaxed-simd', '-DNAAF_RELAXED', '-matomics', '-Wl,--shared-memory'],
};

function findClang() {
  const candidates = [process.env.NAAF_CLANG, 'clang-16', '/usr/lib/llvm-16/bin/clang', 'clang'].filter(Boolean);
  for (const clang of candidates) {
    try {
      const version = execFileSync(clang, ['--version'], { encoding: 'utf8' });
      const major = Number(/clang version (\d+)/.exec(version)?.[1] ?? 0);
      if (major >= 16) return clang;
    } catch {
      // not this one
    }
  }
  throw new Error('build: the CPU kernels (kernels/wasm/*.c) need clang 16 or newer with lld for the wasm32 target: '
    + '`apt-get install -y clang-16 lld-16` (as root; .ci/install-system.sh does), or set NAAF_CLANG to a clang binary');
}

/** Compiles what is out of date; returns the modules' paths. */
export function buildWasm() {
  const sources = readdirSync(SOURCE).filter((f) => f.endsWith('.c') || f.endsWith('.h')).map((f) => join(SOURCE, f));
  const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs), statSync(new URL(import.meta.url)).mtimeMs);
  mkdirSync(OUT, { recursive: true });
  const units = sources.filter((f) => f.endsWith('.c'));
  let clang = null;
  const outputs = [];
  for (const [name, flags] of Object.entries(VARIANTS)) {
    const out = join(OUT, name);
    outputs.push(out);
    if (existsSync(out) && statSync(out).mtimeMs >= newest) continue;
    clang ??= findClang();
    execFileSync(clang, [...COMMON, ...flags, '-o', out, ...units], { stdio: 'inherit' });
  }
  return outputs;
}
