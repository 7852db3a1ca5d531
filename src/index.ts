export { NaafEngine } from './engine.js';
export type { EngineOptions } from './engine.js';
export type { DeviceDescription, EngineStats } from './gpu/context.js';
export type { CaptionInput, ImageInput, NaafOptions, OutputTarget, ScanI2tOptions, ScanT2iOptions, SimilarityOptions } from './types.js';
export { naafSimilarityRef, naafWordTermsRef } from './ref/naaf.js';
export { scanSimilarityRef, scanQueryScoresRef } from './ref/scan.js';
