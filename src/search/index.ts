// naaf-webgpu/search: text-to-image retrieval over galleries on disk (LanceDB), a coarse
// shortlist re-ranked exactly by NAAF or SCAN on the GPU. Node only; LanceDB is an optional
// peer dependency (npm install -E @lancedb/lancedb@0.31.0 apache-arrow@18.1.0).
export { buildIndex } from './build.js';
export type { BuildIndexOptions, BuildIndexResult } from './build.js';
export { SearchIndex, DEFAULT_CANDIDATES, DEFAULT_STUDENT_CANDIDATES, defaultCandidates } from './query.js';
export type { CaptionResult, QueryOptions, QueryTimings, SearchHit } from './query.js';
export type { CoarseKind, IndexManifest } from './manifest.js';
export { fidelity, overlapAt, rankBiasedOverlap, sameTopK } from './fidelity.js';
export type { Fidelity } from './fidelity.js';
export { embedTower, initStudent, studentFromSafetensors, studentToSafetensors, vectorTopK } from './student.js';
export type { RowSets, Student, StudentTower } from './student.js';
export { containment, distillStudent, DISTILL_DEFAULTS } from './distill.js';
export type { DistillData, DistillEval, DistillOptions } from './distill.js';
