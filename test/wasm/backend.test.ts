// Which backend an engine runs on ('auto', 'webgpu', 'wasm', NAAF_BACKEND), what the CPU
// backend refuses (GPU buffers, training, WebGPU-only calls) and how, the relaxed-SIMD build
// (Node 20 behind --experimental-wasm-relaxed-simd), and that a process using it exits on its own.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NaafEngine, isSoftwareAdapter } from '../../src/index.js';
import { loadGolden } from '../fixtures.js';
import { wasmEngine } from './engine.js';

const child = fileURLToPath(new URL('./child.mjs', import.meta.url));

function runChild(args: string[], env: Record<string, string | undefined>, nodeFlags: string[] = []) {
  const result = spawnSync(process.execPath, [...nodeFlags, child, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  expect(result.error, result.stderr).toBeUndefined();
  return { status: result.status, stderr: result.stderr, out: result.status === 0 ? JSON.parse(result.stdout.trim().split('\n').pop()!) : null };
}

describe('choosing a backend', () => {
  it("'auto' takes the CPU backend on a software adapter (lavapipe here, architecture 'software')", async () => {
    const engine = await NaafEngine.create({ backend: 'auto' });
    try {
      expect(engine.backend).toBe('wasm');
      expect(engine.info.runtime).toBe('wasm');
      expect(engine.describe()).toMatch(/^wasm: \d+ threads?, SIMD128/);
    } finally {
      engine.destroy();
    }
    expect(isSoftwareAdapter({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15', description: 'llvmpipe' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader Device (Subzero)' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'microsoft', architecture: '', description: 'Microsoft Basic Render Driver' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100 80GB HBM3' })).toBe(false);
    expect(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'hopper' }, true)).toBe(true); // a fallback adapter
  });

  it("with no Vulkan driver visible, 'auto' runs on WASM and 'webgpu' says how to install one", () => {
    const noDriver = { VK_ICD_FILENAMES: '/nonexistent/icd.json', NAAF_BACKEND: undefined };
    const auto = runChild([''], noDriver);
    expect(auto.status, auto.stderr).toBe(0);
    expect(auto.out.backend).toBe('wasm');
    expect(auto.out.worst).toBeLessThan(1e-5);
    const gpu = runChild(['webgpu'], noDriver);
    expect(gpu.status).not.toBe(0);
    expect(gpu.stderr).toMatch(/no WebGPU adapter found.*apt-get install -y/s);
  });

  it('NAAF_BACKEND stands in for the option; a bad value names the variable', async () => {
    const saved = process.env.NAAF_BACKEND;
    try {
      process.env.NAAF_BACKEND = 'wasm';
      const engine = await NaafEngine.create({ threads: 1 });
      expect(engine.backend).toBe('wasm');
      engine.destroy();
      process.env.NAAF_BACKEND = 'cuda';
      await expect(NaafEngine.create()).rejects.toThrow(/the environment variable NAAF_BACKEND must be 'auto', 'webgpu', 'wasm', got "cuda"/);
    } finally {
      process.env.NAAF_BACKEND = saved;
    }
    await expect(NaafEngine.create({ backend: 'cpu' as never })).rejects.toThrow(/options.backend must be 'auto', 'webgpu', 'wasm', got "cpu"/);
    await expect(NaafEngine.create({ backend: 'wasm', threads: 0 })).rejects.toThrow(/options.threads must be an integer in \[1, 256\], got 0/);
  });

  it('relaxed-SIMD FMA where the runtime validates it (Node 20: --experimental-wasm-relaxed-simd), plain SIMD128 otherwise; both match the golden values', () => {
    const plain = runChild(['wasm'], {});
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.out.features).toContain('simd128');
    expect(plain.out.features).not.toContain('relaxed-simd');
    const relaxed = runChild(['wasm'], {}, ['--experimental-wasm-relaxed-simd']);
    expect(relaxed.status, relaxed.stderr).toBe(0);
    expect(relaxed.out.features).toContain('relaxed-simd');
    expect(relaxed.out.line).toMatch(/relaxed-SIMD FMA/);
    expect(relaxed.out.worst).toBeLessThan(1e-5);
    expect(plain.out.worst).toBeLessThan(1e-5);
  });

  it('a Node process using the CPU backend exits on its own, destroyed or not (its worker threads do not hold it)', () => {
    for (const args of [['wasm'], ['wasm', '--leave']]) {
      const run = runChild(args, {});
      expect(run.status, run.stderr).toBe(0);
      expect(run.out.features).toContain('threads');
    }
  });
});

describe('what the CPU backend refuses', async () => {
  const engine = await wasmEngine({ threads: 2 });
  const c = loadGolden('case1_tiny');
  const captions = { data: c.captions, shape: [c.M, c.L, c.D] as const, lengths: c.lengths };

  it('GPU buffers, by argument', async () => {
    const fake = { buffer: { size: 1 << 20, usage: 0x80 } as unknown as GPUBuffer, shape: [c.N, c.R, c.D] as const };
    await expect(engine.similarity(fake, captions, { method: 'scan-t2i' })).rejects.toThrow(/similarity: images.buffer is a GPUBuffer, which backend 'wasm' cannot read; pass images.data/);
    await expect(engine.topK({ data: c.images, shape: [c.N, c.R, c.D] }, { ...fake, lengths: c.lengths, shape: [c.M, c.L, c.D] }, { method: 'scan-t2i', k: 1, direction: 't2i' }))
      .rejects.toThrow(/topK: captions.buffer is a GPUBuffer/);
    await expect(engine.createGallery(fake)).rejects.toThrow(/createGallery: images.buffer is a GPUBuffer/);
  });

  it('training and the WebGPU-only calls name the backend to ask for', async () => {
    await expect(engine.resumeTrainer('/nonexistent')).rejects.toThrow(/engine.resumeTrainer: training runs on WebGPU, and this engine runs on backend 'wasm'; create it with NaafEngine.create\({ backend: 'webgpu' }\)/);
    await expect(engine.naafTrainingSimilarity({} as never, {} as never, {} as never)).rejects.toThrow(/training runs on WebGPU/);
    await expect(engine.tune({ N: 1, M: 1, R: 1, D: 1, L: 1 } as never)).rejects.toThrow(/engine.tune: this is a WebGPU call, and this engine runs on backend 'wasm'/);
    expect(() => engine.device).toThrow(/engine.device: this is a WebGPU call/);
    await expect(engine.similarityInto({ data: c.images, shape: [c.N, c.R, c.D] }, captions, { method: 'scan-t2i' }, { buffer: {} as GPUBuffer }))
      .rejects.toThrow(/engine.similarityInto: this is a WebGPU call/);
    await expect(engine.similarity({ data: c.images, shape: [c.N, c.R, c.D] }, captions, { method: 'scan-t2i', precision: 'int8-dot4' })).rejects.toThrow(/'int8-dot4' pins a GPU int8 product; on backend 'wasm' use 'int8'/);
  });
});

describe('destroying a CPU engine', () => {
  it('mid-call rejects the call (no hang), and later calls say the engine was destroyed', async () => {
    const engine = await NaafEngine.create({ backend: 'wasm', threads: 2 });
    const c = loadGolden('case4_d128_lam9');
    const images = { data: c.images, shape: [c.N, c.R, c.D] as const };
    const captions = { data: c.captions, shape: [c.M, c.L, c.D] as const, lengths: c.lengths };
    await engine.similarity(images, captions, { method: 'scan-t2i' });
    const running = engine.similarity(images, captions, { method: 'scan-t2i' });
    engine.destroy();
    await expect(running).rejects.toThrow(/destroyed/);
    await expect(engine.similarity(images, captions, { method: 'scan-t2i' })).rejects.toThrow(/the engine was destroyed/);
  });
});

describe('a CPU model destroyed while it encodes', () => {
  it('finishes that encode with the right embeddings, and refuses later ones', async () => {
    const engine = await wasmEngine({ threads: 2 });
    const checkpoint = fileURLToPath(new URL('../fixtures/checkpoints/naaf_basic_tiny.pth.tar', import.meta.url));
    const ids = { ids: Int32Array.from({ length: 200 * 12 }, (_, i) => 4 + (i % 30)), shape: [200, 12] as const, lengths: Array.from({ length: 200 }, (_, m) => 2 + (m % 11)) };
    const want = await (await engine.loadModel(checkpoint)).encodeCaptions(ids);
    const model = await engine.loadModel(checkpoint);
    const running = model.encodeCaptions(ids);
    model.destroy();
    // Memory the weights would have given back is taken by someone else meanwhile.
    const gallery = await engine.createGallery({ data: new Float32Array(40 * 36 * 64).fill(0.1), shape: [40, 36, 64] });
    expect(Array.from((await running).data)).toEqual(Array.from(want.data));
    await expect(model.encodeCaptions(ids)).rejects.toThrow(/the model was destroyed/);
    gallery.destroy();
  });
});
