// The Node (and Deno) platform: node:fs/promises, node:path and Dawn from the npm package
// `webgpu`, each imported only when first needed. The browser bundle uses ./browser.ts instead.
import type { DawnModule, Platform, WorkerHandle } from './types.js';
import { webWorker } from './webWorker.js';

export type { DawnModule, Platform, WorkerHandle } from './types.js';

export const platform: Platform = {
  name: 'node',
  fs: async () => import('node:fs/promises'),
  path: async () => import('node:path'),
  async dawn() {
    // Deno has its own WebGPU (navigator.gpu); Dawn's npm package is for Node.
    if ((globalThis as { Deno?: unknown }).Deno) return null;
    try {
      return (await import('webgpu')) as unknown as DawnModule;
    } catch (error) {
      throw new Error(`NaafEngine.create: cannot load the npm package "webgpu" (Dawn for Node): ${(error as Error).message}. Run \`npm install webgpu\`.`);
    }
  },
  tempSuffix: () => `${(globalThis as { process?: { pid?: number } }).process?.pid ?? 0}-${Date.now().toString(36)}`,
  async startWorker(source) {
    // Deno has the web's Worker; Node has worker_threads.
    if (typeof (globalThis as { Worker?: unknown }).Worker === 'function') return webWorker(source);
    return nodeWorker(source);
  },
  async parallelism() {
    const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
    if (nav?.hardwareConcurrency) return nav.hardwareConcurrency;
    const os = await import('node:os');
    return os.availableParallelism?.() ?? os.cpus().length;
  },
};

async function nodeWorker(source: string): Promise<WorkerHandle> {
  const { Worker } = await import('node:worker_threads');
  const preamble = "const { parentPort } = require('node:worker_threads'); const post = (m) => parentPort.postMessage(m); const listen = (f) => parentPort.on('message', f);\n";
  const worker = new Worker(preamble + source, { eval: true });
  worker.unref();
  return {
    post: (message) => worker.postMessage(message),
    onMessage: (listener) => worker.on('message', listener),
    onError: (listener) => worker.on('error', listener),
    hold: (held) => (held ? worker.ref() : worker.unref()),
    terminate: () => void worker.terminate(),
  };
}
