// What `npm start` writes to report/live/ for the live search page, described by live.json, and
// read back by the page (src/live/app.ts) and by tests.
import type { Scene } from '../scenes/attributes.js';
import type { Foil } from '../scenes/foils.js';

export const LIVE_FORMAT = 'naaf-live';
export const LIVE_VERSION = 1;

export type LiveMethod = 'naaf' | 'scan-t2i';

export interface LiveManifest {
  format: typeof LIVE_FORMAT;
  version: typeof LIVE_VERSION;
  title: string;
  /** Each model's checkpoint (a file in the folder) and its size in bytes. */
  models: { method: LiveMethod; label: string; file: string; bytes: number }[];
  /** The test split: region features [count, regions, imgDim], captions (5 per image), vocabulary, scenes. */
  images: { file: string; count: number };
  captions: string;
  vocab: string;
  scenes: string;
}

/** live/scenes.json: the test split's scenes (to draw them) and its foils. */
export interface LiveScenes {
  test: Scene[];
  foils: Foil[];
}

/** The files of a live folder besides the models and the data named in live.json. */
export const LIVE_PAGE_FILES = ['index.html', 'app.js', 'naaf-webgpu.js', 'live.json'] as const;
