// The four builds of the CPU kernels (kernels/wasm/*.c, compiled by build.mjs): plain SIMD128 or
// with relaxed-SIMD FMA, each for one thread (its own memory) or for a pool of threads (a shared
// memory, atomics). The runtime picks one by what the host supports (src/wasm/runtime.ts).
import relaxedThreads from '../../build/wasm/naaf-relaxed-threads.wasm';
import relaxed from '../../build/wasm/naaf-relaxed.wasm';
import simdThreads from '../../build/wasm/naaf-simd-threads.wasm';
import simd from '../../build/wasm/naaf-simd.wasm';

export const BINARIES = { simd, relaxed, simdThreads, relaxedThreads } as const;
