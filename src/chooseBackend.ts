// Which backend an engine runs on. 'webgpu' and 'wasm' are taken as asked; 'auto' (the default)
// takes WebGPU on a hardware adapter and the CPU backend where there is no adapter or the adapter
// is a CPU itself (lavapipe reports architecture 'software'; SwiftShader and WARP likewise):
// there the WASM SIMD kernels are several times faster than a software GPU. The NAAF_BACKEND
// environment variable (Node, Deno) stands in for an option not given.
import { GpuContext, GpuContextOptions, probeAdapter, type AdapterProbe } from './gpu/context.js';
import { WasmBackend } from './wasm/backend.js';
import type { WasmOptions } from './wasm/runtime.js';
import { BACKEND_CHOICES, type Backend, type BackendChoice } from './backend/types.js';
import { WebGpuBackend } from './backend/webgpu.js';

export type BackendOptions = GpuContextOptions & WasmOptions & {
  /** 'auto' (default), 'webgpu' or 'wasm'; NAAF_BACKEND sets it where the option is not given. */
  backend?: BackendChoice;
};

/** NAAF_BACKEND, where the runtime has an environment (undefined in a browser). */
export function backendFromEnvironment(): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  if (env) return env.NAAF_BACKEND || undefined;
  try {
    return (globalThis as { Deno?: { env: { get(name: string): string | undefined } } }).Deno?.env.get('NAAF_BACKEND') || undefined;
  } catch {
    return undefined; // no --allow-env
  }
}

/** Checks a backend name from an option, a flag or the environment; `where` says which in the error. */
export function checkBackendChoice(value: unknown, where: string): BackendChoice {
  if (typeof value === 'string' && (BACKEND_CHOICES as readonly string[]).includes(value)) return value as BackendChoice;
  throw new Error(`NaafEngine.create: ${where} must be ${BACKEND_CHOICES.map((b) => `'${b}'`).join(', ')}, got ${JSON.stringify(value)}`);
}

/** Whether an adapter is a CPU rasteriser (lavapipe/llvmpipe, SwiftShader, WARP): a software GPU. */
export function isSoftwareAdapter(info: Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean }, fallback = false): boolean {
  if (fallback || info.isFallbackAdapter) return true;
  if (/^(software|cpu|swiftshader)$/i.test(info.architecture ?? '')) return true;
  return /llvmpipe|lavapipe|swiftshader|microsoft basic render|\bwarp\b/i.test(`${info.vendor ?? ''} ${info.device ?? ''} ${info.description ?? ''}`);
}

/** The backend for these options. */
export async function openBackend(options: BackendOptions = {}): Promise<Backend> {
  const env = options.backend === undefined ? backendFromEnvironment() : undefined;
  const choice = options.backend !== undefined ? checkBackendChoice(options.backend, 'options.backend')
    : env !== undefined ? checkBackendChoice(env, 'the environment variable NAAF_BACKEND') : 'auto';
  if (options.device) {
    if (choice === 'wasm') {
      const from = options.backend !== undefined ? "options.backend 'wasm'" : "NAAF_BACKEND=wasm (the environment)";
      throw new Error(`NaafEngine.create: options.device is a GPUDevice to adopt, which the CPU backend does not use, and ${from} asks for it; drop one of them`);
    }
    return new WebGpuBackend(await GpuContext.create(options));
  }
  if (choice === 'wasm') return WasmBackend.create(options);
  if (choice === 'webgpu') return WebGpuBackend.create(options);
  let probe: AdapterProbe | null = null;
  try {
    probe = await probeAdapter(options);
  } catch {
    probe = null; // no WebGPU runtime at all (a browser without navigator.gpu)
  }
  if (probe?.adapter && !isSoftwareAdapter(probe.adapter.info ?? {}, (probe.adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter)) {
    return new WebGpuBackend(await GpuContext.create(options, probe));
  }
  if (probe) keepAlive.push(probe); // Dawn's GPU object must outlive whatever it made
  return WasmBackend.create(options);
}

/** Runtimes that 'auto' probed and passed over: held, since collecting Dawn's GPU object may abort the process. */
const keepAlive: AdapterProbe[] = [];
