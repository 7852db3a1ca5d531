// The project's one seeded uniform generator (mulberry32): weight initialisation, shuffles, the
// scenes dataset and the tuner's synthetic batches are pure functions of their seeds on every
// runtime (Math.random cannot be seeded).

/** A generator of uniform numbers in [0, 1) from a 32-bit seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
