// One call's command stream, submitted in bounded pieces. A browser (or Windows) resets a GPU
// whose one submission runs past about 2 s, and a cancelled call should stop soon: launchers
// report an estimate of each dispatch's work (in "units", about one FLOP of its dominant
// product) and the stream ends the current piece (pass, encoder, submit) before a dispatch that
// would take it past the budget. The budget follows the device's measured speed: each piece's
// GPU time is taken from queue.onSubmittedWorkDone, so pieces grow from a small first one until
// they take about `targetMs`. One piece is in flight at a time: the next is encoded while it runs
// and submitted when it is done, so each piece's time is its own (the promises of pipelined
// pieces resolve in bursts); an AbortSignal or a lost device is checked between pieces. Buffers used by a piece may go back to the pool once it is
// submitted (the queue runs later writes after it).
import type { GpuContext } from './context.js';
import type { GpuPass } from './pass.js';

/**
 * Units per millisecond assumed for a kind of work before any was measured: about a tenth of
 * lavapipe's GEMM on 2 cores, so a first piece stays short on the slowest device; pieces then
 * grow 4x at a time toward the target.
 */
const INITIAL_UNITS_PER_MS = 1e6;
/** What one piece should take: well under the ~2 s watchdogs even if the estimate is 2x off. */
export const DEFAULT_TARGET_MS = 100;
/** A piece grows at most 4x from one to the next (estimates of small pieces are noisy). */
const MAX_GROWTH = 4;
/** Speeds kept per kind. */
const RECENT = 3;

/**
 * The kinds of work, each with its own measured speed: their units differ in cost (a Gram
 * kernel's FLOP is slower than a GEMM's). A piece may mix kinds; it is bounded by its estimated
 * time (the sum over kinds of units / speed), and its measured time is shared out in the same
 * proportions when the speeds are updated.
 */
export type WorkKind = 'images' | 'captions' | 'split' | 'fused' | 'pairs';

/** Work of one piece, by kind. */
export type PieceWork = Map<WorkKind, number>;

/** The measured speed of one device, per kind of work, shared by every call on it. */
export class SubmitPacer {
  /** The last few speeds measured per kind (units per ms); the slowest sets the budget. */
  private readonly recent = new Map<WorkKind, number[]>();
  private readonly lastUnits = new Map<WorkKind, number>();
  /** Tests and apps may pin the work per piece (units); null: follow the measured speed. */
  fixedBudget: number | null = null;
  /** The longest GPU time measured for one piece, in milliseconds (engine.stats().longestSubmitMs). */
  longestMs = 0;

  constructor(readonly targetMs = DEFAULT_TARGET_MS) {
    if (!(targetMs > 0) || !Number.isFinite(targetMs)) throw new Error(`submitTargetMs must be a finite number > 0, got ${targetMs}`);
  }

  /** A cautious speed: the slowest of the last few measured (one fast piece does not inflate the next). */
  private rate(kind: WorkKind): number {
    const recent = this.recent.get(kind);
    return recent ? Math.min(...recent) : INITIAL_UNITS_PER_MS;
  }

  /** The most work of this kind one piece should hold now (a dispatch is sized to fit it). */
  budget(kind: WorkKind): number {
    if (this.fixedBudget !== null) return this.fixedBudget;
    const wanted = this.rate(kind) * this.targetMs;
    // Grow gradually from the largest piece of this kind measured.
    const last = this.lastUnits.get(kind) ?? 0;
    return Math.max(1, last > 0 ? Math.min(wanted, last * MAX_GROWTH) : wanted);
  }

  /** Whether a piece holding `work` may take `units` more of `kind`. */
  fits(work: PieceWork, kind: WorkKind, units: number): boolean {
    if (this.fixedBudget !== null) return [...work.values()].reduce((a, b) => a + b, 0) + units <= this.fixedBudget;
    let share = (units + (work.get(kind) ?? 0)) / this.budget(kind);
    for (const [k, u] of work) if (k !== kind) share += u / this.budget(k);
    return share <= 1;
  }

  /** A piece of `work` took `ms` on the GPU. */
  record(work: PieceWork, ms: number): void {
    if (!(ms > 0) || work.size === 0) return;
    this.longestMs = Math.max(this.longestMs, ms);
    let estimate = 0;
    for (const [kind, units] of work) estimate += units / this.rate(kind);
    if (!(estimate > 0)) return;
    for (const [kind, units] of work) {
      if (!(units > 0)) continue;
      const spent = (ms * (units / this.rate(kind))) / estimate; // its share of the measured time
      const measured = units / spent;
      const rate = this.rate(kind);
      // A small piece is mostly fixed costs, and a first dispatch may include compiling its
      // pipeline (a CPU driver compiles then): neither may shrink the estimate much at once.
      const next = spent < 2 ? Math.max(rate, Math.min(measured, rate * MAX_GROWTH)) : Math.max(measured, rate / 4);
      this.recent.set(kind, [...(this.recent.get(kind) ?? []), next].slice(-RECENT));
      this.lastUnits.set(kind, Math.max(this.lastUnits.get(kind) ?? 0, units));
    }
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

interface InFlight { done: Promise<void> }

export class CommandStream {
  private encoder: GPUCommandEncoder;
  private currentPass: GpuPass | null = null;
  /** The work in the current piece, by kind. */
  private work: PieceWork = new Map();
  private pieceBuffers: GPUBuffer[] = [];
  private readonly inFlight: InFlight[] = [];
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

  /** The most work of a kind one dispatch should hold (size passes and chunks with it). */
  budget(kind: WorkKind): number {
    return this.external ? Infinity : this.ctx.pacer.budget(kind);
  }

  /**
   * Call before encoding dispatches of about `units` of `kind` (and before making their
   * per-piece buffers): ends the current piece first if they would take it past its time.
   */
  async reserve(units: number, kind: WorkKind): Promise<void> {
    if (!this.external && this.work.size > 0 && !this.ctx.pacer.fits(this.work, kind, units)) await this.flush();
    this.work.set(kind, (this.work.get(kind) ?? 0) + units);
  }

  /** Submits what was encoded (if anything) and starts a new piece; waits while two pieces are in flight. */
  async flush(): Promise<void> {
    if (this.closed) throw new Error(`${this.what}: the command stream is closed`);
    if (this.external) throw new Error(`${this.what}: a stream into the caller's encoder cannot submit`);
    this.currentPass?.end();
    this.currentPass = null;
    await this.settle();
    const work = this.work;
    this.work = new Map();
    this.ctx.submit(this.encoder);
    this.dirty = false;
    const submitted = performance.now();
    const done = this.ctx.device.queue.onSubmittedWorkDone().then(() => {
      this.ctx.pacer.record(work, performance.now() - submitted);
    });
    done.catch(() => {}); // a lost device: checked below
    this.inFlight.push({ done });
    for (const buffer of this.pieceBuffers) this.ctx.pool.release(buffer);
    this.pieceBuffers = [];
    this.encoder = this.ctx.createEncoder(this.what);
    this.check();
  }

  /** Waits for the pieces in flight. */
  private async settle(): Promise<void> {
    while (this.inFlight.length > 0) await this.inFlight.shift()!.done.catch(() => {});
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
    const work = this.work;
    this.work = new Map();
    this.dirty = false;
    const pieceBuffers = this.pieceBuffers;
    this.pieceBuffers = [];
    const previous = this.inFlight.splice(0);
    // Submitted once the pieces before it are done (see the file's comment), then mapped.
    const reading = (async () => {
      for (const piece of previous) await piece.done.catch(() => {});
      const submitted = performance.now();
      try {
        const result = await this.ctx.readFloat32(source, offset, count, encoder);
        this.ctx.pacer.record(work, performance.now() - submitted);
        return result;
      } finally {
        for (const buffer of pieceBuffers) this.ctx.pool.release(buffer);
      }
    })();
    const done = reading.then(() => {});
    done.catch(() => {});
    this.inFlight.push({ done });
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
    // Reads may still wait to submit their encoders: nothing is released before they have.
    await this.settle();
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
