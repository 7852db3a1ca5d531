// The engine of a command line: --backend auto|webgpu|wasm (else NAAF_BACKEND, else 'auto') and
// --threads N (the CPU backend's), and the device line every command prints first (the
// backend, its device, threads and SIMD features). Commands that train need WebGPU: for them
// 'auto' means WebGPU, and 'wasm' is refused with what to ask for instead.
import { backendFromEnvironment, checkBackendChoice } from '../chooseBackend.js';
import type { BackendChoice } from '../backend/types.js';
import { NaafEngine } from '../engine.js';
import { integerFlag } from './flags.js';

export const BACKEND_FLAGS = { backend: { type: 'string' }, threads: { type: 'string' } } as const;
export const BACKEND_USAGE = '[--backend auto|webgpu|wasm] [--threads N]';

export async function commandEngine(command: string, values: { backend?: string; threads?: string }, options: { trains?: boolean } = {}): Promise<NaafEngine> {
  const flag = values.backend;
  const env = flag === undefined ? backendFromEnvironment() : undefined;
  let backend: BackendChoice | undefined;
  try {
    backend = flag !== undefined ? checkBackendChoice(flag, '--backend') : env !== undefined ? checkBackendChoice(env, 'the environment variable NAAF_BACKEND') : undefined;
  } catch (error) {
    throw new Error((error as Error).message.replace('NaafEngine.create', command));
  }
  const threads = integerFlag(command, 'threads', values.threads, 1);
  if (options.trains) {
    if (backend === 'wasm') throw new Error(`${command}: training runs on WebGPU (the CPU backend scores and encodes, it does not train): use --backend webgpu or auto`);
    backend = 'webgpu';
  }
  return NaafEngine.create({ ...(backend ? { backend } : {}), ...(threads !== undefined ? { threads } : {}) });
}

/** The line commands and benches print first: "device: wasm: 2 threads, SIMD128 + relaxed-SIMD FMA". */
export function deviceLine(engine: NaafEngine): string {
  return `device: ${engine.describe()}`;
}
