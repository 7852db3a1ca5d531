// A buffer pool keyed by usage and size bucket (powers of two above 4 KiB, rounded to 256 B
// below), so repeated calls reuse the same allocations and stats() shows any leak.

export interface PoolStats {
  bytesAllocated: number; // live buffers created by the pool, in use or pooled
  bytesPooled: number; // of which free, waiting for reuse
  buffersAllocated: number;
  buffersInUse: number;
  peakBytesAllocated: number; // the most bytesAllocated has been since the engine started
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

  constructor(private readonly device: GPUDevice, private readonly maxBufferSize: number) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    let size = bucketSize(bytes);
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
    this.inUse.clear();
    this.sizes.clear();
    this.bytesAllocated = 0;
  }

  stats(): PoolStats {
    return {
      bytesAllocated: this.bytesAllocated,
      bytesPooled: this.bytesPooled,
      buffersAllocated: this.sizes.size,
      buffersInUse: this.inUse.size,
      peakBytesAllocated: this.peakBytesAllocated,
    };
  }
}
