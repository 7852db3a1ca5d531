// Reads model weights from an original `.pth.tar` checkpoint (torch zip + safe unpickler) or a
// `.safetensors` file, into state-dict names with `img_enc.` / `txt_enc.` prefixes, the model
// configuration (sizes, threshold) and the checkpoint's mismatch-threshold state.
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { ByteSource, ReadSourceOptions, readSource } from '../io/source.js';
import { loadTorchCheckpoint } from '../io/torch.js';
import { ModelConfig, StateDict, Tensor, ThresholdState, checkStateDict } from './weights.js';
import { platform } from '../platform/index.js';

export interface LoadedModel {
  state: StateDict;
  config: ModelConfig;
  thresholdState: ThresholdState | null;
  /** epoch, Eiters, best_rsum where the file has them. */
  info: Record<string, number>;
  /** A training checkpoint's extra tensors (optimizer moments) and trainer metadata. */
  training?: { tensors: Record<string, Tensor>; metadata: unknown };
}

/** Tensor-name prefix of the optimizer state in training checkpoints. */
export const OPTIMIZER_PREFIX = 'optimizer.';

function num(opt: Record<string, unknown>, key: string): number | undefined {
  const v = opt[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function thresholdStateOf(opt: Record<string, unknown>): ThresholdState | null {
  const thres = num(opt, 'thres');
  const thresSafe = num(opt, 'thres_safe');
  if (thres === undefined || thresSafe === undefined) return null;
  return {
    thres, thresSafe,
    meanPos: num(opt, 'mean_pos') ?? 0, stdPos: num(opt, 'stnd_pos') ?? 0,
    meanNeg: num(opt, 'mean_neg') ?? 0, stdNeg: num(opt, 'stnd_neg') ?? 0,
  };
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

/**
 * A model from a path, a URL (fetched and streamed, with options.onProgress and options.signal),
 * a Response or bytes. Untrusted sources are bounded: options.maxBytes for the download, and the
 * zip reader's inflate budget and the pickle bound (src/io/zip.ts, src/io/torch.ts).
 */
export async function loadModelWeights(source: ByteSource, options: ReadSourceOptions = {}): Promise<LoadedModel> {
  const what = 'loadModel';
  const { bytes, name } = await readSource(source, what, options);
  const where = `${what}(${name})`;
  if (ZIP_MAGIC.every((b, i) => bytes[i] === b)) {
    const checkpoint = await loadTorchCheckpoint(bytes);
    const parts = checkpoint.model;
    if (!Array.isArray(parts) || parts.length !== 2) {
      throw new Error(`${where}: checkpoint['model'] must be [img_enc state_dict, txt_enc state_dict], got ${Array.isArray(parts) ? `a list of ${parts.length}` : typeof parts}`);
    }
    const state: StateDict = {};
    for (const [key, tensor] of Object.entries(parts[0])) state[`img_enc.${key}`] = tensor;
    for (const [key, tensor] of Object.entries(parts[1])) state[`txt_enc.${key}`] = tensor;
    const opt = checkpoint.opt ?? {};
    const config = checkStateDict(state, {
      imgDim: num(opt, 'img_dim'), embedSize: num(opt, 'embed_size'), wordDim: num(opt, 'word_dim'), vocabSize: num(opt, 'vocab_size'),
      threshold: num(opt, 'thres_safe') ?? null, lambdaSoftmax: num(opt, 'lambda_softmax'),
    }, where);
    const info: Record<string, number> = {};
    if (checkpoint.epoch !== undefined) info.epoch = checkpoint.epoch;
    if (checkpoint.eiters !== undefined) info.eiters = checkpoint.eiters;
    if (checkpoint.bestRsum !== undefined) info.bestRsum = checkpoint.bestRsum;
    return { state, config, thresholdState: thresholdStateOf(opt), info };
  }
  let parsed: ReturnType<typeof readSafetensors>;
  try {
    parsed = readSafetensors(bytes, where);
  } catch (error) {
    throw new Error(`${where}: neither a torch zip checkpoint (.pth.tar) nor a valid .safetensors file: ${(error as Error).message}`);
  }
  const { tensors, metadata } = parsed;
  const parseJson = (key: string) => {
    if (metadata[key] === undefined) return undefined;
    try {
      return JSON.parse(metadata[key]);
    } catch {
      throw new Error(`${where}: metadata ${key} is not JSON: ${metadata[key].slice(0, 80)}`);
    }
  };
  const state: StateDict = {};
  const optimizer: Record<string, Tensor> = {};
  for (const [key, tensor] of Object.entries(tensors)) {
    if (key.startsWith(OPTIMIZER_PREFIX)) optimizer[key] = tensor;
    else state[key] = tensor;
  }
  const config = checkStateDict(state, (parseJson('naaf.config') ?? {}) as Partial<ModelConfig>, where);
  const trainer = parseJson('naaf.trainer');
  const thresholdState = parseJson('naaf.threshold_state') ?? null;
  if (thresholdState !== null) {
    for (const key of ['thres', 'thresSafe', 'meanPos', 'stdPos', 'meanNeg', 'stdNeg']) {
      const v = (thresholdState as Record<string, unknown>)?.[key];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${where}: metadata naaf.threshold_state.${key} must be a finite number, got ${JSON.stringify(v)?.slice(0, 40)}`);
    }
  }
  const info = parseJson('naaf.info') ?? {};
  // (JSON writes -Infinity, a best rsum before any evaluation, as null.)
  if (typeof info !== 'object' || info === null || Array.isArray(info) || Object.values(info).some((v) => typeof v !== 'number' && v !== null)) {
    throw new Error(`${where}: metadata naaf.info must be an object of numbers, got ${JSON.stringify(info).slice(0, 80)}`);
  }
  for (const [key, v] of Object.entries(info)) if (v === null) delete (info as Record<string, unknown>)[key];
  return {
    state, config,
    thresholdState: thresholdState as ThresholdState | null,
    info: info as Record<string, number>,
    ...(trainer !== undefined ? { training: { tensors: optimizer, metadata: trainer } } : {}),
  };
}

/** A .safetensors file holding the weights, with the config, threshold state and info as metadata. */
export function encodeSafetensorsModel(model: LoadedModel): Uint8Array {
  return writeSafetensors({ ...model.state, ...(model.training?.tensors ?? {}) }, {
    format: 'pt',
    'naaf.config': JSON.stringify(model.config),
    'naaf.threshold_state': JSON.stringify(model.thresholdState),
    'naaf.info': JSON.stringify(model.info),
    ...(model.training ? { 'naaf.trainer': JSON.stringify(model.training.metadata) } : {}),
  });
}

/** Writes a file atomically: a temporary file beside it, then a rename. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const { open, rename, rm } = await platform.fs('writeFileAtomic');
  const temporary = `${path}.tmp-${platform.tempSuffix()}`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temporary, path);
}
