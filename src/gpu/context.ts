// Owns the device (created or adopted), its features and limits, the pipeline cache, the buffer
// pool, command batching, readback and error scopes. Nothing else touches raw WebGPU setup.
import { DEFAULT_MAX_WORKING_BYTES, WorkingMemory } from './budget.js';
import { GpuPass } from './pass.js';
import { BufferPool } from './pool.js';
import { KernelTime, Profiler } from './profiler.js';
import { INSTALL_HINT, Runtime, openRuntime } from './runtime.js';
import type { DawnPolling } from './dawnPolling.js';
import { PipelineResources, pipelineResources } from './resources.js';
import { AbortedError, SubmitPacer } from './submit.js';
import { AssembledWgsl, SubgroupMatrixSpelling, WgslConstants, WgslPart, assembleWgsl, compileModule, respellSubgroupMatrix } from './shader.js';

export interface GpuContextOptions {
  /** Adopt a caller's device: never destroyed by us. */
  device?: GPUDevice;
  /** Dawn toggles and options for `webgpu`'s `create()` (Node only). */
  dawnFlags?: string[];
  /**
   * How Node's Dawn polls while a wait is pending (Node only): 'paced' (default) polls back to
   * back for a millisecond, then on timers; 'busy' leaves Dawn's own polling, which keeps a CPU
   * core busy for as long as GPU work is awaited (src/gpu/dawnPolling.ts).
   */
  dawnPolling?: DawnPolling;
  powerPreference?: GPUPowerPreference;
  /** Pretend these optional features are absent (to exercise fallback paths). */
  disableFeatures?: ('subgroups' | 'shader-f16' | 'timestamp-query' | 'chromium-experimental-subgroup-matrix')[];
  /** Called once if the device is lost, unless by engine.destroy() (an adopted device destroyed by its owner counts). */
  onDeviceLost?: (info: GPUDeviceLostInfo) => void;
  /**
   * Time every kernel on the GPU (timestamp queries, one pass per dispatch; needs the
   * timestamp-query feature): engine.kernelTimes() reads the totals. In Node, Dawn's timestamp
   * quantisation is turned off for it.
   */
  profile?: boolean;
  /**
   * Long calls are submitted in pieces of about this many milliseconds of GPU work (measured
   * as they run; default 100), so no submission nears the ~2 s a browser or OS watchdog allows.
   */
  submitTargetMs?: number;
  /**
   * The most GPU memory the engine's calls (similarity, topK, galleries' queries, evaluation)
   * hold at once, in bytes (default 2 GiB): concurrent calls queue for it, so their peak stays
   * within it; a single call larger than it runs alone. Galleries and models are not counted.
   */
  maxWorkingBytes?: number;
}

export interface EngineStats {
  pipelinesCompiled: number;
  dispatches: number;
  submits: number;
  readbacks: number;
  bytesAllocated: number;
  bytesPooled: number;
  buffersAllocated: number;
  buffersInUse: number;
  peakBytesAllocated: number;
  /** Of bytesAllocated: what galleries keep resident. */
  bytesResident: number;
  /** The longest GPU time one submission of a bounded call took (ms, measured as it ran). */
  longestSubmitMs: number;
  /** Working memory the running calls have reserved (maxWorkingBytes), and the most at once since resetPeak(). */
  workingBytes: number;
  peakWorkingBytes: number;
}

export interface DeviceDescription {
  runtime: string;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  features: string[];
  dawnFlags: string[];
  subgroupMinSize: number; // 0 when unknown
  subgroupMaxSize: number;
}

/** Which int8 product the device can run: tensor cores through subgroup matrices, packed dot4, or none. */
export type Int8Product = 'subgroup-matrix' | 'dot4' | null;

// chromium-experimental-subgroup-matrix is offered only with the Dawn flag
// enable-dawn-features=allow_unsafe_apis (int8 tensor cores on NVIDIA).
const OPTIONAL_FEATURES = ['subgroups', 'shader-f16', 'timestamp-query', 'chromium-experimental-subgroup-matrix'] as const;

/** The limits we ask for: the adapter's best, since the defaults (128 MiB bindings, 16 KiB shared) are small. */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
] as const;

export type BufferBinding = GPUBuffer | { buffer: GPUBuffer; offset: number; size: number };

/** Large uploads are written in slices of this size (see GpuContext.writeInSlices). */
const UPLOAD_SLICE_BYTES = 16 * 2 ** 20;

/** A macrotask's turn for the event loop (callbacks of the GPU runtime run there). */
function yieldToEventLoop(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (f: () => void) => unknown }).setImmediate;
  return new Promise((resolve) => (immediate ? immediate(resolve) : setTimeout(resolve, 0)));
}

/** Thrown by every call after the engine's GPU device was lost (`reason`, `gpuMessage` from WebGPU's GPUDeviceLostInfo). */
export class DeviceLostError extends Error {
  override readonly name = 'DeviceLostError';
  constructor(what: string, readonly reason: string, readonly gpuMessage: string) {
    super(`${what}: the GPU device was lost (${reason}): ${gpuMessage}. Create a new engine (NaafEngine.create()) to continue.`);
  }
}

/**
 * The limits every kernel of the engine may rely on (WebGPU's core defaults): a device with
 * less (a compatibility-mode device, say) is refused when adopted, naming each shortfall.
 */
export const REQUIRED_LIMITS = {
  maxStorageBuffersPerShaderStage: 8,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupStorageSize: 16384,
  maxStorageBufferBindingSize: 128 * 2 ** 20,
  maxComputeWorkgroupsPerDimension: 65535,
} as const;

function checkAdoptedLimits(device: GPUDevice): void {
  const short = Object.entries(REQUIRED_LIMITS)
    .filter(([name, needed]) => !((device.limits as unknown as Record<string, number>)[name] >= needed))
    .map(([name, needed]) => `${name}: needs ${needed}, the device has ${(device.limits as unknown as Record<string, number>)[name]}`);
  if (short.length > 0) {
    throw new Error(`NaafEngine.create: options.device falls short of the limits the engine's kernels need (request them in requestDevice's requiredLimits): ${short.join('; ')}`);
  }
}

export class GpuContext {
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  /** What each pipeline built so far binds (by its cache key): see pipelineResources(). */
  private readonly resources = new Map<string, PipelineResources & { label: string }>();
  private counters = { pipelinesCompiled: 0, dispatches: 0, submits: 0, readbacks: 0 };
  private lostInfo: GPUDeviceLostInfo | null = null;
  private uncaptured: string | null = null;
  private destroyed = false;
  readonly pool: BufferPool;
  /** What concurrent calls may hold at once (src/gpu/budget.ts). */
  readonly memory: WorkingMemory;
  /** How much work one submission may hold on this device (src/gpu/submit.ts). */
  readonly pacer: SubmitPacer;
  /** `enable` directives valid for this runtime (e.g. ['subgroups'] where the compiler wants it). */
  readonly subgroupEnables: string[];
  /** The best int8 product here (probed once, on first use). */
  private int8: Promise<Int8Product> | null = null;
  /** How this runtime spells the subgroup-matrix builtins (probed with int8Product()). */
  private matrixSpelling: SubgroupMatrixSpelling | null = null;
  /** Per-kernel GPU timing (options.profile), else null. */
  readonly profiler: Profiler | null;

  private constructor(
    readonly device: GPUDevice,
    private runtime: Runtime | null,
    readonly ownsDevice: boolean,
    readonly info: DeviceDescription,
    readonly hasSubgroups: boolean,
    subgroupEnables: string[],
    onDeviceLost?: (info: GPUDeviceLostInfo) => void,
    profile = false,
    submitTargetMs?: number,
    maxWorkingBytes = DEFAULT_MAX_WORKING_BYTES,
  ) {
    this.pool = new BufferPool(device, device.limits.maxBufferSize);
    this.memory = new WorkingMemory(maxWorkingBytes);
    this.pacer = new SubmitPacer(submitTargetMs);
    if (profile && !device.features.has('timestamp-query')) {
      throw new Error('NaafEngine.create: options.profile needs the device feature timestamp-query, which this device lacks');
    }
    this.profiler = profile ? new Profiler(device) : null;
    this.subgroupEnables = subgroupEnables;
    device.lost.then((lost) => {
      this.lostInfo = lost;
      if (!this.destroyed) onDeviceLost?.(lost);
    });
    device.addEventListener('uncapturederror', (event) => {
      const message = (event as GPUUncapturedErrorEvent).error.message;
      this.uncaptured ??= message;
    });
  }

  /** `probed`: an adapter probeAdapter() already found (backend 'auto' looks at it first). */
  static async create(options: GpuContextOptions = {}, probed?: AdapterProbe): Promise<GpuContext> {
    const disabled = new Set<string>(options.disableFeatures ?? []);
    const budget = options.maxWorkingBytes;
    if (budget !== undefined && !(Number.isSafeInteger(budget) && budget >= 1)) throw new Error(`NaafEngine.create: options.maxWorkingBytes must be an integer >= 1, got ${budget}`);
    if (options.device) {
      const device = options.device;
      checkAdoptedLimits(device);
      const features = [...device.features].filter((f) => !disabled.has(f));
      const adapterInfo = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
      const info = describe('adopted', adapterInfo, features, []);
      const subgroups = await probeSubgroups(device, features);
      return new GpuContext(device, null, false, info, subgroups !== null, subgroups ?? [], options.onDeviceLost, options.profile, options.submitTargetMs, options.maxWorkingBytes);
    }
    const { runtime, adapter, reason } = probed ?? await probeAdapter(options);
    if (!adapter) {
      throw new Error(`NaafEngine.create: no WebGPU adapter found (runtime: ${runtime.name}: ${reason}). ${INSTALL_HINT}`);
    }
    const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !disabled.has(f));
    const requiredLimits: Record<string, number> = {};
    for (const name of WANTED_LIMITS) requiredLimits[name] = adapter.limits[name];
    const device = await adapter.requestDevice({ requiredFeatures: requiredFeatures as GPUFeatureName[], requiredLimits, label: 'naaf-webgpu' });
    const features = [...device.features].filter((f) => !disabled.has(f));
    const info = describe(runtime.name, adapter.info, features, runtime.dawnFlags);
    const subgroups = await probeSubgroups(device, features);
    try {
      return new GpuContext(device, runtime, true, info, subgroups !== null, subgroups ?? [], options.onDeviceLost, options.profile, options.submitTargetMs, options.maxWorkingBytes);
    } catch (error) {
      device.destroy();
      throw error;
    }
  }

  /** The runtime's GPU object (null for an adopted device). */
  runtimeGpu(): GPU | null {
    return this.runtime?.gpu ?? null;
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** Throws if the engine can no longer run work. */
  checkUsable(what: string): void {
    if (this.destroyed) throw new Error(`${what}: the engine was destroyed`);
    if (this.lostInfo) throw new DeviceLostError(what, this.lostInfo.reason, this.lostInfo.message);
  }

  /** A cached compute pipeline for these WGSL parts and constants. */
  pipeline(label: string, parts: readonly WgslPart[], constants: WgslConstants, useSubgroups = false,
    extraEnables: readonly string[] = []): Promise<GPUComputePipeline> {
    const enables = [...(useSubgroups ? this.subgroupEnables : []), ...extraEnables];
    const key = `${label}|${enables.join(',')}|${JSON.stringify(constants)}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      const assembled: AssembledWgsl = assembleWgsl(enables, constants, parts);
      // Kernels are written in the flag spelling of the subgroup-matrix builtins; newer runtimes want the template one.
      if (enables.includes('chromium_experimental_subgroup_matrix') && this.matrixSpelling === 'template') assembled.code = respellSubgroupMatrix(assembled.code);
      pipeline = (async () => {
        const used = pipelineResources(assembled.code, constants);
        this.checkResources(label, used);
        this.resources.set(key, { label, ...used });
        const module = await compileModule(this.device, label, assembled);
        this.device.pushErrorScope('validation');
        const creating = this.device.createComputePipelineAsync({ label, layout: 'auto', compute: { module, entryPoint: 'main' } });
        const scope = this.device.popErrorScope(); // right away: other pipelines may be created meanwhile
        const created = await creating;
        const error = await scope;
        if (error) throw new Error(`pipeline "${label}": ${error.message}`);
        this.counters.pipelinesCompiled++;
        return created;
      })();
      pipeline.catch(() => this.pipelines.delete(key));
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  /** A clear error, before Dawn's, for a pipeline that binds more than this device allows. */
  private checkResources(label: string, used: PipelineResources): void {
    const limits = this.device.limits;
    const over: string[] = [];
    if (used.storageBuffers > limits.maxStorageBuffersPerShaderStage) over.push(`${used.storageBuffers} storage buffers (maxStorageBuffersPerShaderStage ${limits.maxStorageBuffersPerShaderStage})`);
    if (used.uniformBuffers > limits.maxUniformBuffersPerShaderStage) over.push(`${used.uniformBuffers} uniform buffers (maxUniformBuffersPerShaderStage ${limits.maxUniformBuffersPerShaderStage})`);
    if (used.workgroupBytes > limits.maxComputeWorkgroupStorageSize) over.push(`${used.workgroupBytes} bytes of workgroup memory (maxComputeWorkgroupStorageSize ${limits.maxComputeWorkgroupStorageSize})`);
    if (used.invocations > limits.maxComputeInvocationsPerWorkgroup) over.push(`${used.invocations} invocations per workgroup (maxComputeInvocationsPerWorkgroup ${limits.maxComputeInvocationsPerWorkgroup})`);
    if (over.length > 0) throw new Error(`pipeline "${label}" needs ${over.join(' and ')}, more than this device has`);
  }

  /** What every pipeline built so far binds: storage and uniform buffers, workgroup bytes. */
  pipelineResources(): (PipelineResources & { label: string })[] {
    return [...this.resources.values()].map((r) => ({ ...r }));
  }

  /**
   * Which int8 product this device runs: 'subgroup-matrix' where an i8 M16 N16 K32 -> i32
   * subgroup-matrix pipeline builds (needs the feature and one subgroup size), else 'dot4' where
   * dot4I8Packed compiles, else null.
   */
  int8Product(): Promise<Int8Product> {
    this.int8 ??= (async () => {
      const { subgroupMinSize: min, subgroupMaxSize: max } = this.info;
      if (this.info.features.includes('chromium-experimental-subgroup-matrix') && min > 0 && min === max) {
        const probe = assembleWgsl([...this.subgroupEnables, 'chromium_experimental_subgroup_matrix'], { SG: max },
          [{ name: 'subgroup-matrix probe', code: SUBGROUP_MATRIX_PROBE }]).code;
        // Newer Dawn spells the layout as a template argument (and deprecates the bool one).
        for (const [spelling, code] of [['template', respellSubgroupMatrix(probe)], ['flag', probe]] as const) {
          if (await probePipeline(this.device, code)) {
            this.matrixSpelling = spelling;
            return 'subgroup-matrix';
          }
        }
      }
      return await probePipeline(this.device, DOT4_PROBE) ? 'dot4' : null;
    })();
    return this.int8;
  }

  /** The subgroup-matrix spelling int8Product() found to compile here, or null. */
  subgroupMatrixSpelling(): SubgroupMatrixSpelling | null {
    return this.matrixSpelling;
  }

  /** Binding i gets bindings[i]; a null leaves that number out (a binding the kernel does not declare). */
  bindGroup(pipeline: GPUComputePipeline, bindings: readonly (BufferBinding | null)[], label: string): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = [];
    bindings.forEach((b, binding) => { if (b) entries.push({ binding, resource: 'buffer' in b ? b : { buffer: b } }); });
    return this.device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries });
  }

  /** A uniform buffer from the pool holding these 32-bit words (u32 or f32 per entry). */
  uniforms(words: readonly (readonly [number, 'u32' | 'f32' | 'i32'])[], label: string): GPUBuffer {
    const bytes = new ArrayBuffer(Math.max(16, Math.ceil(words.length / 4) * 16));
    const view = new DataView(bytes);
    words.forEach(([value, type], i) => {
      if (type === 'f32') view.setFloat32(i * 4, value, true);
      else if (type === 'i32') view.setInt32(i * 4, value, true);
      else view.setUint32(i * 4, value, true);
    });
    const buffer = this.pool.acquire(bytes.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label);
    this.device.queue.writeBuffer(buffer, 0, bytes);
    return buffer;
  }

  /**
   * Writes `data` into `buffer` at byte `offset` in slices of UPLOAD_SLICE_BYTES, yielding to the
   * event loop between them: a large queue.writeBuffer blocks JavaScript while the runtime copies
   * it, which would hold back the completions that time the pieces in flight (and the page).
   */
  async writeInSlices(buffer: GPUBuffer, offset: number, data: Float32Array): Promise<void> {
    const slice = UPLOAD_SLICE_BYTES / 4;
    for (let i = 0; i < data.length; i += slice) {
      const part = data.subarray(i, Math.min(data.length, i + slice));
      this.device.queue.writeBuffer(buffer, offset + i * 4, part.buffer, part.byteOffset, part.byteLength);
      if (i + slice < data.length) await yieldToEventLoop();
    }
  }

  /** A pooled storage buffer holding `data`. */
  upload(data: ArrayBufferView, label: string, extraUsage = 0): GPUBuffer {
    const buffer = this.pool.acquire(data.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC | extraUsage, label);
    // writeBuffer wants a multiple of 4 bytes; every array we upload is 32-bit.
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return buffer;
  }

  createEncoder(label: string): GPUCommandEncoder {
    return this.device.createCommandEncoder({ label });
  }

  /** A compute pass on `encoder` (with profiling: one timestamped pass per dispatch). */
  beginPass(encoder: GPUCommandEncoder, label: string): GpuPass {
    return new GpuPass(encoder, label, this.profiler);
  }

  /** `label`: what a profile files the dispatch under (default: the pipeline's label; one pipeline can serve several ops). */
  dispatch(pass: GpuPass, pipeline: GPUComputePipeline, group: GPUBindGroup, x: number, y = 1, z = 1, label?: string): void {
    const maxGroups = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxGroups || y > maxGroups || z > maxGroups) {
      throw new Error(`dispatch (${x}, ${y}, ${z}) exceeds maxComputeWorkgroupsPerDimension ${maxGroups}`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    pass.dispatch(pipeline, group, x, y, z, label);
    this.counters.dispatches++;
  }

  submit(encoder: GPUCommandEncoder): void {
    const collect = this.profiler?.beforeSubmit(encoder);
    this.device.queue.submit([encoder.finish()]);
    collect?.();
    this.counters.submits++;
  }

  /** GPU time per kernel since the last call (options.profile), largest first. */
  async kernelTimes(): Promise<KernelTime[]> {
    if (!this.profiler) throw new Error('kernelTimes: the engine was created without options.profile');
    return this.profiler.take();
  }

  /** Copies `bytes` from `source` at `offset` into a new Float32Array: one staging copy, one map. */
  async readFloat32(source: GPUBuffer, offset: number, count: number, encoder?: GPUCommandEncoder): Promise<Float32Array> {
    const bytes = count * 4;
    const staging = this.pool.acquire(bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
    try {
      const copyEncoder = encoder ?? this.createEncoder('readback');
      copyEncoder.copyBufferToBuffer(source, offset, staging, 0, Math.ceil(bytes / 4) * 4);
      this.submit(copyEncoder);
      await staging.mapAsync(GPUMapMode.READ, 0, bytes);
      const result = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
      staging.unmap();
      this.counters.readbacks++;
      return result;
    } finally {
      this.pool.release(staging);
    }
  }

  /**
   * Runs `work` inside validation and out-of-memory error scopes; any error (or an uncaptured
   * one raised meanwhile) becomes a thrown Error naming `what`.
   */
  async scoped<T>(what: string, work: () => Promise<T>): Promise<T> {
    this.checkUsable(what);
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let result: T;
    try {
      result = await work();
    } catch (error) {
      // A map or a wait that failed because the device went away: say so, not how it surfaced
      // (our own errors, a cancellation among them, are not a device's).
      const ours = error instanceof DeviceLostError || error instanceof AbortedError || (error instanceof Error && error.constructor === Error);
      if (!ours && await this.lostSoon()) {
        await this.popScopes().catch(() => {});
        throw new DeviceLostError(what, this.lostInfo!.reason, this.lostInfo!.message);
      }
      await this.popScopes().catch(() => {});
      throw error;
    }
    const problem = await this.popScopes();
    if (problem) throw new Error(`${what}: WebGPU ${problem.kind} error: ${problem.error.message}`);
    if (this.uncaptured) {
      const message = this.uncaptured;
      this.uncaptured = null;
      throw new Error(`${what}: WebGPU error: ${message}`);
    }
    this.checkUsable(what);
    return result;
  }

  private async popScopes(): Promise<{ kind: 'validation' | 'out-of-memory'; error: GPUError } | null> {
    const validation = await this.device.popErrorScope();
    const memory = await this.device.popErrorScope();
    if (validation) return { kind: 'validation', error: validation };
    return memory ? { kind: 'out-of-memory', error: memory } : null;
  }

  /** Whether the device is lost, or is reported lost within a moment (its promise settles after the failures it causes). */
  private async lostSoon(): Promise<boolean> {
    if (this.lostInfo) return true;
    await Promise.race([this.device.lost, new Promise((resolve) => setTimeout(resolve, 100))]);
    await Promise.resolve();
    return this.lostInfo !== null;
  }

  stats(): EngineStats {
    return { ...this.counters, ...this.pool.stats(), longestSubmitMs: this.pacer.longestMs, workingBytes: this.memory.reserved, peakWorkingBytes: this.memory.peakReserved };
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pool.destroy();
    this.pipelines.clear();
    if (this.ownsDevice) this.device.destroy();
    // Drop our reference to Dawn's GPU object only now that its device is gone.
    this.runtime = null;
  }
}

/** A runtime and the adapter it offers (null, with why, where there is none). */
export interface AdapterProbe { runtime: Runtime; adapter: GPUAdapter | null; reason: string }

/** Opens the WebGPU runtime (Dawn with options.dawnFlags in Node) and asks it for an adapter. */
export async function probeAdapter(options: GpuContextOptions = {}): Promise<AdapterProbe> {
  // Dawn rounds timestamps to blunt timing attacks; a profile wants them as measured.
  const dawnFlags = [...(options.dawnFlags ?? [])];
  if (options.profile && !dawnFlags.some((f) => f.includes('timestamp_quantization'))) dawnFlags.push('disable-dawn-features=timestamp_quantization');
  if (options.dawnPolling !== undefined && options.dawnPolling !== 'paced' && options.dawnPolling !== 'busy') {
    throw new Error(`NaafEngine.create: options.dawnPolling must be 'paced' or 'busy', got ${JSON.stringify(options.dawnPolling)}`);
  }
  const runtime = await openRuntime(dawnFlags, options.dawnPolling);
  let adapter: GPUAdapter | null = null;
  let reason = 'requestAdapter() returned null';
  try {
    adapter = await runtime.gpu.requestAdapter({ powerPreference: options.powerPreference });
  } catch (error) {
    reason = (error as Error).message; // Dawn rejects with the adapters it did find
  }
  return { runtime, adapter, reason };
}

function describe(runtime: string, adapterInfo: GPUAdapterInfo | undefined, features: string[], dawnFlags: readonly string[]): DeviceDescription {
  return {
    runtime,
    vendor: adapterInfo?.vendor ?? '',
    architecture: adapterInfo?.architecture ?? '',
    device: adapterInfo?.device ?? '',
    description: adapterInfo?.description ?? '',
    features: [...features].sort(),
    dawnFlags: [...dawnFlags],
    subgroupMinSize: (adapterInfo as { subgroupMinSize?: number } | undefined)?.subgroupMinSize ?? 0,
    subgroupMaxSize: (adapterInfo as { subgroupMaxSize?: number } | undefined)?.subgroupMaxSize ?? 0,
  };
}

const DOT4_PROBE = `@group(0) @binding(0) var<storage, read_write> o: array<i32>;
@compute @workgroup_size(1) fn main() { o[0] = dot4I8Packed(pack4xI8(vec4<i32>(1, -2, 3, -4)), 0x01010101u); }`;

const SUBGROUP_MATRIX_PROBE = `@group(0) @binding(0) var<storage, read_write> o: array<i32>;
@compute @workgroup_size(SG) fn main() {
  let a = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>>(&o, 0u, false, 32u);
  let b = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>>(&o, 0u, true, 32u);
  subgroupMatrixStore(&o, 0u, subgroupMatrixMultiplyAccumulate(a, b, subgroup_matrix_result<i32, 16, 16>()), false, 16u);
}`;

/** Whether a one-binding compute pipeline of this WGSL builds here (no error, nothing thrown). */
async function probePipeline(device: GPUDevice, code: string): Promise<boolean> {
  device.pushErrorScope('validation');
  let ok = true;
  try {
    const module = device.createShaderModule({ code, label: 'int8 probe' });
    const info = await module.getCompilationInfo();
    if (info.messages.some((m) => m.type === 'error')) ok = false;
    else await device.createComputePipelineAsync({ label: 'int8 probe', layout: 'auto', compute: { module, entryPoint: 'main' } });
  } catch {
    ok = false;
  }
  const error = await device.popErrorScope();
  return ok && !error;
}
/**
 * Which `enable` lines subgroup code needs here, or null if subgroups are unusable. Dawn and
 * browsers want `enable subgroups;`; Deno's compiler rejects it but may accept the builtins alone.
 */
async function probeSubgroups(device: GPUDevice, features: string[]): Promise<string[] | null> {
  if (!features.includes('subgroups')) return null;
  const body = '@compute @workgroup_size(32) fn main(@builtin(subgroup_invocation_id) i: u32) { _ = subgroupAdd(f32(i)); }';
  for (const enables of [['subgroups'], []]) {
    const code = enables.map((e) => `enable ${e};\n`).join('') + body;
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code, label: 'subgroup probe' });
    const info = await module.getCompilationInfo();
    const error = await device.popErrorScope();
    if (!error && !info.messages.some((m) => m.type === 'error')) return enables;
  }
  return null;
}
