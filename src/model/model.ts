// The NAAF/SCAN encoders on the GPU: regions -> l2norm(fc(x)); token ids -> embedding ->
// bi-GRU -> (forward + backward) / 2 -> l2norm. Inputs are encoded in batches that fit the
// device's bindings; each result lands in one GPU buffer and is read back once.
import type { GpuContext } from '../gpu/context.js';
import { encodeBiGru } from '../ops/gru.js';
import { encodeMatmul } from '../ops/matmul.js';
import { encodeEmbedding, encodeL2normRows } from '../ops/rows.js';
import { ModelConfig, StateDict, ThresholdState, checkConfigFitsDevice, embedKey } from './weights.js';
import { maxOf } from '../arrays.js';

export interface RegionFeatures {
  data: Float32Array; // [N, R, imgDim]
  shape: readonly [number, number, number];
}

export interface TokenIds {
  ids: Int32Array | Uint32Array | readonly number[]; // [M, L], padded
  shape: readonly [number, number];
  lengths: Int32Array | Uint32Array | readonly number[]; // [M], counting <start> and <end>
}

export interface Embeddings {
  data: Float32Array;
  shape: [number, number, number];
}

export interface GpuEmbeddings {
  /** Owned by the caller: destroy() it when done. */
  buffer: GPUBuffer;
  shape: [number, number, number];
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** One GPU parameter buffer; the GRU's hold both directions: [forward, reverse] state-dict names. */
export interface ModelParameter {
  names: string[];
  buffer: GPUBuffer;
  shape: number[]; // with a leading 2 for the GRU's two directions
  size: number;
}

/** Largest fc output norm the image encoder's l2norm squares without overflowing float32 (sqrt(3.4e38) = 1.8e19, with margin). */
const FC_OUTPUT_LIMIT = 1e18;

export class NaafModel {
  private readonly buffers: Record<string, GPUBuffer> = {};
  private destroyed = false;

  constructor(
    private readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly state: StateDict,
    /** The checkpoint's mismatch-threshold state (thres, thres_safe, means, stds), if any. */
    readonly thresholdState: ThresholdState | null,
    /** epoch, eiters, bestRsum where the checkpoint has them. */
    readonly info: Record<string, number>,
  ) {
    checkConfigFitsDevice(config, ctx.limits, 'model');
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const upload = (name: string, data: Float32Array) => {
      const buffer = ctx.device.createBuffer({ size: Math.max(16, data.byteLength), usage, label: name });
      ctx.device.queue.writeBuffer(buffer, 0, data);
      this.buffers[name] = buffer;
    };
    upload('fcWeight', state['img_enc.fc.weight'].data);
    upload('fcBias', state['img_enc.fc.bias'].data);
    upload('embed', state[embedKey(config.textEncoder)].data);
    for (const key of ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']) {
      upload(key, concat(state[`txt_enc.rnn.${key}`].data, state[`txt_enc.rnn.${key}_reverse`].data));
    }
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

  /** The parameter buffers, for the trainer (which updates them in place). */
  parameters(): ModelParameter[] {
    const single = (name: string, key: string): ModelParameter => {
      const shape = [...this.state[name].shape];
      return { names: [name], buffer: this.buffers[key], shape, size: this.state[name].data.length };
    };
    const pair = (key: string): ModelParameter => {
      const name = `txt_enc.rnn.${key}`;
      const shape = [2, ...this.state[name].shape];
      return { names: [name, `${name}_reverse`], buffer: this.buffers[key], shape, size: 2 * this.state[name].data.length };
    };
    return [
      single('img_enc.fc.weight', 'fcWeight'), single('img_enc.fc.bias', 'fcBias'), single(embedKey(this.config.textEncoder), 'embed'),
      pair('weight_ih_l0'), pair('weight_hh_l0'), pair('bias_ih_l0'), pair('bias_hh_l0'),
    ];
  }

  /** Reads the current weights back from the GPU into `state` (after training steps). */
  async syncState(): Promise<StateDict> {
    this.check('syncState');
    for (const p of this.parameters()) {
      const data = await this.ctx.scoped('syncState', () => this.ctx.readFloat32(p.buffer, 0, p.size));
      const half = p.size / p.names.length;
      p.names.forEach((name, i) => { this.state[name] = { shape: this.state[name].shape, data: data.slice(i * half, (i + 1) * half) }; });
    }
    return this.state;
  }

  private check(what: string): void {
    if (this.destroyed) throw new Error(`${what}: the model was destroyed`);
    this.ctx.checkUsable(what);
  }

  /** Region embeddings [N, R, embedSize], read back to the CPU. */
  async encodeImages(input: RegionFeatures): Promise<Embeddings> {
    const gpu = await this.encodeImagesToGpu(input);
    return this.readBack(gpu, 'encodeImages');
  }

  /** Caption embeddings [M, L, embedSize] (zero at padded positions), with their lengths. */
  async encodeCaptions(input: TokenIds): Promise<Embeddings & { lengths: Int32Array }> {
    const gpu = await this.encodeCaptionsToGpu(input);
    return { ...(await this.readBack(gpu, 'encodeCaptions')), lengths: gpu.lengths };
  }

  private async readBack(gpu: GpuEmbeddings, what: string): Promise<Embeddings> {
    try {
      const count = gpu.shape[0] * gpu.shape[1] * gpu.shape[2];
      const data = await this.ctx.scoped(what, () => this.ctx.readFloat32(gpu.buffer, 0, count));
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i])) {
          const [, rows, E] = gpu.shape;
          throw new Error(`${what}: the embedding of item ${Math.floor(i / (rows * E))}, row ${Math.floor(i / E) % rows} holds ${data[i]}: `
            + 'float32 overflowed inside the encoder (weights or inputs too large); nothing was returned');
        }
      }
      return { data, shape: gpu.shape };
    } finally {
      gpu.buffer.destroy();
    }
  }

  /**
   * A new output buffer of `bytes` (the caller's to destroy), filled by `encode` inside error
   * scopes in one submit; pooled scratch goes back to the pool, and the output is destroyed if
   * anything fails.
   */
  private async encodeInto(what: string, bytes: number,
    encode: (encoder: GPUCommandEncoder, output: GPUBuffer, transient: GPUBuffer[]) => Promise<void>): Promise<GPUBuffer> {
    if (bytes > this.ctx.limits.maxBufferSize) {
      throw new Error(`${what}: the output needs ${bytes} bytes, more than this device's maxBufferSize ${this.ctx.limits.maxBufferSize}; encode fewer at a time`);
    }
    const output = this.ctx.device.createBuffer({ size: Math.max(16, bytes), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label: what });
    try {
      await this.ctx.scoped(what, async () => {
        const transient: GPUBuffer[] = [];
        try {
          const encoder = this.ctx.createEncoder(what);
          await encode(encoder, output, transient);
          this.ctx.submit(encoder);
        } finally {
          transient.forEach((b) => this.ctx.pool.release(b));
        }
      });
    } catch (error) {
      output.destroy();
      throw error;
    }
    return output;
  }

  /** Like encodeImages, but the result stays on the GPU (usable as similarity() images). */
  async encodeImagesToGpu(input: RegionFeatures): Promise<GpuEmbeddings> {
    const what = 'encodeImages';
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
    const rows = N * R;
    const maxBinding = this.ctx.limits.maxStorageBufferBindingSize;
    const batchRows = Math.min(rows, Math.floor(maxBinding / (4 * Math.max(imgDim, E))), 65535 * 64);
    const output = await this.encodeInto(what, rows * E * 4, async (encoder, out, transient) => {
      for (let row0 = 0; row0 < rows; row0 += batchRows) {
        const count = Math.min(batchRows, rows - row0);
        const x = this.ctx.upload(input.data.subarray(row0 * D, (row0 + count) * D), 'region features');
        const projected = this.ctx.pool.acquire(count * E * 4, GPUBufferUsage.STORAGE, 'fc output');
        const normed = this.ctx.pool.acquire(count * E * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'image embeddings');
        transient.push(x, projected, normed);
        const pass = this.ctx.beginPass(encoder, what);
        await encodeMatmul(this.ctx, pass, { transB: true, bias: true }, {
          M: count, N: E, K: D, a: x, b: this.buffers.fcWeight, bias: this.buffers.fcBias, c: projected,
        }, transient);
        await encodeL2normRows(this.ctx, pass, { rows: count, cols: E, x: projected, y: normed }, transient);
        pass.end();
        encoder.copyBufferToBuffer(normed, 0, out, row0 * E * 4, count * E * 4);
      }
    });
    return { buffer: output, shape: [N, R, E] };
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

  /** Like encodeCaptions, but the result stays on the GPU (usable as similarity() captions). */
  async encodeCaptionsToGpu(input: TokenIds): Promise<GpuEmbeddings & { lengths: Int32Array }> {
    const what = 'encodeCaptions';
    this.check(what);
    const { M, L, ids, lengths } = this.checkTokens(input, what);
    const { wordDim, embedSize: E } = this.config;
    const maxBinding = this.ctx.limits.maxStorageBufferBindingSize;
    const batch = Math.min(M, 65535, Math.floor(maxBinding / (4 * L * Math.max(2 * 3 * E, wordDim))));
    if (batch < 1) throw new Error(`${what}: one caption of L = ${L} words needs more than maxStorageBufferBindingSize ${maxBinding} bytes of GRU gates`);
    const weights = {
      weightIH: this.buffers.weight_ih_l0, weightHH: this.buffers.weight_hh_l0, biasIH: this.buffers.bias_ih_l0, biasHH: this.buffers.bias_hh_l0,
      inputSize: wordDim, hidden: E,
    };
    const output = await this.encodeInto(what, M * L * E * 4, async (encoder, out, transient) => {
      for (let m0 = 0; m0 < M; m0 += batch) {
        const count = Math.min(batch, M - m0);
        const rows = count * L;
        const batchLengths = lengths.subarray(m0, m0 + count);
        const idBuffer = this.ctx.upload(ids.subarray(m0 * L, (m0 + count) * L), 'token ids');
        const lengthBuffer = this.ctx.upload(Uint32Array.from(batchLengths), 'lengths');
        const words = this.ctx.pool.acquire(rows * wordDim * 4, GPUBufferUsage.STORAGE, 'word vectors');
        const gates = this.ctx.pool.acquire(2 * rows * 3 * E * 4, GPUBufferUsage.STORAGE, 'gru gates');
        const hidden = this.ctx.pool.acquire(2 * rows * E * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'gru hidden');
        const normed = this.ctx.pool.acquire(rows * E * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'caption embeddings');
        transient.push(idBuffer, lengthBuffer, words, gates, hidden, normed);
        let pass = this.ctx.beginPass(encoder, 'embedding');
        await encodeEmbedding(this.ctx, pass, { count: rows, dim: wordDim, ids: idBuffer, table: this.buffers.embed, out: words }, transient);
        pass.end();
        await encodeBiGru(this.ctx, encoder, weights, {
          captions: count, maxWords: L, input: words, lengths: lengthBuffer, maxLength: maxOf(batchLengths), gatesX: gates, hiddenOut: hidden, hostLengths: batchLengths,
        }, transient);
        pass = this.ctx.beginPass(encoder, 'caption l2norm');
        await encodeL2normRows(this.ctx, pass, { rows, cols: E, x: hidden, y: normed, pairMean: true }, transient);
        pass.end();
        encoder.copyBufferToBuffer(normed, 0, out, m0 * L * E * 4, rows * E * 4);
      }
    });
    return { buffer: output, shape: [M, L, E], lengths };
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const buffer of Object.values(this.buffers)) buffer.destroy();
  }
}
