// A small tape: ops encode their forward kernels as they are called and register a backward
// (more kernels) next to it; backward() encodes those in reverse order. Every gradient is
// computed by WGSL kernels; the tape only owns buffers and order.
//
// Each variable may feed one op (the NAAF/SCAN graphs are chains), so a backward writes its
// inputs' gradients directly (no accumulation buffers); use() enforces it.
import type { GpuContext } from '../gpu/context.js';

export class Variable {
  grad: GPUBuffer | null = null;
  used = false;
  constructor(
    readonly data: GPUBuffer,
    readonly shape: readonly number[],
    readonly label: string,
    /** False for inputs (region features, word ids): no gradient is computed for them. */
    readonly requiresGrad = true,
  ) {}

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
}

/** A trainable tensor: its weights live in the model's buffer, its gradient in `grad`. */
export class Parameter extends Variable {
  constructor(data: GPUBuffer, shape: readonly number[], label: string, grad: GPUBuffer) {
    super(data, shape, label);
    this.grad = grad;
  }
}

export type Backward = (encoder: GPUCommandEncoder) => Promise<void>;

export class Tape {
  private readonly backwards: { op: string; backward: Backward }[] = [];
  /** Buffers of this tape (activations, gradients, uniforms), returned to the pool by release(). */
  readonly transient: GPUBuffer[] = [];

  constructor(readonly ctx: GpuContext, readonly encoder: GPUCommandEncoder) {}

  /** A pooled storage buffer that lives as long as the tape. */
  buffer(floats: number, label: string): GPUBuffer {
    const buffer = this.ctx.pool.acquire(Math.max(1, floats) * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label);
    this.transient.push(buffer);
    return buffer;
  }

  variable(shape: readonly number[], label: string): Variable {
    return new Variable(this.buffer(shape.reduce((a, b) => a * b, 1), label), shape, label);
  }

  /** An input uploaded from the CPU; it needs no gradient. */
  input(data: Float32Array | Uint32Array, shape: readonly number[], label: string): Variable {
    const buffer = this.ctx.upload(data, label);
    this.transient.push(buffer);
    return new Variable(buffer, shape, label, false);
  }

  /** Marks `v` as consumed by `op`; a second consumer would need summed gradients. */
  use(v: Variable, op: string): void {
    if (v.used) throw new Error(`tape: ${v.label} is already used by another op; ${op} would need gradient accumulation`);
    v.used = true;
  }

  /** The gradient buffer of `v`, allocated on first request (parameters bring their own). */
  gradOf(v: Variable): GPUBuffer {
    v.grad ??= this.buffer(v.size, `grad ${v.label}`);
    return v.grad;
  }

  record(op: string, backward: Backward): void {
    this.backwards.push({ op, backward });
  }

  /** Encodes every registered backward, last op first. */
  async backward(encoder: GPUCommandEncoder): Promise<void> {
    for (let i = this.backwards.length - 1; i >= 0; i--) await this.backwards[i].backward(encoder);
  }

  get ops(): string[] {
    return this.backwards.map((b) => b.op);
  }

  release(): void {
    for (const buffer of this.transient) this.ctx.pool.release(buffer);
    this.transient.length = 0;
  }
}
