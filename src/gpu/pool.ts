// A buffer pool keyed by usage and size bucket (powers of two above 4 KiB, rounded to 256 B
// below), so repeated calls reuse the same allocations and stats() shows any leak.

export interface PoolStats {
  bytesAllocated: number; // live buffers created by the pool, in use or pooled, and resident ones (galleries)
  bytesPooled: number; // of which free, waiting for reuse
  buffersAllocated: number;
  buffersInUse: number;
  peakBytesAllocated: number; // the most bytesAllocated has been since the engine started (or resetPeak)
  bytesResident: number; // of bytesAllocated: buffers kept outside the pool (galleries)
}

function bucketSize(bytes: number): number {
  const size = Math.max(bytes, 16);
  if (size <= 4096) return Math.ceil(size / 256) * 256;
  return 2 ** Math.ceil(Math.log2(size));
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly inUse = new Set<GPUBuffer>();
  private readonly sizes = new Map<GPUBuffer, number>();
  private bytesAllocated = 0;
  private bytesPooled = 0;
  private peakBytesAllocated = 0;
  private readonly resident = new Map<GPUBuffer, number>();
  private bytesResident = 0;

  constructor(private readonly device: GPUDevice, private readonly maxBufferSize: number) {}

  /**
   * A buffer of at least `bytes`: from the free list of its size class (powers of two above
   * 4 KiB), else new. `exact`: sized to 256 bytes instead (large blocks of a call, which reuse
   * one size and whose rounding up would break a memory budget).
   */
  acquire(bytes: number, usage: GPUBufferUsageFlags, label: string, exact = false): GPUBuffer {
    let size = exact ? Math.max(256, Math.ceil(bytes / 256) * 256) : bucketSize(bytes);
    if (size > this.maxBufferSize) size = Math.ceil(bytes / 4) * 4;
    if (size > this.maxBufferSize) {
      throw new Error(`${label}: needs a buffer of ${bytes} bytes, larger than this device's maxBufferSize ${this.maxBufferSize}`);
    }
    const key = `${usage}:${size}`;
    const reuse = this.free.get(key)?.pop();
    if (reuse) {
      this.bytesPooled -= size;
      this.inUse.add(reuse);
      return reuse;
    }
    const buffer = this.device.createBuffer({ size, usage, label });
    this.bytesAllocated += size;
    this.peakBytesAllocated = Math.max(this.peakBytesAllocated, this.bytesAllocated);
    this.sizes.set(buffer, size);
    this.inUse.add(buffer);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (!this.inUse.delete(buffer)) return;
    const size = this.sizes.get(buffer)!;
    const key = `${buffer.usage}:${size}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buffer);
    this.bytesPooled += size;
  }

  /** A buffer of exactly `bytes` (rounded to 4) outside the pool (a gallery's shard), counted in the stats until freeResident(). */
  allocateResident(bytes: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    if (size > this.maxBufferSize) throw new Error(`${label}: needs a buffer of ${size} bytes, larger than this device's maxBufferSize ${this.maxBufferSize}`);
    const buffer = this.device.createBuffer({ size, usage, label });
    this.resident.set(buffer, size);
    this.bytesResident += size;
    this.bytesAllocated += size;
    this.peakBytesAllocated = Math.max(this.peakBytesAllocated, this.bytesAllocated);
    return buffer;
  }

  freeResident(buffer: GPUBuffer): void {
    const size = this.resident.get(buffer);
    if (size === undefined) return;
    this.resident.delete(buffer);
    this.bytesResident -= size;
    this.bytesAllocated -= size;
    buffer.destroy();
  }

  /** Starts the peak over from what is allocated now (for measuring one call). */
  resetPeak(): void {
    this.peakBytesAllocated = this.bytesAllocated;
  }

  /** Frees the pooled (unused) buffers. */
  trim(): void {
    for (const list of this.free.values()) {
      for (const buffer of list) {
        this.bytesAllocated -= this.sizes.get(buffer)!;
        this.sizes.delete(buffer);
        buffer.destroy();
      }
    }
    this.free.clear();
    this.bytesPooled = 0;
  }

  destroy(): void {
    this.trim();
    for (const buffer of this.inUse) buffer.destroy();
    for (const buffer of this.resident.keys()) buffer.destroy();
    this.inUse.clear();
    this.sizes.clear();
    this.resident.clear();
    this.bytesAllocated = 0;
    this.bytesResident = 0;
  }

  stats(): PoolStats {
    return {
      bytesAllocated: this.bytesAllocated,
      bytesPooled: this.bytesPooled,
      buffersAllocated: this.sizes.size,
      buffersInUse: this.inUse.size,
      peakBytesAllocated: this.peakBytesAllocated,
      bytesResident: this.bytesResident,
    };
  }
}
