// Types of bench/shapes.mjs, for the tests that share its seeded generator.
export declare const SHAPES: Record<'demo' | 'quick' | 'f30k' | 'coco5k', { N: number; M: number; R: number; D: number }>;
export declare function rng(seed: number): () => number;
export declare function captionLengths(M: number, seed?: number): Int32Array;
export declare function unitRows(rows: number, dim: number, seed: number): Float32Array;
export declare function captionRows(m0: number, count: number, L: number, D: number, lengths: ArrayLike<number>): Float32Array;
export declare function makeInputs(shape: { N: number; M: number; R: number; D: number }): {
  images: Float32Array; captions: (m0?: number, count?: number) => Float32Array; lengths: Int32Array; L: number;
};
