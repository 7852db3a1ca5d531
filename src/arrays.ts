// Reductions over data-sized arrays. `Math.max(...xs)` passes every element as an argument and
// overflows the call stack past about 125k elements (Flickr30K has 145k training captions).

/** The largest value, or `empty` for an empty array. */
export function maxOf(values: ArrayLike<number>, empty = -Infinity): number {
  if (values.length === 0) return empty;
  let best = values[0];
  for (let i = 1; i < values.length; i++) if (values[i] > best) best = values[i];
  return best;
}

/** The smallest value, or `empty` for an empty array. */
export function minOf(values: ArrayLike<number>, empty = Infinity): number {
  if (values.length === 0) return empty;
  let best = values[0];
  for (let i = 1; i < values.length; i++) if (values[i] < best) best = values[i];
  return best;
}
