// What the report shows; the caller (training + evaluation) fills it in.

/** Recall metrics of one direction, as in spec 6 (R@K in percent; medr/meanr 1-based ranks). */
export interface RecallRow { r1: number; r5: number; r10: number; medr: number; meanr: number }

export interface MethodResult {
  method: string; // 'NAAF' | 'SCAN t2i'
  i2t: RecallRow;
  t2i: RecallRow;
  rsum: number;
  /** Fraction (0..1) of foils scored strictly below their true caption. */
  foilAccuracy: number;
  trainSeconds: number;
  /** NAAF's test-time threshold (thres_safe), if the method has one. */
  threshold?: number;
}

/** Per epoch; a method without a learned threshold (SCAN) may give NaN or 0 for thres/thresSafe. */
export interface EpochPoint { epoch: number; loss: number; rsum: number; thres: number; thresSafe: number; collapsed?: boolean }

/** NAAF's terms for one word of a caption (spec 3.1). */
export interface WordTerm {
  token: string;
  neg: number;
  posF: number;
  posR: number;
  /** Max region cosine. */
  sMax: number;
  /** NAAF judged it mismatched (neg term active). */
  mismatched: boolean;
}

export interface RetrievedImage {
  imageIndex: number;
  score: number;
  correct: boolean;
  /** From drawScene, inserted as-is (trusted markup; give each a distinct idPrefix). */
  svg: string;
}

export interface QueryPanel {
  kind: 'caption' | 'foil';
  caption: string;
  /** Foils: [the true caption's word, the word that replaced it]. */
  swapped?: [string, string];
  words: WordTerm[];
  top5: RetrievedImage[];
}

export interface ReportData {
  title: string;
  generatedAt: string;
  device: string;
  datasetSummary: string;
  notes: string[];
  results: MethodResult[];
  curves: { method: string; points: EpochPoint[] }[];
  /** Raw per-word max similarities of matched and mismatched pairs, and the learned boundaries. */
  distributions: { matched: number[]; mismatched: number[]; threshold: number; thresSafe: number; caption: string };
  queries: QueryPanel[];
}
