// One call's command stream, submitted in bounded pieces. A browser (or Windows) resets a GPU
// whose one submission runs past about 2 s, and a cancelled call should stop soon: launchers
// report an estimate of each dispatch's work (in "units", about one FLOP of its dominant
// product) and the stream ends the current piece (pass, encoder, submit) before a dispatch that
// would take it past the budget. The budget follows the device's measured speed: each piece's
// GPU time is taken from queue.onSubmittedWorkDone, so pieces grow from a small first one until
// they take about `targetMs`. At most two pieces are in flight; an AbortSignal or a lost device
// is checked between pieces. Buffers used by a piece may go back to the pool once it is
// submitted (the queue runs later writes after it).
import type { GpuContext } from './context.js';
import type { GpuPass } from './pass.js';

/** Units per millisecond assumed before anything was measured: about lavapipe on 2 cores. */
const INITIAL_UNITS_PER_MS = 4e6;
/** What one piece should take: well under the ~2 s watchdogs even if the estimate is 2x off. */
export const DEFAULT_TARGET_MS = 100;
/** A piece grows at most 4x from one to the next (estimates of small pieces are noisy). */
const MAX_GROWTH = 4;

/** The measured speed of one device, shared by every call on it. */
export class SubmitPacer {
  private unitsPerMs = INITIAL_UNITS_PER_MS;
  private lastBudget = 0;
  /** Tests and apps may pin the work per piece (units); null: follow the measured speed. */
  fixedBudget: number | null = null;

  constructor(readonly targetMs = DEFAULT_TARGET_MS) {
    if (!(targetMs > 0) || !Number.isFinite(targetMs)) throw new Error(`submitTargetMs must be a finite number > 0, got ${targetMs}`);
  }

  /** The most work a piece should hold now. */
  budget(): number {
    if (this.fixedBudget !== null) return this.fixedBudget;
    const wanted = this.unitsPerMs * this.targetMs;
    // Grow gradually from what was last measured to be safe.
    const capped = this.lastBudget > 0 ? Math.min(wanted, this.lastBudget * MAX_GROWTH) : wanted;
    return Math.max(1, capped);
  }

  /** A piece of `units` took `ms` on the GPU. */
  record(units: number, ms: number): void {
    if (!(units > 0) || !(ms > 0)) return;
    // Small pieces are dominated by fixed costs; they only ever raise the estimate a little.
    const measured = units / ms;
    this.unitsPerMs = ms < 2 ? Math.max(this.unitsPerMs, Math.min(measured, this.unitsPerMs * MAX_GROWTH)) : measured;
    this.lastBudget = Math.max(this.lastBudget, units);
  }
}

export class AbortedError extends Error {
  override readonly name = 'AbortError';
  constructor(what: string, reason: unknown) {
    super(`${what}: aborted${reason !== undefined ? ` (${reason instanceof Error ? reason.message : String(reason)})` : ''}`);
  }
}

/** Throws the AbortError of `signal` (if aborted) naming the call. */
export function throwIfAborted(what: string, signal?: AbortSignal): void {
  if (signal?.aborted) throw new AbortedError(what, signal.reason);
}

export function checkSignal(what: string, signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!signal || typeof (signal as AbortSignal).aborted !== 'boolean') throw new Error(`${what}: options.signal must be an AbortSignal, got ${String(signal)}`);
  return signal as AbortSignal;
}

interface InFlight { done: Promise<void>; units: number; submitted: number }

export class CommandStream {
  private encoder: GPUCommandEncoder;
  private currentPass: GpuPass | null = null;
  private units = 0;
  private pieceBuffers: GPUBuffer[] = [];
  private readonly inFlight: InFlight[] = [];
  private lastDone = 0;
  private closed = false;
  private readonly heldList: GPUBuffer[] = [];

  /** Buffers that live until the call ends (released by finish()). */
  get held(): GPUBuffer[] {
    return this.external ?? this.heldList;
  }

  /** Set by into(): everything goes into the caller's encoder, which the caller submits. */
  private external: GPUBuffer[] | null = null;

  constructor(private readonly ctx: GpuContext, readonly what: string, readonly signal?: AbortSignal, encoder?: GPUCommandEncoder) {
    throwIfAborted(what, signal);
    this.encoder = encoder ?? ctx.createEncoder(what);
  }

  /**
   * A stream that encodes into the caller's encoder and never submits (a training step is one
   * submission); its buffers go onto `transient`, which the caller releases after submitting.
   */
  static into(ctx: GpuContext, what: string, encoder: GPUCommandEncoder, transient: GPUBuffer[]): CommandStream {
    const stream = new CommandStream(ctx, what, undefined, encoder);
    stream.external = transient;
    stream.pieceBuffers = transient;
    return stream;
  }

  /** Ends the pass (the caller's encoder goes on). */
  end(): void {
    this.currentPass?.end();
    this.currentPass = null;
  }

  /** The pass dispatches go into (begun on first use after each piece). */
  get pass(): GpuPass {
    this.dirty = true;
    this.currentPass ??= this.ctx.beginPass(this.encoder, this.what);
    return this.currentPass;
  }

  /** Whether anything was encoded since the last submission. */
  private dirty = false;

  /** Buffers to release when the current piece is submitted (uniforms, small tables, uploads used by it only). */
  get transient(): GPUBuffer[] {
    return this.pieceBuffers;
  }

  /** Copies and clears go here: ends the pass, so record them between dispatches. */
  commandEncoder(): GPUCommandEncoder {
    this.dirty = true;
    this.currentPass?.end();
    this.currentPass = null;
    return this.encoder;
  }

  /** The most work one dispatch should hold (size passes and chunks with it). */
  budget(): number {
    return this.external ? Infinity : this.ctx.pacer.budget();
  }

  /** Call before encoding a dispatch of about `units`: ends the current piece first if it would go past the budget. */
  async reserve(units: number): Promise<void> {
    if (!this.external && this.units > 0 && this.units + units > this.budget()) await this.flush();
    this.units += units;
  }

  /** Submits what was encoded (if anything) and starts a new piece; waits while two pieces are in flight. */
  async flush(): Promise<void> {
    if (this.closed) throw new Error(`${this.what}: the command stream is closed`);
    if (this.external) throw new Error(`${this.what}: a stream into the caller's encoder cannot submit`);
    this.currentPass?.end();
    this.currentPass = null;
    const units = this.units;
    this.ctx.submit(this.encoder);
    this.dirty = false;
    this.units = 0;
    const submitted = performance.now();
    const done = this.ctx.device.queue.onSubmittedWorkDone().then(() => {
      const now = performance.now();
      this.ctx.pacer.record(units, now - Math.max(submitted, this.lastDone));
      this.lastDone = now;
    });
    done.catch(() => {}); // a lost device: checked below
    this.inFlight.push({ done, units, submitted });
    for (const buffer of this.pieceBuffers) this.ctx.pool.release(buffer);
    this.pieceBuffers = [];
    this.encoder = this.ctx.createEncoder(this.what);
    while (this.inFlight.length > 2) await this.settleOldest();
    this.check();
  }

  private async settleOldest(): Promise<void> {
    const oldest = this.inFlight.shift()!;
    await oldest.done.catch(() => {});
  }

  /** Throws if the call was cancelled or the device lost. */
  check(): void {
    this.ctx.checkUsable(this.what);
    throwIfAborted(this.what, this.signal);
  }

  /** Buffers whose last use is already encoded: released once that work is submitted. */
  retire(buffers: GPUBuffer[]): void {
    if (buffers === this.pieceBuffers) return;
    this.pieceBuffers.push(...buffers);
    buffers.length = 0;
  }

  /**
   * Starts copying `count` floats of `source` at byte `offset` to the CPU (submitting everything
   * encoded so far) and returns the data's promise, so the next block can be encoded meanwhile.
   */
  readLater(source: GPUBuffer, offset: number, count: number): Promise<Float32Array> {
    this.currentPass?.end();
    this.currentPass = null;
    const encoder = this.encoder;
    this.encoder = this.ctx.createEncoder(this.what);
    const units = this.units;
    this.units = 0;
    const submitted = performance.now();
    const reading = this.ctx.readFloat32(source, offset, count, encoder); // submits now
    this.dirty = false;
    for (const buffer of this.pieceBuffers) this.ctx.pool.release(buffer);
    this.pieceBuffers = [];
    const done = reading.then(() => {
      const now = performance.now();
      this.ctx.pacer.record(units, now - Math.max(submitted, this.lastDone));
      this.lastDone = now;
    });
    done.catch(() => {});
    this.inFlight.push({ done, units, submitted });
    return reading;
  }

  /** Copies `count` floats of `source` at byte `offset` to the CPU: submits everything encoded so far. */
  async read(source: GPUBuffer, offset: number, count: number): Promise<Float32Array> {
    const result = await this.readLater(source, offset, count);
    this.check();
    return result;
  }

  /** Submits the rest; releases every buffer of the call (also on error: call it in finally). */
  async finish(submitRest = true): Promise<void> {
    if (this.closed) return;
    if (this.external) {
      this.end();
      this.closed = true;
      return;
    }
    try {
      if (submitRest && this.dirty) {
        this.currentPass?.end();
        this.currentPass = null;
        this.ctx.submit(this.encoder);
      }
    } finally {
      this.closed = true;
      for (const buffer of this.pieceBuffers) this.ctx.pool.release(buffer);
      for (const buffer of this.heldList) this.ctx.pool.release(buffer);
      this.pieceBuffers = [];
      this.heldList.length = 0;
    }
  }

  /** Ends without submitting what is encoded (an error or a cancellation), releasing every buffer. */
  async abandon(): Promise<void> {
    try {
      this.currentPass?.end();
    } catch { /* the pass may already be invalid */ }
    this.currentPass = null;
    await this.finish(false);
  }
}
