// A model: its configuration, its parameters under their state-dict names, the checkpoint's
// threshold state, and its encoders on the engine's backend (src/model/encoders.ts: WebGPU's
// src/model/gpuEncoders.ts, the CPU's src/wasm/encoders.ts). Inputs are checked here, once, for
// every backend: regions -> l2norm(fc(x)); token ids -> embedding -> bi-GRU ->
// (forward + backward) / 2 -> l2norm.
import type { CaptionInput, ImageInput } from '../types.js';
import type { Embeddings, GpuEmbeddings, ModelEncoders, ModelParameter, ScoringInput } from './encoders.js';
import type { ModelConfig, StateDict, ThresholdState } from './weights.js';

export type { Embeddings, GpuEmbeddings, ModelParameter, ScoringInput } from './encoders.js';

export interface RegionFeatures {
  data: Float32Array; // [N, R, imgDim]
  shape: readonly [number, number, number];
}

export interface TokenIds {
  ids: Int32Array | Uint32Array | readonly number[]; // [M, L], padded
  shape: readonly [number, number];
  lengths: Int32Array | Uint32Array | readonly number[]; // [M], counting <start> and <end>
}

/** Largest fc output norm the image encoder's l2norm squares without overflowing float32 (sqrt(3.4e38) = 1.8e19, with margin). */
const FC_OUTPUT_LIMIT = 1e18;

export class NaafModel {
  private destroyed = false;

  constructor(
    private readonly encoders: ModelEncoders,
    readonly config: ModelConfig,
    readonly state: StateDict,
    /** The checkpoint's mismatch-threshold state (thres, thres_safe, means, stds), if any. */
    readonly thresholdState: ThresholdState | null,
    /** epoch, eiters, bestRsum where the checkpoint has them. */
    readonly info: Record<string, number>,
  ) {}

  /** The backend the model's encoders run on. */
  get backend(): 'webgpu' | 'wasm' {
    return this.encoders.backend;
  }

  private fcBoundCache: { rowAbsSum: number; bias: number; weights: Float32Array } | null = null;

  /** max_e sum_d |W_ed| and max |b| of the image FC (recomputed when the weights are replaced by syncState). */
  private fcBound(): { rowAbsSum: number; bias: number } {
    const weights = this.state['img_enc.fc.weight'].data;
    if (this.fcBoundCache?.weights !== weights) {
      const { embedSize: E, imgDim: D } = this.config;
      let rowAbsSum = 0;
      for (let e = 0; e < E; e++) {
        let sum = 0;
        for (let d = 0; d < D; d++) sum += Math.abs(weights[e * D + d]);
        rowAbsSum = Math.max(rowAbsSum, sum);
      }
      let bias = 0;
      for (const b of this.state['img_enc.fc.bias'].data) bias = Math.max(bias, Math.abs(b));
      this.fcBoundCache = { rowAbsSum, bias, weights };
    }
    return this.fcBoundCache;
  }

  private gpu<K extends 'encodeImagesToGpu' | 'encodeCaptionsToGpu' | 'parameters' | 'syncState'>(what: string, key: K): NonNullable<ModelEncoders[K]> {
    const method = this.encoders[key];
    if (!method) throw new Error(`${what}: needs the WebGPU backend (GPU buffers); this model runs on '${this.encoders.backend}' (create the engine with NaafEngine.create({ backend: 'webgpu' }))`);
    return method.bind(this.encoders) as NonNullable<ModelEncoders[K]>;
  }

  /** The parameter buffers, for the trainer (which updates them in place): WebGPU only. */
  parameters(): ModelParameter[] {
    return this.gpu('parameters', 'parameters')();
  }

  /** Reads the current weights back from the GPU into `state` (after training steps): WebGPU only. */
  async syncState(): Promise<StateDict> {
    this.check('syncState');
    return this.gpu('syncState', 'syncState')();
  }

  private check(what: string): void {
    if (this.destroyed) throw new Error(`${what}: the model was destroyed`);
  }

  /** Region embeddings [N, R, embedSize]. */
  async encodeImages(input: RegionFeatures): Promise<Embeddings> {
    const { data, N, R } = this.checkFeatures(input, 'encodeImages');
    return finite(await this.encoders.encodeImages(data, N, R), 'encodeImages');
  }

  /** Caption embeddings [M, L, embedSize] (zero at padded positions), with their lengths. */
  async encodeCaptions(input: TokenIds): Promise<Embeddings & { lengths: Int32Array }> {
    const what = 'encodeCaptions';
    this.check(what);
    const { M, L, ids, lengths } = this.checkTokens(input, what);
    return { ...finite(await this.encoders.encodeCaptions(ids, M, L, lengths), what), lengths };
  }

  /** Like encodeImages, but the result stays on the GPU (usable as similarity() images): WebGPU only. */
  async encodeImagesToGpu(input: RegionFeatures): Promise<GpuEmbeddings> {
    const { data, N, R } = this.checkFeatures(input, 'encodeImages');
    return this.gpu('encodeImagesToGpu', 'encodeImagesToGpu')(data, N, R);
  }

  /** Like encodeCaptions, but the result stays on the GPU (usable as similarity() captions): WebGPU only. */
  async encodeCaptionsToGpu(input: TokenIds): Promise<GpuEmbeddings & { lengths: Int32Array }> {
    const what = 'encodeCaptions';
    this.check(what);
    const { M, L, ids, lengths } = this.checkTokens(input, what);
    return { ...(await this.gpu('encodeCaptionsToGpu', 'encodeCaptionsToGpu')(ids, M, L, lengths)), lengths };
  }

  /** Region embeddings in the form this backend scores without a copy (a GPU buffer, or an array); release() frees them. */
  async imagesForScoring(input: RegionFeatures): Promise<ScoringInput<ImageInput>> {
    const { data, N, R } = this.checkFeatures(input, 'encodeImages');
    return this.encoders.imagesForScoring(data, N, R);
  }

  /** Caption embeddings in the form this backend scores without a copy; release() frees them. */
  async captionsForScoring(input: TokenIds): Promise<ScoringInput<CaptionInput>> {
    const what = 'encodeCaptions';
    this.check(what);
    const { M, L, ids, lengths } = this.checkTokens(input, what);
    return this.encoders.captionsForScoring(ids, M, L, lengths);
  }

  /** Checks region features against the model (shape, finite values, and that fc(x) cannot overflow). */
  private checkFeatures(input: RegionFeatures, what: string): { data: Float32Array; N: number; R: number } {
    this.check(what);
    const { imgDim, embedSize: E } = this.config;
    const shape = input?.shape;
    if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((s) => Number.isInteger(s) && s >= 1)) {
      throw new Error(`${what}: input.shape must be [N, R, imgDim] with sizes >= 1, got ${JSON.stringify(shape)}`);
    }
    const [N, R, D] = shape;
    if (D !== imgDim) throw new Error(`${what}: input.shape[2] must be the model's imgDim ${imgDim}, got ${D}`);
    if (!(input.data instanceof Float32Array) || input.data.length !== N * R * D) {
      throw new Error(`${what}: input.data must be a Float32Array of N*R*imgDim = ${N * R * D} values, got ${input.data?.length}`);
    }
    let largest = 0;
    for (let i = 0; i < input.data.length; i++) {
      const x = input.data[i];
      if (!Number.isFinite(x)) throw new Error(`${what}: input.data must be finite, got ${x} at flat index ${i}`);
      if (Math.abs(x) > largest) largest = Math.abs(x);
    }
    // |fc(x)| <= max|x| * max_e sum_d |W_ed| + max|b|; the l2norm squares it, so past ~1e18 it
    // could overflow to Inf and come back as NaN or zeros. Refuse such inputs up front.
    const fc = this.fcBound();
    const bound = largest * fc.rowAbsSum + fc.bias;
    if (!(bound <= FC_OUTPUT_LIMIT / Math.sqrt(E))) {
      throw new Error(`${what}: input.data holds values up to ${largest.toExponential(2)}; with this model's weights the region embeddings could overflow float32 `
        + `(fc outputs up to ${bound.toExponential(2)}, the l2norm squares them); scale the features down`);
    }
    return { data: input.data, N, R };
  }

  /**
   * Checks token ids against the model's vocabulary and each length against L; returns ids with
   * padded positions zeroed (never read by the GRU). `name` is the argument in error messages.
   */
  checkTokens(input: TokenIds, what: string, name = 'input'): { M: number; L: number; ids: Uint32Array; lengths: Int32Array } {
    const shape = input?.shape;
    if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((s) => Number.isInteger(s) && s >= 1)) {
      throw new Error(`${what}: ${name}.shape must be [M, L] with sizes >= 1, got ${JSON.stringify(shape)}`);
    }
    const [M, L] = shape;
    const rawIds = input.ids as ArrayLike<number>;
    const rawLengths = input.lengths as ArrayLike<number>;
    if (!rawIds || rawIds.length !== M * L) throw new Error(`${what}: ${name}.ids must hold M*L = ${M * L} ids, got ${rawIds?.length}`);
    if (!rawLengths || rawLengths.length !== M) throw new Error(`${what}: ${name}.lengths must hold M = ${M} lengths, got ${rawLengths?.length}`);
    const ids = new Uint32Array(M * L);
    const lengths = new Int32Array(M);
    const vocab = this.config.vocabSize;
    for (let m = 0; m < M; m++) {
      const len = rawLengths[m];
      if (!Number.isInteger(len) || len < 1 || len > L) throw new Error(`${what}: ${name}.lengths[${m}] must be an integer in [1, L = ${L}], got ${len}`);
      lengths[m] = len;
      for (let w = 0; w < len; w++) {
        const id = rawIds[m * L + w];
        if (!Number.isInteger(id) || id < 0 || id >= vocab) {
          throw new Error(`${what}: token id at [${m}, ${w}] must be an integer in [0, vocabSize = ${vocab}), got ${id}`);
        }
        ids[m * L + w] = id;
      }
    }
    return { M, L, ids, lengths };
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.encoders.destroy();
  }
}

/** Refuses an encoder output holding Inf or NaN (float32 overflowed): nothing is returned. */
function finite(embeddings: Embeddings, what: string): Embeddings {
  const { data, shape: [, rows, E] } = embeddings;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new Error(`${what}: the embedding of item ${Math.floor(i / (rows * E))}, row ${Math.floor(i / E) % rows} holds ${data[i]}: `
        + 'float32 overflowed inside the encoder (weights or inputs too large); nothing was returned');
    }
  }
  return embeddings;
}
