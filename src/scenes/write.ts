// Writing a generated dataset in the SCAN precomp layout, plus scenes.json (the object lists,
// to draw scenes later, and the foils). The file system comes from src/platform, only when
// writing or reading, so bundles of the generator still load where there is none.
import { COLOR_HEX, MATERIALS, SHAPES, SIZES, type Scene } from './attributes.js';
import type { Foil } from './foils.js';
import { SPLITS, type ScenesConfig, type ScenesDataset, type SplitName } from './generate.js';
import { encodeNpy } from '../io/npy.js';
import { platform } from '../platform/index.js';

const fs = () => platform.fs('scenes');

export const SCENES_FORMAT = 'naaf-scenes';
export const SCENES_VERSION = 1;

/** The contents of scenes.json. */
export interface ScenesFile {
  format: typeof SCENES_FORMAT;
  version: typeof SCENES_VERSION;
  config: ScenesConfig;
  attributes: { colors: Record<string, string>; shapes: string[]; sizes: string[]; materials: string[] };
  /** Per split, image n's scene (objects and region -> object map) at index n. */
  splits: Record<SplitName, Scene[]>;
  /** The test foils (captionIndex / imageIndex refer to test_caps.txt / test_ims.npy). */
  foils: Foil[];
}

export function scenesFile(dataset: ScenesDataset): ScenesFile {
  return {
    format: SCENES_FORMAT,
    version: SCENES_VERSION,
    config: dataset.config,
    attributes: { colors: { ...COLOR_HEX }, shapes: [...SHAPES], sizes: [...SIZES], materials: [...MATERIALS] },
    splits: Object.fromEntries(SPLITS.map((s) => [s, dataset.splits[s].scenes])) as Record<SplitName, Scene[]>,
    foils: dataset.foils,
  };
}

/** The files writeScenes writes, relative to its directory. */
export const SCENES_FILES: readonly string[] = [
  ...SPLITS.flatMap((s) => [`${s}_ims.npy`, `${s}_caps.txt`]),
  'scenes_vocab.json',
  'scenes.json',
];

/**
 * Writes {train,dev,test}_ims.npy and _caps.txt, scenes_vocab.json (SCAN flavour) and
 * scenes.json into `dir` (created if missing; existing files of those names are replaced).
 * Returns the paths written.
 */
export async function writeScenes(dir: string, dataset: ScenesDataset): Promise<string[]> {
  if (typeof dir !== 'string' || dir === '') throw new Error(`writeScenes: dir: expected a directory path, got ${JSON.stringify(dir)}`);
  const { mkdir, writeFile } = await fs();
  await mkdir(dir, { recursive: true });
  const { regions, imgDim } = dataset.config;
  const written: string[] = [];
  const put = async (name: string, data: string | Uint8Array) => {
    const path = `${dir}/${name}`;
    await writeFile(path, data);
    written.push(path);
  };
  for (const split of SPLITS) {
    const { scenes, features, captions } = dataset.splits[split];
    await put(`${split}_ims.npy`, encodeNpy(features, [scenes.length, regions, imgDim]));
    await put(`${split}_caps.txt`, `${captions.join('\n')}\n`);
  }
  await put('scenes_vocab.json', JSON.stringify(dataset.vocabulary));
  await put('scenes.json', JSON.stringify(scenesFile(dataset)));
  return written;
}

/** Reads scenes.json from `dir` (or a path ending in .json), checking its format and version. */
export async function readScenes(path: string): Promise<ScenesFile> {
  const { readFile } = await fs();
  const file = path.endsWith('.json') ? path : `${path}/scenes.json`;
  const data = JSON.parse(await readFile(file, 'utf8')) as Partial<ScenesFile>;
  if (data?.format !== SCENES_FORMAT || data.version !== SCENES_VERSION) {
    throw new Error(`readScenes: ${file}: expected format "${SCENES_FORMAT}" version ${SCENES_VERSION}, got format ${JSON.stringify(data?.format)} version ${JSON.stringify(data?.version)}`);
  }
  return data as ScenesFile;
}
