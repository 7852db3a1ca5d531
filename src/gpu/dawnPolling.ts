// Node's Dawn (the npm package `webgpu`) waits for GPU work (a buffer map, onSubmittedWorkDone)
// by polling: each poll processes Dawn's events and schedules the next through the global
// setImmediate, about 100,000 polls a second, so every pending wait keeps one CPU core busy. On
// a CPU driver (lavapipe on 2 cores) that core is taken from the GPU work itself: a training
// step of the main job took 1.5-1.8x as long (bench/RESULTS.md). Paced, Dawn's polls run back to
// back for the first millisecond of a wait only, then on timers (about 1 ms apart): a short wait
// ends as soon as before, a long one costs next to nothing. Only native callbacks (Dawn's) are
// paced; JavaScript's own setImmediate calls go straight through.

/** How Node's Dawn polls while it waits: 'paced' (the default), or 'busy' (its own back-to-back polling). */
export type DawnPolling = 'paced' | 'busy';

/** Polls run back to back this long into a wait before they go to timers. */
const BUSY_MS = 1;
/** A gap longer than this between two polls starts a new wait. */
const NEW_WAIT_MS = 5;

const INSTALLED = Symbol.for('naaf-webgpu.dawnPolling');
const PROMISIFY = Symbol.for('nodejs.util.promisify.custom');

type Immediate = (callback: (...args: unknown[]) => void, ...args: unknown[]) => unknown;

/** Whether `callback` is a native function (an addon's, such as Dawn's poll), not JavaScript. */
function isNative(callback: unknown): boolean {
  return typeof callback === 'function' && /\{\s*\[native code\]\s*\}$/.test(Function.prototype.toString.call(callback));
}

/** Paces Dawn's polling in this process (once; it stays for the process, as Dawn's instance does). */
export function paceDawnPolling(): void {
  const global = globalThis as unknown as Record<PropertyKey, unknown> & { setImmediate?: Immediate };
  const original = global.setImmediate;
  if (global[INSTALLED] || typeof original !== 'function') return;
  let waitStart = 0;
  let lastPoll = -Infinity;
  const paced: Immediate = (callback, ...args) => {
    if (!isNative(callback)) return original(callback, ...args);
    const now = performance.now();
    if (now - lastPoll > NEW_WAIT_MS) waitStart = now;
    lastPoll = now;
    return now - waitStart < BUSY_MS ? original(callback, ...args) : setTimeout(callback, 0, ...args);
  };
  // util.promisify(setImmediate) keeps working.
  if ((original as unknown as Record<PropertyKey, unknown>)[PROMISIFY]) {
    (paced as unknown as Record<PropertyKey, unknown>)[PROMISIFY] = (original as unknown as Record<PropertyKey, unknown>)[PROMISIFY];
  }
  global.setImmediate = paced;
  global[INSTALLED] = true;
}
