// Argument structs of the CPU kernels, written field by field into WASM memory: every field is
// 4 bytes (a pointer, an i32 or an f32) in the order of its C struct (kernels/wasm/score.h,
// prep.c). A struct lives for one run.
import type { WasmHeap } from './heap.js';

export type Field = number | { f32: number };

/** A struct of `fields` in `heap`; free it with heap.free. */
export function writeStruct(heap: WasmHeap, fields: readonly Field[], what: string): number {
  const ptr = heap.alloc(fields.length * 4, what);
  const view = new DataView(heap.memory.buffer, ptr, fields.length * 4);
  fields.forEach((field, i) => {
    if (typeof field === 'number') view.setInt32(i * 4, field, true);
    else view.setFloat32(i * 4, field.f32, true);
  });
  return ptr;
}

/** Blocks of one call in a heap, freed together (also when the call fails). */
export class HeapScope {
  private readonly blocks: number[] = [];
  /** Bytes asked for by the blocks held. */
  bytes = 0;

  constructor(readonly heap: WasmHeap) {}

  alloc(bytes: number, what: string): number {
    const ptr = this.heap.alloc(bytes, what);
    this.blocks.push(ptr);
    this.bytes += bytes;
    return ptr;
  }

  /** A copy of `data` in the heap. */
  copy(data: Float32Array | Int32Array | Uint32Array, what: string): number {
    const ptr = this.alloc(Math.max(4, data.byteLength), what);
    new Uint8Array(this.heap.memory.buffer, ptr, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return ptr;
  }

  struct(fields: readonly Field[], what: string): number {
    const ptr = writeStruct(this.heap, fields, what);
    this.blocks.push(ptr);
    this.bytes += fields.length * 4;
    return ptr;
  }

  free(): void {
    for (const ptr of this.blocks.splice(0)) this.heap.free(ptr);
    this.bytes = 0;
  }
}
