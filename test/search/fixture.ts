// The search tests' gallery: a scenes test split of `images` images (5 regions x 16 features) and
// two checkpoints of one small NAAF model (seeds 1 and 2), written under `root`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Vocabulary, initialState } from '../../src/index.js';
import { encodeSafetensorsModel } from '../../src/model/load.js';
import type { ModelConfig } from '../../src/model/weights.js';
import { generateScenes } from '../../src/scenes/generate.js';
import { writeScenes } from '../../src/scenes/write.js';

export interface Gallery { data: string; checkpoint: string; other: string; config: ModelConfig }

export async function writeGallery(root: string, images: number): Promise<Gallery> {
  const data = join(root, 'scenes');
  await writeScenes(data, generateScenes({ splits: { train: 10, dev: 10, test: images }, regions: 5, imgDim: 16, seed: 3 }));
  const vocab = Vocabulary.fromJSON(readFileSync(join(data, 'scenes_vocab.json'), 'utf8'));
  const config: ModelConfig = { imgDim: 16, embedSize: 16, wordDim: 8, vocabSize: vocab.size, textEncoder: 'basic', threshold: 0.1, lambdaSoftmax: 20 };
  const save = (path: string, seed: number) => writeFileSync(path, encodeSafetensorsModel({ state: initialState(config, seed), config, thresholdState: null, info: {} }));
  const checkpoint = join(root, 'naaf.safetensors');
  const other = join(root, 'other.safetensors');
  save(checkpoint, 1);
  save(other, 2);
  return { data, checkpoint, other, config };
}
