// The GPU layer: compile errors with file:line:column, validation errors thrown, subgroup
// headers, adopted devices, device loss, a missing adapter, and a clean process exit.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DeviceLostError, NaafEngine, REQUIRED_LIMITS } from '../../src/index.js';
import type { GpuContext } from '../../src/gpu/context.js';
import { sharedEngine } from '../gpu.js';

const engine = await sharedEngine();
const ctx = (engine as unknown as { ctx: GpuContext }).ctx;
const tiny = {
  images: { data: new Float32Array([1, 0, 0, 1]), shape: [1, 2, 2] as const },
  captions: { data: new Float32Array([1, 0, 0.6, 0.8]), shape: [1, 2, 2] as const, lengths: [2] },
};

describe('GPU layer', () => {
  it('names the shader and file:line:column of a WGSL compile error', async () => {
    const code = '@compute @workgroup_size(WG)\nfn main() {\n  let x: f32 = undefined_thing;\n}\n';
    await expect(ctx.pipeline('broken', [{ name: 'kernels/broken.wgsl', code }], { WG: 64 })).rejects.toThrow(
      /WGSL compile error in shader "broken":\n {2}kernels\/broken\.wgsl:3:16: unresolved value 'undefined_thing'/);
  });

  it('turns WebGPU validation errors into thrown errors', async () => {
    const uniform = ctx.device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM });
    const pipeline = await ctx.pipeline('copy', [{ name: 'copy.wgsl', code:
      '@group(0) @binding(0) var<storage, read_write> a: array<f32>;\n@compute @workgroup_size(1) fn main() { a[0] = 1.0; }' }], {});
    await expect(ctx.scoped('bad binding', async () => {
      const encoder = ctx.createEncoder('bad');
      const pass = ctx.beginPass(encoder, 'test');
      ctx.dispatch(pass, pipeline, ctx.bindGroup(pipeline, [uniform], 'bad'), 1);
      pass.end();
      ctx.submit(encoder);
    })).rejects.toThrow(/bad binding: WebGPU validation error:/);
    uniform.destroy();
  });

  it('requests optional features only when present and compiles subgroup code with the right header', async () => {
    expect(engine.info.features).toEqual(expect.arrayContaining(['subgroups']));
    expect(engine.hasSubgroups).toBe(true);
    expect(ctx.subgroupEnables).toEqual(['subgroups']);
    const code = '@group(0) @binding(0) var<storage, read_write> a: array<f32>;\n' +
      '@compute @workgroup_size(32) fn main(@builtin(subgroup_invocation_id) i: u32) { a[0] = subgroupAdd(f32(i)); }';
    await expect(ctx.pipeline('subgroup', [{ name: 'sg.wgsl', code }], {}, true)).resolves.toBeDefined();
    const plain = await NaafEngine.create({ disableFeatures: ['subgroups', 'shader-f16', 'timestamp-query'] });
    expect(plain.hasSubgroups).toBe(false);
    expect(plain.info.features).not.toContain('subgroups');
    const sims = await plain.similarity(tiny.images, tiny.captions, { method: 'scan-t2i' });
    expect(sims.length).toBe(1);
    plain.destroy();
  });

  it('adopts a caller device, never destroys it, and reports its loss', async () => {
    const device = await (await ctx.runtimeGpu()!.requestAdapter())!.requestDevice();
    const losses: GPUDeviceLostInfo[] = [];
    const adopted = await NaafEngine.create({ device, onDeviceLost: (info) => losses.push(info) });
    expect(adopted.info.runtime).toBe('adopted');
    const sims = await adopted.similarity(tiny.images, tiny.captions, { method: 'naaf', threshold: 0.5 });
    expect(sims.length).toBe(1);
    adopted.destroy();
    device.pushErrorScope('validation');
    device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE }).destroy();
    expect(await device.popErrorScope()).toBeNull(); // still alive

    const second = await NaafEngine.create({ device, onDeviceLost: (info) => losses.push(info) });
    device.destroy();
    await device.lost;
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(losses.map((l) => l.reason)).toEqual(['destroyed']);
    const lost = await second.similarity(tiny.images, tiny.captions, { method: 'scan-t2i' }).catch((error) => error);
    expect(lost).toBeInstanceOf(DeviceLostError);
    expect(lost.reason).toBe('destroyed');
    expect(lost.message).toMatch(/similarity: the GPU device was lost \(destroyed\).*NaafEngine\.create\(\)/);
    await expect(second.topK(tiny.images, tiny.captions, { method: 'scan-t2i', k: 1, direction: 't2i' })).rejects.toBeInstanceOf(DeviceLostError);
    // A fresh engine works afterwards.
    const fresh = await NaafEngine.create();
    expect((await fresh.similarity(tiny.images, tiny.captions, { method: 'scan-t2i' })).length).toBe(1);
    fresh.destroy();
  });

  it('refuses an adopted device below the limits its kernels need, naming each', async () => {
    const adapter = (await ctx.runtimeGpu()!.requestAdapter())!;
    const device = await adapter.requestDevice();
    // Pretend a compatibility-mode device: 4 storage buffers per stage, 128 invocations.
    const small = Object.create(device, { limits: { value: { ...Object.fromEntries(Object.keys(REQUIRED_LIMITS).map((k) => [k, (device.limits as unknown as Record<string, number>)[k]])), maxStorageBuffersPerShaderStage: 4, maxComputeInvocationsPerWorkgroup: 128 } } });
    await expect(NaafEngine.create({ device: small })).rejects.toThrow(
      /options\.device falls short.*maxStorageBuffersPerShaderStage: needs 8, the device has 4; maxComputeInvocationsPerWorkgroup: needs 256, the device has 128/);
    device.destroy();
  });

  it('refuses work after destroy()', async () => {
    const other = await NaafEngine.create();
    other.destroy();
    await expect(other.similarity(tiny.images, tiny.captions, { method: 'scan-t2i' })).rejects.toThrow(/similarity: the engine was destroyed/);
    expect(other.stats().bytesAllocated).toBe(0);
  });

  it('explains how to get an adapter when there is none', async () => {
    await expect(NaafEngine.create({ dawnFlags: ['adapter=no-such-adapter'] })).rejects.toThrow(
      /no WebGPU adapter found.*mesa-vulkan-drivers/s);
  });

  it('lets a Node process that used the engine exit on its own (bundle in dist/)', () => {
    const script = fileURLToPath(new URL('./exit-check.mjs', import.meta.url));
    const child = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
    expect(child.error, child.stderr).toBeUndefined();
    expect(child.status, child.stderr).toBe(0);
    const out = JSON.parse(child.stdout.trim().split('\n').pop()!);
    expect(out.runtime).toBe('node-dawn');
    expect(out.sims[0]).toBeGreaterThan(0.5);
  });
});
