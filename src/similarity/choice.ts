// What a similarity call computes with: the kernel, its tile and (int8) the product. Its own
// file so that plan.ts (which applies tuned choices) and tune.ts (which makes them) do not import
// each other.
import type { TileRequest } from '../ops/score.js';

export type ScoreKernel = 'fused' | 'split';

/** What computes S: f32 FMAs, f16 operands widened to f32, or int8 with dot4I8Packed or tensor cores. */
export type Product = 'f32' | 'f16' | 'int8-dot4' | 'int8-subgroup-matrix';

/** A kernel and its tile: what engine.tune() chooses and a call may pin; for int8, the product that won. */
export interface KernelChoice {
  kernel: ScoreKernel;
  tile: TileRequest;
  product?: Product;
}
