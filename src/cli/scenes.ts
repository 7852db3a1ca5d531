// `naaf scenes`: writes the generated scenes dataset (src/scenes) in the precomp layout.
import { parseArgs } from 'node:util';
import { generateScenes } from '../scenes/generate.js';
import { writeScenes } from '../scenes/write.js';
import { integerFlag, numberFlag } from './flags.js';

export const SCENES_USAGE = `naaf scenes --out DIR [--images 1000] [--dev N] [--test N] [--regions 12] [--img-dim 64] [--seed 0] [--noise 0.6]
  Writes {train,dev,test}_ims.npy and _caps.txt, scenes_vocab.json and scenes.json (objects, test foils) to DIR.
  --images is the train split; dev and test default to a tenth of it, at least 100, at most --images.`;

// Sized for a few epochs of NAAF and SCAN on a 2-core CPU: 1000 train images (5000 captions),
// 100 dev/test, 12 regions of 64 features.
const DEFAULTS = { images: '1000', regions: '12', 'img-dim': '64', seed: '0', noise: '0.6' } as const;

export async function runScenes(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' }, images: { type: 'string', default: DEFAULTS.images }, dev: { type: 'string' }, test: { type: 'string' },
      regions: { type: 'string', default: DEFAULTS.regions }, 'img-dim': { type: 'string', default: DEFAULTS['img-dim'] },
      seed: { type: 'string', default: DEFAULTS.seed }, noise: { type: 'string', default: DEFAULTS.noise },
    },
    strict: true,
  });
  if (!values.out) throw new Error(`naaf scenes: --out is required\n${SCENES_USAGE}`);
  const started = performance.now();
  const images = integerFlag('naaf scenes', 'images', values.images, 1)!;
  const dataset = generateScenes({
    images,
    splits: { dev: integerFlag('naaf scenes', 'dev', values.dev, 1), test: integerFlag('naaf scenes', 'test', values.test, 1) },
    regions: integerFlag('naaf scenes', 'regions', values.regions, 1),
    imgDim: integerFlag('naaf scenes', 'img-dim', values['img-dim'], 1),
    seed: integerFlag('naaf scenes', 'seed', values.seed, 0),
    noise: numberFlag('naaf scenes', 'noise', values.noise),
  });
  await writeScenes(values.out, dataset);
  const { images: counts, regions, imgDim } = dataset.config;
  const ms = performance.now() - started;
  console.log(`scenes: wrote ${values.out}: train ${counts.train}, dev ${counts.dev}, test ${counts.test} images`
    + ` (${regions} regions x ${imgDim} features, 5 captions each), vocabulary ${dataset.vocabulary.idx} words,`
    + ` ${dataset.foils.length} test foils, in ${ms.toFixed(0)} ms`);
}
