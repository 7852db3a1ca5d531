// Reference of kernels/gather_items.wgsl: item entries[2i] of `src` copied to item
// entries[2i + 1] of `dst` (items of `words` 32-bit words; the rest of dst unchanged).
export function gatherItemsRef(src: Uint32Array, dst: Uint32Array, entries: ArrayLike<number>, words: number): Uint32Array {
  const out = dst.slice();
  for (let i = 0; i < entries.length; i += 2) out.set(src.subarray(entries[i]! * words, (entries[i]! + 1) * words), entries[i + 1]! * words);
  return out;
}
