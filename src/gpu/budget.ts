// The engine's working-memory budget: every blocked call (similarity, topK, gallery queries)
// reserves what it may hold at once before it allocates, and waits, first come first served,
// while concurrent calls hold the rest. So 16 calls at once hold what the budget allows, not 16
// calls' worth. A call larger than the whole budget runs alone. Resident data (galleries, model
// weights, a trainer's state) is the caller's and not counted.
import { AbortedError } from './submit.js';

/** The default of NaafEngine.create({ maxWorkingBytes }): two calls at their default maxGpuBytes. */
export const DEFAULT_MAX_WORKING_BYTES = 2 * 1024 * 2 ** 20;

interface Waiter { bytes: number; admit: (release: () => void) => void }

export class WorkingMemory {
  private used = 0;
  private active = 0;
  private peak = 0;
  private readonly queue: Waiter[] = [];

  constructor(readonly budget: number) {}

  /** Bytes reserved now, and the most reserved at once since the last resetPeak(). */
  get reserved(): number {
    return this.used;
  }
  get peakReserved(): number {
    return this.peak;
  }
  resetPeak(): void {
    this.peak = this.used;
  }

  private fits(bytes: number): boolean {
    return this.active === 0 || this.used + bytes <= this.budget;
  }

  /** Waits until `bytes` fit (or nothing else runs); returns the release, to call exactly once. */
  reserve(bytes: number, what: string, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new AbortedError(what, signal.reason));
    if (this.queue.length === 0 && this.fits(bytes)) return Promise.resolve(this.take(bytes));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i < 0) return; // already admitted
        this.queue.splice(i, 1);
        this.admitWaiting(); // the head may have been what held the others back
        reject(new AbortedError(`${what} (waiting for GPU working memory)`, signal!.reason));
      };
      const waiter: Waiter = {
        bytes,
        admit: (release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private take(bytes: number): () => void {
    this.used += bytes;
    this.active++;
    this.peak = Math.max(this.peak, this.used);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
      this.active--;
      this.admitWaiting();
    };
  }

  /** First come first served: a large call at the head is not overtaken by small ones behind it. */
  private admitWaiting(): void {
    while (this.queue.length > 0 && this.fits(this.queue[0].bytes)) {
      const next = this.queue.shift()!;
      next.admit(this.take(next.bytes));
    }
  }
}
