// The scenes dataset: CLEVR-like generated scenes in the SCAN precomp layout, with captions
// and a foil set of one-word mismatches (what NAAF's negative branch is for).
export { COLORS, SHAPES, SIZES, MATERIALS, COLOR_HEX, CATEGORIES, VALUES, categoryOf, absentValues } from './attributes.js';
export type { Color, Shape, Size, Material, SceneObject, Scene, Category } from './attributes.js';
export { RELATIONS, SCENES_WORDS, scenesVocabularyJSON, relationOf, describeScene, nounPhrase } from './captions.js';
export type { Relation } from './captions.js';
export { LATENT, createFeatureSpace, writeRegionFeatures } from './features.js';
export type { FeatureSpace } from './features.js';
export { makeFoils, foilAccuracy, foilAccuracyOf } from './foils.js';
export type { Foil } from './foils.js';
export { SPLITS, SCENES_DEFAULTS, defaultEvalImages, resolveScenesConfig, sampleScene, generateScenes } from './generate.js';
export type { SplitName, ScenesOptions, ScenesConfig, ScenesSplit, ScenesDataset } from './generate.js';
export { drawScene } from './svg.js';
export type { DrawOptions } from './svg.js';
export { SCENES_FORMAT, SCENES_VERSION, SCENES_FILES, scenesFile, writeScenes, readScenes } from './write.js';
export type { ScenesFile } from './write.js';
export { Rng, deriveSeed } from './random.js';
