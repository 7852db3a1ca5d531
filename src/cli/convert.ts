// `naaf convert in.pth.tar out.safetensors`: weights plus config and threshold as metadata.
import { encodeSafetensorsModel, loadModelWeights, writeFileAtomic } from '../model/load.js';

export const CONVERT_USAGE = 'naaf convert IN.pth.tar OUT.safetensors';

export async function runConvert(argv: string[]): Promise<void> {
  if (argv.length !== 2) throw new Error(`naaf convert: expected an input and an output path, got ${argv.length} arguments\n${CONVERT_USAGE}`);
  const [input, output] = argv;
  const model = await loadModelWeights(input);
  await writeFileAtomic(output, encodeSafetensorsModel(model));
  const c = model.config;
  console.log(`wrote ${output}: imgDim ${c.imgDim}, embedSize ${c.embedSize}, wordDim ${c.wordDim}, vocabSize ${c.vocabSize}, ` +
    `text encoder ${c.textEncoder}, threshold ${c.threshold}`);
}
