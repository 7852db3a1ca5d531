// The model's encoders on the WebGPU backend: the parameters in GPU buffers (which the trainer
// updates in place), regions -> l2norm(fc(x)) and token ids -> embedding -> bi-GRU ->
// (forward + backward) / 2 -> l2norm, in batches that fit the device's bindings; each result
// lands in one GPU buffer and is read back once. Inputs come checked (src/model/model.ts).
import type { GpuContext } from '../gpu/context.js';
import { encodeBiGru } from '../ops/gru.js';
import { encodeMatmul } from '../ops/matmul.js';
import { encodeEmbedding, encodeL2normRows } from '../ops/rows.js';
import type { CaptionInput, ImageInput } from '../types.js';
import { ModelConfig, StateDict, checkConfigFitsDevice, embedKey } from './weights.js';
import { maxOf } from '../arrays.js';
import type { Embeddings, GpuEmbeddings, ModelEncoders, ModelParameter, ScoringInput } from './encoders.js';

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export class GpuEncoders implements ModelEncoders {
  readonly backend = 'webgpu' as const;
  private readonly buffers: Record<string, GPUBuffer> = {};

  constructor(private readonly ctx: GpuContext, private readonly config: ModelConfig, private readonly state: StateDict) {
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
    for (const p of this.parameters()) {
      const data = await this.ctx.scoped('syncState', () => this.ctx.readFloat32(p.buffer, 0, p.size));
      const half = p.size / p.names.length;
      p.names.forEach((name, i) => { this.state[name] = { shape: this.state[name].shape, data: data.slice(i * half, (i + 1) * half) }; });
    }
    return this.state;
  }

  async encodeImages(rows: Float32Array, N: number, R: number): Promise<Embeddings> {
    return this.readBack(await this.encodeImagesToGpu(rows, N, R), 'encodeImages');
  }

  async encodeCaptions(ids: Uint32Array, M: number, L: number, lengths: Int32Array): Promise<Embeddings> {
    return this.readBack(await this.encodeCaptionsToGpu(ids, M, L, lengths), 'encodeCaptions');
  }

  async imagesForScoring(rows: Float32Array, N: number, R: number): Promise<ScoringInput<ImageInput>> {
    const gpu = await this.encodeImagesToGpu(rows, N, R);
    return { input: gpu, ready: () => this.ctx.device.queue.onSubmittedWorkDone(), release: () => gpu.buffer.destroy() };
  }

  async captionsForScoring(ids: Uint32Array, M: number, L: number, lengths: Int32Array): Promise<ScoringInput<CaptionInput>> {
    const gpu = await this.encodeCaptionsToGpu(ids, M, L, lengths);
    return { input: { ...gpu, lengths }, ready: () => this.ctx.device.queue.onSubmittedWorkDone(), release: () => gpu.buffer.destroy() };
  }

  private async readBack(gpu: GpuEmbeddings, what: string): Promise<Embeddings> {
    try {
      const count = gpu.shape[0] * gpu.shape[1] * gpu.shape[2];
      return { data: await this.ctx.scoped(what, () => this.ctx.readFloat32(gpu.buffer, 0, count)), shape: gpu.shape };
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

  /** Region embeddings on the GPU (the caller destroys the buffer). */
  async encodeImagesToGpu(input: Float32Array, N: number, R: number): Promise<GpuEmbeddings> {
    const what = 'encodeImages';
    const { imgDim, embedSize: E } = this.config;
    const D = imgDim;
    const rows = N * R;
    const maxBinding = this.ctx.limits.maxStorageBufferBindingSize;
    const batchRows = Math.min(rows, Math.floor(maxBinding / (4 * Math.max(imgDim, E))), 65535 * 64);
    const output = await this.encodeInto(what, rows * E * 4, async (encoder, out, transient) => {
      for (let row0 = 0; row0 < rows; row0 += batchRows) {
        const count = Math.min(batchRows, rows - row0);
        const x = this.ctx.upload(input.subarray(row0 * D, (row0 + count) * D), 'region features');
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

  /** Caption embeddings on the GPU (the caller destroys the buffer). */
  async encodeCaptionsToGpu(ids: Uint32Array, M: number, L: number, lengths: Int32Array): Promise<GpuEmbeddings> {
    const what = 'encodeCaptions';
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
    return { buffer: output, shape: [M, L, E] };
  }

  destroy(): void {
    for (const buffer of Object.values(this.buffers)) buffer.destroy();
  }
}
