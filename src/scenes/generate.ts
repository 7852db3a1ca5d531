// generateScenes: the whole dataset (train/dev/test scenes, region features, captions, test
// foils) as a pure function of the options. Runtime-neutral: no I/O here (see write.ts).
import type { Scene, SceneObject } from './attributes.js';
import { COLORS, MATERIALS, SHAPES, SIZES } from './attributes.js';
import { describeScene, scenesVocabularyJSON } from './captions.js';
import { createFeatureSpace, writeRegionFeatures } from './features.js';
import { makeFoils, type Foil } from './foils.js';
import { deriveSeed, Rng } from './random.js';

export type SplitName = 'train' | 'dev' | 'test';
export const SPLITS: readonly SplitName[] = ['train', 'dev', 'test'];

export interface ScenesOptions {
  /** Train images (default 1000); dev and test default to defaultEvalImages(images) each. */
  images?: number;
  /** Per-split image counts; each given one overrides the default above (train overrides `images`). */
  splits?: Partial<Record<SplitName, number>>;
  /** Regions per image (default 36, as in the precomp files; at least 5, 10 or more recommended). */
  regions?: number;
  /** Features per region (default 64). */
  imgDim?: number;
  /** Any safe integer (default 0). */
  seed?: number;
  /** Standard deviation of the per-view latent noise (default 0.6; the attribute embeddings have 1). */
  noise?: number;
}

export interface ScenesConfig {
  seed: number;
  regions: number;
  imgDim: number;
  noise: number;
  images: Record<SplitName, number>;
}

export interface ScenesSplit {
  scenes: Scene[];
  /** [images, regions, imgDim], C order, non-negative: what {split}_ims.npy holds. */
  features: Float32Array;
  /** 5 per image, image k's at lines 5k..5k+4: what {split}_caps.txt holds. */
  captions: string[];
}

export interface ScenesDataset {
  config: ScenesConfig;
  splits: Record<SplitName, ScenesSplit>;
  /** One per test caption, in caption order. */
  foils: Foil[];
  vocabulary: ReturnType<typeof scenesVocabularyJSON>;
}

export const SCENES_DEFAULTS = { images: 1000, regions: 36, imgDim: 64, seed: 0, noise: 0.6 } as const;
const MAX_OBJECTS = 5;
const MIN_DISTANCE = 0.16; // keeps objects apart enough to draw and to relate

/** Dev/test images for `train` train images: a tenth, at least 100, never more than train. */
export function defaultEvalImages(train: number): number {
  return Math.min(train, Math.max(100, Math.ceil(train / 10)));
}

function integer(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`generateScenes: ${name}: expected an integer >= ${min}, got ${value}`);
  return value;
}

export function resolveScenesConfig(options: ScenesOptions = {}): ScenesConfig {
  const train = integer('images', options.splits?.train ?? options.images ?? SCENES_DEFAULTS.images, 1);
  const images = {} as Record<SplitName, number>;
  for (const split of SPLITS) images[split] = integer(`splits.${split}`, options.splits?.[split] ?? (split === 'train' ? train : defaultEvalImages(train)), 1);
  const regions = integer('regions', options.regions ?? SCENES_DEFAULTS.regions, MAX_OBJECTS);
  const imgDim = integer('imgDim', options.imgDim ?? SCENES_DEFAULTS.imgDim, 1);
  const seed = options.seed ?? SCENES_DEFAULTS.seed;
  if (!Number.isSafeInteger(seed)) throw new Error(`generateScenes: seed: expected a safe integer, got ${seed}`);
  const noise = options.noise ?? SCENES_DEFAULTS.noise;
  if (!Number.isFinite(noise) || noise < 0) throw new Error(`generateScenes: noise: expected a finite number >= 0, got ${noise}`);
  return { seed, regions, imgDim, noise, images };
}

const round3 = (v: number) => Math.round(v * 1000) / 1000; // what scenes.json stores, used throughout

/** 2-5 objects, spread out; each seen by 2-4 regions where R allows, the rest background, in shuffled order. */
export function sampleScene(rng: Rng, regions: number): Scene {
  const count = rng.int(2, MAX_OBJECTS);
  const objects: SceneObject[] = [];
  while (objects.length < count) {
    let x = 0;
    let y = 0;
    for (let attempt = 0; attempt < 100; attempt++) {
      x = round3(rng.uniform(0.1, 0.9));
      y = round3(rng.uniform(0.15, 0.85));
      if (objects.every((o) => Math.hypot(o.x - x, o.y - y) >= MIN_DISTANCE)) break;
    }
    objects.push({ color: rng.pick(COLORS), shape: rng.pick(SHAPES), size: rng.pick(SIZES), material: rng.pick(MATERIALS), x, y });
  }
  const views = objects.map(() => rng.int(2, 4));
  let total = views.reduce((a, b) => a + b, 0);
  while (total > regions) {
    // Take a view from an object that has the most (never below one).
    const most = views.indexOf(Math.max(...views));
    views[most]!--;
    total--;
  }
  const assignment = views.flatMap((v, i) => Array<number>(v).fill(i));
  while (assignment.length < regions) assignment.push(-1);
  return { objects, regions: rng.shuffle(assignment) };
}

// Independent streams, so e.g. more train images leave the embeddings and the test split unchanged.
const STREAM = { world: 1, scenes: 10, features: 20, captions: 30, foils: 40 } as const;

export function generateScenes(options: ScenesOptions = {}): ScenesDataset {
  const config = resolveScenesConfig(options);
  const stream = (base: number, offset = 0) => new Rng(deriveSeed(config.seed, base + offset));
  const space = createFeatureSpace(stream(STREAM.world), config.imgDim);
  const splits = {} as Record<SplitName, ScenesSplit>;
  SPLITS.forEach((name, s) => {
    const count = config.images[name];
    const sceneRng = stream(STREAM.scenes, s);
    const featureRng = stream(STREAM.features, s);
    const captionRng = stream(STREAM.captions, s);
    const scenes: Scene[] = [];
    const captions: string[] = [];
    const rowSize = config.regions * config.imgDim;
    const features = new Float32Array(count * rowSize);
    for (let n = 0; n < count; n++) {
      const scene = sampleScene(sceneRng, config.regions);
      writeRegionFeatures(scene, space, featureRng, config.noise, features, n * rowSize);
      captions.push(...describeScene(scene, captionRng));
      scenes.push(scene);
    }
    splits[name] = { scenes, features, captions };
  });
  const foils = makeFoils(splits.test.scenes, splits.test.captions, stream(STREAM.foils));
  return { config, splits, foils, vocabulary: scenesVocabularyJSON() };
}
