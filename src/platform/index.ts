// The Node (and Deno) platform: node:fs/promises, node:path and Dawn from the npm package
// `webgpu`, each imported only when first needed. The browser bundle uses ./browser.ts instead.
import type { DawnModule, Platform } from './types.js';

export type { DawnModule, Platform } from './types.js';

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
};
