// Finds a WebGPU implementation: Deno's (or a browser's) `navigator.gpu`, else Dawn from the
// platform (src/platform: the npm package `webgpu` in Node, none in a browser). The GPU object is kept strongly referenced by whoever asked for
// it: if dawn.node's GPU object is collected while a device lives, Dawn aborts the process.

export const INSTALL_HINT =
  'On Debian/Ubuntu without a GPU, install Mesa\'s software Vulkan driver (lavapipe): ' +
  '`apt-get install -y mesa-vulkan-drivers libvulkan1` (on Debian bookworm take it from bookworm-backports: ' +
  '`apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1`, as .ci/install-system.sh does); ' +
  'with an NVIDIA/AMD GPU, install its Vulkan driver. Check with `vulkaninfo --summary`.';

import { platform } from '../platform/index.js';
import { DawnPolling, paceDawnPolling } from './dawnPolling.js';

export interface Runtime {
  name: 'node-dawn' | 'navigator';
  gpu: GPU;
  /** Dawn flags given to `create()` (Node only). */
  dawnFlags: readonly string[];
}

export async function openRuntime(dawnFlags: readonly string[] = [], polling: DawnPolling = 'paced'): Promise<Runtime> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { name: 'navigator', gpu: nav.gpu, dawnFlags: [] };
  const dawn = await platform.dawn();
  if (!dawn) {
    throw new Error(
      'NaafEngine.create: no WebGPU here (navigator.gpu is undefined). In a browser, WebGPU needs a secure context ' +
      '(https: or http://localhost) and a browser that ships it (Chrome/Edge 113+, or the enable-unsafe-webgpu flag); ' +
      'in Deno run with --unstable-webgpu (older versions); or pass options.device.',
    );
  }
  // Dawn's WebGPU classes (GPUBufferUsage, ...) must be globals for code written against the spec.
  for (const [key, value] of Object.entries(dawn.globals)) {
    if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
  }
  if (polling === 'paced') paceDawnPolling();
  return { name: 'node-dawn', gpu: dawn.create([...dawnFlags]), dawnFlags: [...dawnFlags] };
}
