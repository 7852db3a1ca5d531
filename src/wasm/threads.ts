// A pool of worker threads over shared WebAssembly memories (src/wasm/workerSource.ts): a run
// sends one kernel to every thread, which claim its items from a shared counter until none are
// left. Runs go one at a time (they share the counter and the threads' scratch); the calling
// thread only waits, so a host's event loop stays free while kernels run.
import { platform } from '../platform/index.js';
import type { WorkerHandle } from '../platform/types.js';
import { growScratch, type WasmHeap } from './heap.js';
import { WORKER_SOURCE } from './workerSource.js';

/** Bytes of stack each thread's instance gets in every memory (the kernels use almost none). */
export const STACK_BYTES = 64 * 1024;

interface Thread {
  worker: WorkerHandle;
  /** Per heap id: this thread's scratch block and its size. */
  scratch: Map<number, { ptr: number; bytes: number }>;
  pending: Map<number, { resolve: () => void; reject: (error: Error) => void }>;
  failed: Error | null;
}

export class ThreadPool {
  private readonly attached = new Map<number, Promise<void>>();
  private readonly counters = new Map<number, number>();
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private destroyed = false;

  private constructor(private readonly threads: Thread[]) {}

  /** `count` threads with the kernels' module (compiled for shared memory). */
  static async create(module: WebAssembly.Module, count: number): Promise<ThreadPool> {
    const threads: Thread[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const worker = await platform.startWorker(WORKER_SOURCE);
        const thread: Thread = { worker, scratch: new Map(), pending: new Map(), failed: null };
        threads.push(thread);
        worker.onMessage((raw) => {
          const message = raw as { type: string; id?: number; message?: string };
          const waiting = message.id !== undefined ? thread.pending.get(message.id) : undefined;
          if (message.type === 'ready' || message.type === 'attached') thread.pending.get(0)?.resolve();
          else if (message.type === 'done') waiting?.resolve();
          else if (message.type === 'error') (waiting ?? thread.pending.get(0))?.reject(new Error(message.message)); // set-up messages wait under 0
        });
        worker.onError((error) => {
          thread.failed = error;
          for (const waiting of thread.pending.values()) waiting.reject(error);
        });
      }
      await Promise.all(threads.map((thread) => ThreadPool.exchange(thread, { type: 'init', module })));
    } catch (error) {
      threads.forEach((thread) => thread.worker.terminate());
      throw new Error(`WASM threads: cannot start ${count} worker threads: ${(error as Error).message}`);
    }
    return new ThreadPool(threads);
  }

  get size(): number {
    return this.threads.length;
  }

  /** Sends a set-up message and waits for its acknowledgement (one at a time per thread: id 0). */
  private static exchange(thread: Thread, message: Record<string, unknown>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      thread.pending.set(0, { resolve, reject });
      thread.worker.hold(true);
      thread.worker.post(message);
    }).finally(() => {
      thread.pending.delete(0);
      thread.worker.hold(false);
    });
  }

  /** Every thread instantiates the module on `heap` (once), each with a stack in it. */
  private attach(heap: WasmHeap): Promise<void> {
    let ready = this.attached.get(heap.id);
    if (!ready) {
      ready = (async () => {
        for (const thread of this.threads) {
          const stack = heap.alloc(STACK_BYTES, 'WASM threads');
          await ThreadPool.exchange(thread, { type: 'attach', heap: heap.id, memory: heap.memory, stackTop: stack + STACK_BYTES });
        }
        this.counters.set(heap.id, heap.alloc(64, 'WASM threads'));
      })();
      ready.catch(() => this.attached.delete(heap.id)); // a later run tries again
      this.attached.set(heap.id, ready);
    }
    return ready;
  }

  /** Forgets a heap (its memory is being dropped). */
  detach(heap: WasmHeap): void {
    if (!this.attached.delete(heap.id)) return;
    for (const thread of this.threads) {
      thread.scratch.delete(heap.id);
      thread.worker.post({ type: 'detach', heap: heap.id });
    }
  }

  /**
   * Runs `kernel(args, scratch, begin, end)` over items [0, total) in chunks of `chunk`, each
   * thread with `scratchBytes` of its own scratch in `heap`; resolves when every item is done.
   */
  run(heap: WasmHeap, kernel: string, args: number, total: number, chunk: number, scratchBytes: number): Promise<void> {
    const job = this.queue.then(() => this.runNow(heap, kernel, args, total, chunk, scratchBytes));
    this.queue = job.catch(() => {});
    return job;
  }

  private async runNow(heap: WasmHeap, kernel: string, args: number, total: number, chunk: number, scratchBytes: number): Promise<void> {
    if (this.destroyed) throw new Error(`${kernel}: the engine was destroyed`);
    if (total <= 0) return;
    await this.attach(heap);
    const counter = this.counters.get(heap.id)!;
    const busy = this.threads.slice(0, Math.min(this.threads.length, Math.ceil(total / chunk)));
    const failed = busy.find((thread) => thread.failed);
    if (failed) throw new Error(`${kernel}: a WASM thread failed: ${failed.failed!.message}`);
    // Every thread's scratch before any thread starts: a run is either sent to all or to none.
    const scratch = busy.map((thread) => growScratch(thread.scratch, heap, scratchBytes, kernel));
    heap.i32(counter, 1)[0] = 0;
    const id = this.nextId++;
    // Every thread finishes (or fails) before the next run resets the counter.
    const results = await Promise.allSettled(busy.map((thread, i) => new Promise<void>((resolve, reject) => {
      thread.pending.set(id, { resolve, reject });
      thread.worker.hold(true);
      thread.worker.post({ type: 'run', id, heap: heap.id, kernel, args, scratch: scratch[i], total, chunk, counter });
    }).finally(() => {
      thread.pending.delete(id);
      thread.worker.hold(false);
    })));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw new Error(`${kernel}: a WASM thread failed: ${(failure.reason as Error).message}`);
  }

  /** Stops the threads; a run still in flight rejects. */
  destroy(): void {
    this.destroyed = true;
    for (const thread of this.threads) {
      thread.worker.terminate();
      for (const waiting of thread.pending.values()) waiting.reject(new Error('the engine was destroyed while the kernel ran'));
    }
  }
}
