// Finds a WebGPU implementation: Deno's (or a browser's) `navigator.gpu`, else Dawn through the
// npm package `webgpu` in Node. The GPU object is kept strongly referenced by whoever asked for
// it: if dawn.node's GPU object is collected while a device lives, Dawn aborts the process.

export const INSTALL_HINT =
  'On Debian/Ubuntu without a GPU, install Mesa\'s software Vulkan driver (lavapipe): ' +
  '`apt-get install -y mesa-vulkan-drivers libvulkan1` (on Debian bookworm take it from bookworm-backports: ' +
  '`apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1`, as .ci/install-system.sh does); ' +
  'with an NVIDIA/AMD GPU, install its Vulkan driver. Check with `vulkaninfo --summary`.';

export interface Runtime {
  name: 'node-dawn' | 'navigator';
  gpu: GPU;
  /** Dawn flags given to `create()` (Node only). */
  dawnFlags: readonly string[];
}

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

export async function openRuntime(dawnFlags: readonly string[] = []): Promise<Runtime> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { name: 'navigator', gpu: nav.gpu, dawnFlags: [] };
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) {
    throw new Error(
      'NaafEngine.create: no WebGPU here (navigator.gpu is undefined). In Deno run with --unstable-webgpu ' +
      '(older versions) or pass options.device. ' + INSTALL_HINT,
    );
  }
  let dawn: DawnModule;
  try {
    // A variable specifier keeps bundlers from pulling dawn.node into the bundle.
    const specifier = 'webgpu';
    dawn = (await import(specifier)) as DawnModule;
  } catch (error) {
    throw new Error(`NaafEngine.create: cannot load the npm package "webgpu" (Dawn for Node): ${(error as Error).message}. Run \`npm install webgpu\`.`);
  }
  // Dawn's WebGPU classes (GPUBufferUsage, ...) must be globals for code written against the spec.
  for (const [key, value] of Object.entries(dawn.globals)) {
    if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
  }
  return { name: 'node-dawn', gpu: dawn.create([...dawnFlags]), dawnFlags: [...dawnFlags] };
}
