// What a similarity method is, in one place: its name, options (keys, defaults, validation),
// the kernel families it supports and their WGSL, its float64 reference, its training defaults
// and its CLI help line. Every consumer (validation, plans, launchers, trainer, evalrank, the
// CLIs) asks the registry (src/methods/index.ts) instead of switching on the name.
import type { WgslConstants, WgslPart } from '../gpu/shader.js';
import type { RefBatch } from '../ref/naaf.js';
import type { TapeScore } from '../ref/tapeScores.js';

export type ScoreMethod = 'naaf' | 'scan-t2i' | 'scan-i2t' | 'chan';

/** The backward kernels' method: NAAF's training path (per-caption thresholds) or a SCAN direction. */
export type BackwardMethod = 'naaf-train' | 'scan-t2i' | 'scan-i2t' | 'chan';

export interface ScoreFlags {
  intra?: boolean; // naaf
  lse?: boolean; // scan
  wordTerms?: boolean; // naaf: also write every word's terms
}

/** The method-specific part of a similarity call's resolved options. */
export interface MethodFields {
  threshold: number;
  lambdaSoftmax: number;
  lambdaLse: number;
  lambdaIntra: number;
  intra: boolean;
  lse: boolean;
}

/** Checks a finite number > 0 (undefined: the fallback); errors name options.<name>. */
export type PositiveCheck = (name: string, value: unknown, fallback: number) => number;

export interface MethodSpec {
  name: ScoreMethod;
  /** For tables and reports, e.g. 'SCAN t2i'. */
  label: string;
  /** One line for the CLIs' --method help. */
  help: string;
  /** similarity() options the method takes besides `method`. */
  optionKeys: readonly string[];
  /** Options that stand for the method where any will do (tuning's synthetic batch). */
  sampleOptions: Record<string, unknown>;
  /**
   * The word Gram the epilogue reads: SCAN's raw U U^T (word norms), NAAF's softmax(lambdaIntra
   * U U^T) for intra-text propagation, or none.
   */
  wordGram(fields: MethodFields): 'raw' | 'softmax' | null;
  /** The method writes per-word terms (binding 8 of its epilogues; engine.naafWordTerms). */
  wordTerms: boolean;
  /** Its exact scores serve a search index's re-ranking stage (naaf search --method). */
  search: boolean;
  /** Validates and fills in the method's options; errors name the option, what was expected and what was given. */
  resolve(options: Record<string, unknown>, positive: PositiveCheck): MethodFields;
  /**
   * Trainer defaults (the method's own training script), and its training forward: NAAF's own
   * path with Discriminative Mismatch Mining (src/ops/naafTrain.ts), or the method's similarity.
   */
  training: {
    learningRate: number; lambdaSoftmax: number; lambdaLse: number; forward: 'naaf-mining' | 'similarity';
    /** Defaults where the method's script differs from NAAF's (margin 0.2, no warm-up, tenfold decay every 10 epochs). */
    margin?: number; warmupEpochs?: number; lrUpdate?: number;
    /** The similarity() options of the training forward ('similarity'), from the trainer's. */
    similarityOptions?(o: { lambdaSoftmax: number; aggregation: 'lse' | 'mean'; lambdaLse: number }): Record<string, unknown>;
  };
  /** The backward kernels' method for this method's training path. */
  backward: BackwardMethod;
  /**
   * What the backward method file accumulates besides dS: the Gram gradient over regions (dG_n,
   * so the epilogue is image-owned) or over words (dW_m, caption-tile owned), and whether it has
   * per-vector scales (gradients through ||u_w|| or ||v_r||); what its binding 8 holds: the
   * per-caption thresholds (NAAF's training path), the word Gram U U^T, or nothing; whether it
   * reads the region Gram G_n (binding 5); whether it has the LSE / mean aggregation (LSE).
   */
  backwardTerms: {
    gram: 'regions' | 'words' | 'none'; scales: boolean; input: 'thresholds' | 'wordGram' | 'none';
    regionGram: boolean; aggregation: boolean;
  };
  kernels: {
    /** The fused kernel's epilogue file (after the fused tile and product parts) and its constants; absent: split only. */
    fused?: { part: WgslPart; constants(flags: ScoreFlags): WgslConstants };
    /** The split path's epilogue files (after common/split_tile.wgsl and its helpers) and constants. */
    split: {
      parts: readonly WgslPart[];
      constants(flags: ScoreFlags): WgslConstants;
      /** The epilogue keeps R x ROWS weights in workgroup memory (WT_SIZE of split_tile.wgsl). */
      regionRowWeights?: boolean;
      /**
       * The epilogue reads the word Gram (binding 6). A binding no code of the entry point names is
       * not in its pipeline's layout, so a launcher binds only what the method's files read.
       */
      readsWordGram: boolean;
    };
    /** The backward method file (pairGradients and its Gram and scale terms); binds the region Gram iff backwardTerms.regionGram. */
    backward: WgslPart;
    /**
     * The CPU backend's kernel: the export of the method's file in kernels/wasm/ (its epilogue
     * after score.h's GEMM), e.g. 'naaf_score'; it reads the word Gram wordGram() names.
     */
    wasm: { score: string };
  };
  /**
   * The similarity options a trained model is scored with: its learned values (NAAF: the
   * checkpoint's thres_safe, unless `threshold` overrides it; the lambda it trained with).
   * Throws, from `what`, when the model lacks one.
   */
  modelOptions(config: { threshold?: number | null; lambdaSoftmax: number }, what: string, threshold?: number): Record<string, unknown> & { method: ScoreMethod };
  /** Float64 reference of the similarity matrix [N, M] (image-major) with resolved options. */
  reference(batch: RefBatch, options: MethodFields): Float64Array;
  /**
   * Float64 references of the training path, which the backward differentiates: its scores
   * [N, M] (per-caption thresholds where the method learns one) and one pair's score on the
   * autodiff tape (src/ref/tapeScores.ts).
   */
  trainingReference: {
    similarity(batch: RefBatch, o: TrainingRefOptions): Float64Array;
    tapeScore: TapeScore;
  };
}

/** The training path's options in its references: lambdaSoftmax (CHAN: 1 / belta), the aggregation or pooling. */
export interface TrainingRefOptions {
  thresholds: ArrayLike<number>; // [M]; zeros where the method learns none
  lambdaSoftmax: number;
  lse: boolean;
  lambdaLse: number;
}
