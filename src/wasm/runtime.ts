// The CPU backend's machinery: which build of the kernels runs here (SIMD128 is required;
// relaxed-SIMD FMA where the runtime validates it; threads where SharedArrayBuffer exists, which
// a browser grants only to cross-origin isolated pages), the memories the kernels work in
// (src/wasm/heap.ts: one to start with, more for galleries past one memory), an instance on
// each for this thread, and the worker pool (src/wasm/threads.ts) that runs them.
import { platform } from '../platform/index.js';
import { BINARIES } from './binaries.js';
import { WasmHeap, growScratch } from './heap.js';
import { ThreadPool } from './threads.js';

export interface WasmOptions {
  /** Worker threads the kernels run on (default: the machine's parallelism); 1 runs them on the calling thread. */
  threads?: number;
  /** Use relaxed-SIMD FMA where the runtime has it (default true); false keeps plain SIMD128. */
  relaxedSimd?: boolean;
  /** The most bytes one WASM memory may grow to (default and most: 4 GiB, a wasm32 memory's limit). */
  maxMemoryBytes?: number;
}

export interface WasmFeatures {
  simd128: boolean;
  relaxedSimd: boolean;
  /** Shared memory and worker threads. */
  threads: boolean;
  /** Why threads are unavailable, where they are. */
  threadsNote?: string;
}

const PAGE = 65536;
const MAX_PAGES = 65536;
const INITIAL_PAGES = 256; // 16 MiB

let probed: WasmFeatures | null = null;

/** What this runtime supports (probed once). */
export function wasmFeatures(): WasmFeatures {
  if (probed) return probed;
  const simd128 = typeof WebAssembly === 'object' && WebAssembly.validate(BINARIES.simd);
  const relaxedSimd = simd128 && WebAssembly.validate(BINARIES.relaxed);
  let threads = false;
  let threadsNote: string | undefined;
  if (typeof SharedArrayBuffer !== 'function') {
    threadsNote = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false
      ? 'this page is not cross-origin isolated (serve it with COOP same-origin and COEP require-corp)' : 'SharedArrayBuffer is not available';
  } else {
    try {
      new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
      threads = WebAssembly.validate(BINARIES.simdThreads);
      if (!threads) threadsNote = 'the runtime does not validate WebAssembly threads (atomics)';
    } catch {
      threadsNote = 'the runtime cannot make a shared WebAssembly.Memory';
    }
  }
  probed = { simd128, relaxedSimd, threads, ...(threadsNote ? { threadsNote } : {}) };
  return probed;
}

export class WasmRuntime {
  private readonly heaps: WasmHeap[] = [];
  private readonly instances = new Map<number, WebAssembly.Instance>();
  private destroyed = false;

  private constructor(
    private readonly module: WebAssembly.Module,
    readonly threads: number,
    readonly relaxedSimd: boolean,
    private readonly shared: boolean,
    private readonly maxPages: number,
    private readonly pool: ThreadPool | null,
  ) {}

  static async create(options: WasmOptions = {}, what = 'NaafEngine.create'): Promise<WasmRuntime> {
    const features = wasmFeatures();
    if (!features.simd128) {
      throw new Error(`${what}: backend 'wasm' needs WebAssembly SIMD128, which this runtime lacks (Node 16.4+, Deno, Chrome 91+, Firefox 89+ and Safari 16.4+ have it); use backend 'webgpu'`);
    }
    const { threads: wantedThreads, relaxedSimd: wantRelaxed, maxMemoryBytes } = options;
    if (wantedThreads !== undefined && !(Number.isInteger(wantedThreads) && wantedThreads >= 1 && wantedThreads <= 256)) {
      throw new Error(`${what}: options.threads must be an integer in [1, 256], got ${String(wantedThreads)}`);
    }
    if (wantRelaxed !== undefined && typeof wantRelaxed !== 'boolean') throw new Error(`${what}: options.relaxedSimd must be a boolean, got ${String(wantRelaxed)}`);
    if (maxMemoryBytes !== undefined && !(Number.isInteger(maxMemoryBytes) && maxMemoryBytes >= INITIAL_PAGES * PAGE)) {
      throw new Error(`${what}: options.maxMemoryBytes must be an integer >= ${INITIAL_PAGES * PAGE} (16 MiB), got ${String(maxMemoryBytes)}`);
    }
    let threads = wantedThreads ?? await platform.parallelism();
    if (threads > 1 && !features.threads) {
      if (wantedThreads !== undefined) throw new Error(`${what}: options.threads = ${wantedThreads} needs WebAssembly threads, but ${features.threadsNote}; use threads: 1`);
      threads = 1;
    }
    const relaxedSimd = (wantRelaxed ?? true) && features.relaxedSimd;
    const shared = threads > 1;
    const bytes = shared ? (relaxedSimd ? BINARIES.relaxedThreads : BINARIES.simdThreads) : (relaxedSimd ? BINARIES.relaxed : BINARIES.simd);
    const module = await WebAssembly.compile(bytes);
    const maxPages = Math.min(MAX_PAGES, Math.floor((maxMemoryBytes ?? MAX_PAGES * PAGE) / PAGE));
    let pool: ThreadPool | null = null;
    let runtime: WasmRuntime;
    try {
      pool = shared ? await ThreadPool.create(module, threads) : null;
      runtime = new WasmRuntime(module, threads, relaxedSimd, shared, maxPages, pool);
    } catch (error) {
      // Threads not asked for by name: one thread, as where there are none (a page whose CSP refuses blob: workers).
      if (wantedThreads !== undefined) throw error;
      probed = { ...features, threads: false, threadsNote: `worker threads did not start (${(error as Error).message})` };
      return WasmRuntime.create({ ...options, threads: 1 }, what);
    }
    try {
      runtime.newHeap();
    } catch (error) {
      runtime.destroy();
      throw error;
    }
    return runtime;
  }

  /** What runs the kernels, for device lines: "wasm: 2 threads, SIMD128 + relaxed-SIMD FMA". */
  describe(): string {
    return `wasm: ${this.threads} thread${this.threads === 1 ? '' : 's'}, SIMD128${this.relaxedSimd ? ' + relaxed-SIMD FMA' : ''}`;
  }

  /** The first memory (calls' working data and everything that fits). */
  get heap(): WasmHeap {
    this.check('the CPU backend');
    return this.heaps[0];
  }

  /** Every memory so far. */
  allHeaps(): readonly WasmHeap[] {
    return this.heaps;
  }

  /** Another memory (a gallery's shard past what one holds). */
  newHeap(): WasmHeap {
    this.check('newHeap');
    let memory: WebAssembly.Memory;
    let maxPages = this.maxPages;
    for (;;) {
      try {
        memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: maxPages, ...(this.shared ? { shared: true } : {}) } as WebAssembly.MemoryDescriptor);
        break;
      } catch (error) {
        // A browser may not reserve 4 GiB of address space for a shared memory: ask for less.
        if (maxPages <= 4 * INITIAL_PAGES) throw new Error(`WASM: cannot create a WebAssembly.Memory (${(error as Error).message})`);
        maxPages = Math.floor(maxPages / 2);
      }
    }
    const instance = new WebAssembly.Instance(this.module, { env: { memory } });
    const base = (instance.exports.__heap_base as WebAssembly.Global).value as number;
    const heap = new WasmHeap(memory, base, maxPages, this.heaps.length);
    this.heaps.push(heap);
    this.instances.set(heap.id, instance);
    return heap;
  }

  private check(what: string): void {
    if (this.destroyed) throw new Error(`${what}: the engine was destroyed`);
  }

  /**
   * kernel(args, scratch, begin, end) over items [0, total): on the worker threads in chunks of
   * `chunk` items, or here with one thread.
   */
  async run(heap: WasmHeap, kernel: string, args: number, total: number, chunk: number, scratchBytes: number): Promise<void> {
    this.check(kernel);
    if (this.pool) return this.pool.run(heap, kernel, args, total, Math.max(1, chunk), scratchBytes);
    const scratch = this.scratchHere(heap, scratchBytes, kernel);
    this.exports(heap)[kernel](args, scratch, 0, total);
  }

  private readonly hereScratch = new Map<number, { ptr: number; bytes: number }>();

  private scratchHere(heap: WasmHeap, bytes: number, what: string): number {
    return growScratch(this.hereScratch, heap, bytes, what);
  }

  /** The kernels' exports on this thread's instance over `heap` (for small calls run here). */
  exports(heap: WasmHeap): Record<string, (...args: number[]) => number> {
    return this.instances.get(heap.id)!.exports as unknown as Record<string, (...args: number[]) => number>;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pool?.destroy();
    this.instances.clear();
    this.heaps.length = 0;
  }
}

