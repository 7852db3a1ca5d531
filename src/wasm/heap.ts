// One WebAssembly.Memory and what is allocated in it: a first-fit free list over [base, size)
// with neighbours merged on free, 64-byte aligned blocks (a cache line), and growth page by page
// up to the memory's maximum. Allocation is rare (per call and per gallery shard), so a sorted
// list is enough. Views are made fresh from memory.buffer: growing a memory replaces its buffer.

const ALIGN = 64;
const PAGE = 65536;

/** The memory (or its maximum) cannot hold what was asked for. */
export class WasmMemoryError extends Error {
  override readonly name = 'WasmMemoryError';
}

export interface HeapStats {
  /** Bytes in live blocks, and the most at once since resetPeak(). */
  allocated: number;
  peakAllocated: number;
  /** The memory's current size and its maximum. */
  memoryBytes: number;
  maxBytes: number;
}

export class WasmHeap {
  /** Free blocks [start, end), sorted by start, none adjacent. */
  private freeList: [number, number][] = [];
  private readonly sizes = new Map<number, number>();
  private allocated = 0;
  private peak = 0;

  /** `base`: the first byte the module leaves us (its __heap_base); `maxPages`: the memory's maximum. */
  constructor(readonly memory: WebAssembly.Memory, base: number, readonly maxPages: number, readonly id: number) {
    const start = Math.ceil(base / ALIGN) * ALIGN;
    const end = memory.buffer.byteLength;
    if (end > start) this.freeList.push([start, end]);
  }

  get maxBytes(): number {
    return this.maxPages * PAGE;
  }

  /** Bytes that could still be allocated (free now, plus growth up to the maximum). */
  get available(): number {
    return this.freeList.reduce((sum, [a, b]) => sum + b - a, 0) + this.maxBytes - this.memory.buffer.byteLength;
  }

  /** A block of at least `bytes` (64-byte aligned); `what` names the caller in the error when it cannot be had. */
  alloc(bytes: number, what: string): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let index = this.freeList.findIndex(([a, b]) => b - a >= size);
    if (index < 0) {
      this.grow(size, what);
      index = this.freeList.findIndex(([a, b]) => b - a >= size);
    }
    const block = this.freeList[index];
    const ptr = block[0];
    if (block[1] - block[0] === size) this.freeList.splice(index, 1);
    else block[0] += size;
    this.sizes.set(ptr, size);
    this.allocated += size;
    this.peak = Math.max(this.peak, this.allocated);
    return ptr;
  }

  free(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new Error(`WasmHeap.free: ${ptr} is not an allocated block`);
    this.sizes.delete(ptr);
    this.allocated -= size;
    const end = ptr + size;
    let i = 0;
    while (i < this.freeList.length && this.freeList[i][0] < ptr) i++;
    const before = this.freeList[i - 1];
    const after = this.freeList[i];
    if (before && before[1] === ptr) {
      before[1] = end;
      if (after && after[0] === end) {
        before[1] = after[1];
        this.freeList.splice(i, 1);
      }
    } else if (after && after[0] === end) {
      after[0] = ptr;
    } else {
      this.freeList.splice(i, 0, [ptr, end]);
    }
  }

  /** Grows the memory so that a free block of `size` bytes exists at its end. */
  private grow(size: number, what: string): void {
    const current = this.memory.buffer.byteLength;
    const last = this.freeList[this.freeList.length - 1];
    const tail = last && last[1] === current ? last[1] - last[0] : 0;
    const needed = Math.ceil((size - tail) / PAGE);
    const currentPages = current / PAGE;
    // Grow by at least a quarter of the memory, so many small allocations do not grow page by page.
    const pages = Math.min(this.maxPages - currentPages, Math.max(needed, Math.ceil(currentPages / 4)));
    if (pages < needed) {
      throw new WasmMemoryError(`${what}: needs ${size} bytes of WASM memory, but memory ${this.id} holds ${this.allocated} of its ${this.maxBytes} at most `
        + `(${this.available} free): use smaller batches (options.maxGpuBytes), fewer images at once, or split a gallery (maxImagesPerShard)`);
    }
    try {
      this.memory.grow(pages);
    } catch (error) {
      throw new WasmMemoryError(`${what}: the runtime refused to grow WASM memory ${this.id} from ${current} to ${current + pages * PAGE} bytes (${(error as Error).message})`);
    }
    if (last && last[1] === current) last[1] = current + pages * PAGE;
    else this.freeList.push([current, current + pages * PAGE]);
  }

  stats(): HeapStats {
    return { allocated: this.allocated, peakAllocated: this.peak, memoryBytes: this.memory.buffer.byteLength, maxBytes: this.maxBytes };
  }

  resetPeak(): void {
    this.peak = this.allocated;
  }

  f32(ptr: number, count: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, count);
  }

  i32(ptr: number, count: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, count);
  }

  u8(ptr: number, count: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, count);
  }
}

/**
 * The scratch block of `holder` in `heap`, grown to `bytes` at least: the bigger block is taken
 * before the old one is given back, so a failed allocation leaves the old one in place.
 */
export function growScratch(holder: Map<number, { ptr: number; bytes: number }>, heap: WasmHeap, bytes: number, what: string): number {
  const scratch = holder.get(heap.id);
  if (scratch && scratch.bytes >= bytes) return scratch.ptr;
  const size = Math.max(bytes, 2 * (scratch?.bytes ?? 0), 4096);
  const ptr = heap.alloc(size, what);
  if (scratch) heap.free(scratch.ptr);
  holder.set(heap.id, { ptr, bytes: size });
  return ptr;
}
