// The model's parameters under their state-dict names (with `img_enc.` / `txt_enc.` prefixes),
// the configuration read from a checkpoint, and shape checks.

import type { Tensor } from '../io/tensor.js';

export type { Tensor };

export type StateDict = Record<string, Tensor>;

export interface ModelConfig {
  imgDim: number;
  embedSize: number;
  wordDim: number;
  vocabSize: number;
  textEncoder: 'basic' | 'glove';
  /** The checkpoint's thres_safe (NAAF's inference threshold), or null if it has none. */
  threshold: number | null;
  lambdaSoftmax: number;
}

/** The learned mismatch-threshold state carried in a checkpoint's opt (spec 3.3). */
export interface ThresholdState {
  thres: number; thresSafe: number; meanPos: number; stdPos: number; meanNeg: number; stdNeg: number;
}

export const GRU_KEYS = ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0'] as const;

export function embedKey(textEncoder: ModelConfig['textEncoder']): string {
  return textEncoder === 'glove' ? 'txt_enc.embed.glove.weight' : 'txt_enc.embed.weight';
}

/** The shape every parameter must have under `config`. */
export function expectedShapes(config: ModelConfig): Record<string, number[]> {
  const { imgDim, embedSize: E, wordDim, vocabSize } = config;
  const shapes: Record<string, number[]> = {
    'img_enc.fc.weight': [E, imgDim],
    'img_enc.fc.bias': [E],
    [embedKey(config.textEncoder)]: [vocabSize, wordDim],
  };
  for (const suffix of ['', '_reverse']) {
    shapes[`txt_enc.rnn.weight_ih_l0${suffix}`] = [3 * E, wordDim];
    shapes[`txt_enc.rnn.weight_hh_l0${suffix}`] = [3 * E, E];
    shapes[`txt_enc.rnn.bias_ih_l0${suffix}`] = [3 * E];
    shapes[`txt_enc.rnn.bias_hh_l0${suffix}`] = [3 * E];
  }
  return shapes;
}

const describe = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v) : String(v));

/** The fields of a config read from a file or given by a caller: types and ranges, before any tensor is looked at. */
export function checkConfigFields(partial: Partial<ModelConfig>, what: string): void {
  if (typeof partial !== 'object' || partial === null || Array.isArray(partial)) throw new Error(`${what}: the model config must be an object, got ${describe(partial)}`);
  for (const key of ['imgDim', 'embedSize', 'wordDim', 'vocabSize'] as const) {
    const v = partial[key];
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1)) throw new Error(`${what}: config.${key} must be an integer >= 1, got ${describe(v)}`);
  }
  if (partial.vocabSize !== undefined && partial.vocabSize < 4) throw new Error(`${what}: config.vocabSize must be >= 4 (<pad>, <start>, <end>, <unk>), got ${partial.vocabSize}`);
  if (partial.textEncoder !== undefined && partial.textEncoder !== 'basic' && partial.textEncoder !== 'glove') {
    throw new Error(`${what}: config.textEncoder must be 'basic' or 'glove', got ${describe(partial.textEncoder)}`);
  }
  if (partial.lambdaSoftmax !== undefined && !(typeof partial.lambdaSoftmax === 'number' && Number.isFinite(partial.lambdaSoftmax) && partial.lambdaSoftmax > 0)) {
    throw new Error(`${what}: config.lambdaSoftmax must be a finite number > 0, got ${describe(partial.lambdaSoftmax)}`);
  }
  if (partial.threshold !== undefined && partial.threshold !== null && !(typeof partial.threshold === 'number' && Number.isFinite(partial.threshold))) {
    throw new Error(`${what}: config.threshold must be a finite number or null, got ${describe(partial.threshold)}`);
  }
}

/** Limits a model's buffers must fit: WebGPU's maxBufferSize and maxStorageBufferBindingSize. */
export interface BufferLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

/**
 * Refuses a configuration whose parameters (each bound whole by the encoders and the trainer)
 * exceed the device's limits, before any weight is made: `--embed-size 8192` needs 1.6 GB for
 * the GRU's hidden weights, past a 128 MiB binding.
 */
export function checkConfigFitsDevice(config: ModelConfig, limits: BufferLimits, what: string): void {
  const { imgDim, embedSize: E, wordDim, vocabSize } = config;
  const maxBinding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const buffers: [string, number][] = [
    ['img_enc.fc.weight [embedSize, imgDim]', E * imgDim * 4],
    [`${embedKey(config.textEncoder)} [vocabSize, wordDim]`, vocabSize * wordDim * 4],
    ['txt_enc.rnn.weight_ih_l0 (both directions) [2, 3 x embedSize, wordDim]', 2 * 3 * E * wordDim * 4],
    ['txt_enc.rnn.weight_hh_l0 (both directions) [2, 3 x embedSize, embedSize]', 2 * 3 * E * E * 4],
    ['one caption word of GRU gates [2, 3 x embedSize]', 2 * 3 * E * 4],
  ];
  for (const [name, bytes] of buffers) {
    if (bytes > maxBinding) {
      throw new Error(`${what}: the model does not fit this device: ${name} needs ${bytes} bytes, more than its largest storage binding `
        + `(${maxBinding} bytes) (imgDim ${imgDim}, embedSize ${E}, wordDim ${wordDim}, vocabSize ${vocabSize}); choose smaller sizes`);
    }
  }
}

/** fc.weight = g * v / ||v|| for the weight_norm image encoder (dim=None: g is a scalar, the norm is over all of v). */
function foldWeightNorm(state: StateDict, what: string): void {
  const g = state['img_enc.fc.weight_g'];
  const v = state['img_enc.fc.weight_v'];
  if (!g && !v) return;
  if (!g || !v) throw new Error(`${what}: weight_norm image encoder needs both img_enc.fc.weight_g and img_enc.fc.weight_v`);
  if (g.data.length !== 1) throw new Error(`${what}: img_enc.fc.weight_g must be a scalar (weight_norm with dim=None), got shape [${g.shape.join(', ')}]`);
  let sq = 0;
  for (const x of v.data) sq += x * x;
  const scale = g.data[0] / Math.sqrt(sq);
  state['img_enc.fc.weight'] = { shape: v.shape, data: v.data.map((x) => x * scale) };
  delete state['img_enc.fc.weight_g'];
  delete state['img_enc.fc.weight_v'];
}

/**
 * Completes and checks a config against the tensors: sizes missing from `partial` are read from
 * the shapes; a size that disagrees with a shape, or any parameter of the wrong shape, throws.
 */
export function checkStateDict(state: StateDict, partial: Partial<ModelConfig>, what: string): ModelConfig {
  checkConfigFields(partial, what);
  foldWeightNorm(state, what);
  const textEncoder = partial.textEncoder ?? ('txt_enc.embed.glove.weight' in state ? 'glove' : 'basic');
  const fc = state['img_enc.fc.weight'];
  const embed = state[embedKey(textEncoder)];
  if (!fc) throw new Error(`${what}: missing img_enc.fc.weight (keys: ${Object.keys(state).join(', ')})`);
  if (!embed) throw new Error(`${what}: missing ${embedKey(textEncoder)} (keys: ${Object.keys(state).join(', ')})`);
  const config: ModelConfig = {
    imgDim: partial.imgDim ?? fc.shape[1],
    embedSize: partial.embedSize ?? fc.shape[0],
    wordDim: partial.wordDim ?? embed.shape[1],
    vocabSize: partial.vocabSize ?? embed.shape[0],
    textEncoder,
    threshold: partial.threshold ?? null,
    lambdaSoftmax: partial.lambdaSoftmax ?? 20,
  };
  for (const [key, shape] of Object.entries(expectedShapes(config))) {
    const tensor = state[key];
    if (!tensor) throw new Error(`${what}: missing ${key}, expected shape [${shape.join(', ')}]`);
    if (tensor.shape.length !== shape.length || tensor.shape.some((s, i) => s !== shape[i])) {
      throw new Error(`${what}: ${key} has shape [${tensor.shape.join(', ')}], expected [${shape.join(', ')}] ` +
        `(imgDim ${config.imgDim}, embedSize ${config.embedSize}, wordDim ${config.wordDim}, vocabSize ${config.vocabSize})`);
    }
    if (tensor.data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`${what}: ${key} holds ${tensor.data.length} values for shape [${shape.join(', ')}]`);
    for (let i = 0; i < tensor.data.length; i++) {
      if (!Number.isFinite(tensor.data[i])) throw new Error(`${what}: ${key} holds a non-finite value ${tensor.data[i]} at flat index ${i}`);
    }
  }
  if (config.threshold !== null && !Number.isFinite(config.threshold)) throw new Error(`${what}: threshold must be finite, got ${config.threshold}`);
  return config;
}
