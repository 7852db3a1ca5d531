// Fresh parameters initialised as the original encoders do (spec 2), from a seeded generator:
// fc W ~ U(-r, r) with r = sqrt(6) / sqrt(imgDim + embed), b = 0; embedding ~ U(-0.1, 0.1);
// GRU weights and biases ~ U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's default).
import type { ModelConfig, StateDict } from '../model/weights.js';
import { embedKey, expectedShapes } from '../model/weights.js';
import { seededRandom } from '../random.js';

export function initialState(config: ModelConfig, seed: number): StateDict {
  const next = seededRandom(seed);
  const uniform = (shape: number[], bound: number) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (next() * 2 - 1) * bound) });
  const state: StateDict = {};
  for (const [key, shape] of Object.entries(expectedShapes(config))) {
    if (key === 'img_enc.fc.weight') state[key] = uniform(shape, Math.sqrt(6) / Math.sqrt(config.imgDim + config.embedSize));
    else if (key === 'img_enc.fc.bias') state[key] = { shape, data: new Float32Array(shape[0]) };
    else if (key === embedKey(config.textEncoder)) state[key] = uniform(shape, 0.1);
    else state[key] = uniform(shape, 1 / Math.sqrt(config.embedSize));
  }
  return state;
}
