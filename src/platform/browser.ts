// The browser platform: no file system and no Dawn (navigator.gpu is WebGPU). Calls that need a
// file say so and what to pass instead.
import type { Platform, WorkerHandle } from './types.js';
import { webWorker } from './webWorker.js';

export type { DawnModule, Platform, WorkerHandle } from './types.js';

function noFiles(what: string): never {
  throw new Error(`${what}: needs a file system, which a browser does not have; pass a URL, a Response or the bytes instead`);
}

export const platform: Platform = {
  name: 'browser',
  fs: async (what) => noFiles(what),
  path: async (what) => noFiles(what),
  dawn: async () => null,
  tempSuffix: () => `${Date.now().toString(36)}-${Math.floor(Math.random() * 1e9).toString(36)}`,
  startWorker: async (source): Promise<WorkerHandle> => webWorker(source),
  parallelism: async () => (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1,
};
