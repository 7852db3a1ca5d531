// One training step: forward through the tape (encoders, training-path similarity with mismatch
// mining, triplet loss), backward through the same tape, then total-norm clipping and Adam, all
// on the GPU. The loss (and the mining state) is read back once per step; a non-finite loss
// stops before any weight changes.
import { biGru } from '../autograd/gru.js';
import { embedding, l2normRows, linear, tripletLoss } from '../autograd/ops.js';
import { trainingSimilarity } from '../autograd/similarity.js';
import { Parameter, Tape } from '../autograd/tape.js';
import type { GpuContext } from '../gpu/context.js';
import type { ModelParameter, NaafModel } from '../model/model.js';
import { encodeAdam, encodeSumSquares } from '../ops/optim.js';
import type { DmmState } from '../ops/naafTrain.js';
import { TrainingProgress, saveTrainingCheckpoint } from './checkpoint.js';
import { ResolvedTrainerOptions, TrainerOptions, hardestNegativesAt, learningRateAt, resolveTrainerOptions } from './options.js';
import { learnsThreshold } from '../methods/index.js';

export interface TrainBatchInput {
  regionFeats: { data: Float32Array; shape: readonly [number, number, number] };
  tokenIds: { ids: Int32Array | Uint32Array | readonly number[]; shape: readonly [number, number]; lengths: Int32Array | Uint32Array | readonly number[] };
}

export interface GradientResult {
  loss: number;
  /** Keyed by state-dict name ('img_enc.fc.weight', 'txt_enc.rnn.weight_ih_l0_reverse', ...). */
  grads: Record<string, Float32Array>;
  state: DmmState;
}

export interface StepResult {
  loss: number;
  state: DmmState;
  learningRate: number;
}

interface TrainParameter {
  model: ModelParameter;
  grad: GPUBuffer;
  moment1: GPUBuffer;
  moment2: GPUBuffer;
}

export const ZERO_STATE: DmmState = { thres: 0, thresSafe: 0, meanPos: 0, stdPos: 0, meanNeg: 0, stdNeg: 0 };

export class Trainer {
  readonly options: ResolvedTrainerOptions;
  /** Completed optimiser steps (Adam's t). */
  stepCount = 0;
  epoch = 0;
  state: DmmState;
  private readonly params: TrainParameter[];
  private destroyed = false;

  constructor(private readonly ctx: GpuContext, readonly model: NaafModel, options: TrainerOptions = {}) {
    this.options = resolveTrainerOptions(options);
    this.state = { ...(model.thresholdState ?? ZERO_STATE) };
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const zeroed = (size: number, label: string) => {
      const buffer = ctx.device.createBuffer({ size: size * 4, usage, label });
      return buffer; // new buffers are zero-filled by WebGPU
    };
    this.params = model.parameters().map((p) => ({
      model: p, grad: zeroed(p.size, `grad ${p.names[0]}`), moment1: zeroed(p.size, `m ${p.names[0]}`), moment2: zeroed(p.size, `v ${p.names[0]}`),
    }));
  }

  get learningRate(): number {
    return learningRateAt(this.options, this.epoch);
  }

  private checkBatch(batch: TrainBatchInput, what: string): { B: number; R: number; L: number; ids: Uint32Array; lengths: Int32Array } {
    if (this.destroyed) throw new Error(`${what}: the trainer was destroyed`);
    const { imgDim } = this.model.config;
    const feats = batch?.regionFeats;
    const tokens = batch?.tokenIds;
    if (!feats || !tokens) throw new Error(`${what}: batch must be { regionFeats: { data, shape: [B, R, imgDim] }, tokenIds: { ids, shape: [B, L], lengths } }`);
    const [B, R, D] = feats.shape ?? [];
    const [Bt, L] = tokens.shape ?? [];
    if (![B, R, D].every((x) => Number.isInteger(x) && x >= 1)) throw new Error(`${what}: regionFeats.shape must be [B, R, imgDim] with sizes >= 1, got ${JSON.stringify(feats.shape)}`);
    if (B < 2) throw new Error(`${what}: batch of size ${B}: training needs at least 2 pairs (the loss and mismatch mining compare against other pairs)`);
    if (D !== imgDim) throw new Error(`${what}: regionFeats.shape[2] must be the model's imgDim ${imgDim}, got ${D}`);
    if (Bt !== B) throw new Error(`${what}: tokenIds.shape[0] (${Bt}) must equal regionFeats.shape[0] (${B}): caption i pairs with image i`);
    if (!Number.isInteger(L) || L < 1) throw new Error(`${what}: tokenIds.shape must be [B, L], got ${JSON.stringify(tokens.shape)}`);
    if (!(feats.data instanceof Float32Array) || feats.data.length !== B * R * D) throw new Error(`${what}: regionFeats.data must be a Float32Array of ${B * R * D} values, got ${feats.data?.length}`);
    for (let i = 0; i < feats.data.length; i++) {
      if (!Number.isFinite(feats.data[i])) throw new Error(`${what}: regionFeats.data must be finite, got ${feats.data[i]} at flat index ${i}`);
    }
    const { ids, lengths } = this.model.checkTokens(tokens, what, 'tokenIds');
    return { B, R, L, ids, lengths };
  }

  /**
   * Forward and backward of one batch into the parameter gradient buffers, and the squared total
   * gradient norm into `normSq`; returns the loss, that norm and the mining state. (Shaders may
   * assume finite math, so NaN is detected here, on the CPU, from values that carry it.)
   */
  private async forwardBackward(batch: TrainBatchInput, what: string, normSq: GPUBuffer): Promise<{ loss: number; gradNormSq: number; state: DmmState }> {
    const { B, R, L, ids, lengths } = this.checkBatch(batch, what);
    const { ctx } = this;
    const { imgDim, embedSize: E, wordDim } = this.model.config;
    return ctx.scoped(what, async () => {
      const encoder = ctx.createEncoder(what);
      const tape = new Tape(ctx, encoder);
      try {
        for (const p of this.params) encoder.clearBuffer(p.grad);
        const parameter = (i: number) => new Parameter(this.params[i].model.buffer, this.params[i].model.shape, this.params[i].model.names[0], this.params[i].grad);
        const [fcWeight, fcBias, embed, weightIH, weightHH, biasIH, biasHH] = this.params.map((_, i) => parameter(i));

        const features = tape.input(batch.regionFeats.data, [B * R, imgDim], 'region features');
        const regions = await l2normRows(tape, await linear(tape, features, fcWeight, fcBias));
        const idVar = tape.input(ids, [B * L], 'token ids');
        const include = (p: number) => p % L < lengths[Math.floor(p / L)];
        const words = await embedding(tape, idVar, ids, include, embed);
        const hidden = await biGru(tape, words, { weightIH, weightHH, biasIH, biasHH }, lengths, B, L, wordDim, E);
        const captions = await l2normRows(tape, hidden, { pairMean: true });
        const { sims, state } = await trainingSimilarity(tape, regions, captions, { B, R, L, D: E, lengths }, this.options, this.state);
        const loss = await tripletLoss(tape, sims, B, this.options.margin, hardestNegativesAt(this.options, this.epoch));
        await tape.backward(encoder);
        const pass = ctx.beginPass(encoder, 'gradient norm');
        await encodeSumSquares(ctx, pass, this.params.map((p) => ({ buffer: p.grad, count: p.model.size })), normSq, tape.transient);
        pass.end();

        const readback = ctx.pool.acquire(32, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'loss readback');
        tape.transient.push(readback);
        encoder.copyBufferToBuffer(loss.data, 0, readback, 0, 4);
        encoder.copyBufferToBuffer(normSq, 0, readback, 4, 4);
        if (state) encoder.copyBufferToBuffer(state, 0, readback, 8, 24);
        ctx.submit(encoder);
        await readback.mapAsync(GPUMapMode.READ, 0, 32);
        const v = new Float32Array(readback.getMappedRange(0, 32).slice(0));
        readback.unmap();
        const next: DmmState = state
          ? { thres: v[2], thresSafe: v[3], meanPos: v[4], stdPos: v[5], meanNeg: v[6], stdNeg: v[7] }
          : { ...this.state };
        return { loss: v[0], gradNormSq: v[1], state: next };
      } finally {
        tape.release();
      }
    });
  }

  private normBuffer(): GPUBuffer {
    return this.ctx.pool.acquire(16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'gradient norm');
  }

  /** Loss, gradients of every parameter and the mining state after this batch; nothing is updated. */
  async computeGradients(batch: TrainBatchInput): Promise<GradientResult> {
    const normSq = this.normBuffer();
    const { loss, state } = await this.forwardBackward(batch, 'computeGradients', normSq).finally(() => this.ctx.pool.release(normSq));
    const grads: Record<string, Float32Array> = {};
    for (const p of this.params) {
      const data = await this.ctx.scoped('computeGradients', () => this.ctx.readFloat32(p.grad, 0, p.model.size));
      const part = p.model.size / p.model.names.length;
      p.model.names.forEach((name, i) => (grads[name] = data.slice(i * part, (i + 1) * part)));
    }
    return { loss, grads, state };
  }

  /** Gradients, clipping by the total norm, Adam. Throws (changing nothing) on a non-finite loss. */
  async step(batch: TrainBatchInput): Promise<StepResult> {
    const normSq = this.normBuffer();
    try {
      const { loss, gradNormSq, state } = await this.forwardBackward(batch, 'step', normSq);
      if (!Number.isFinite(loss) || !Number.isFinite(gradNormSq) || !Object.values(state).every(Number.isFinite)) {
        throw new Error(`step: the loss is ${loss} (squared gradient norm ${gradNormSq}) at step ${this.stepCount + 1} (epoch ${this.epoch}), mining state ${JSON.stringify(state)}; the weights were not updated`);
      }
      const learningRate = this.learningRate;
      const step = this.stepCount + 1;
      await this.ctx.scoped('step', async () => {
        const transient: GPUBuffer[] = [];
        try {
          const encoder = this.ctx.createEncoder('adam');
          const pass = this.ctx.beginPass(encoder, 'clip + adam');
          for (const p of this.params) {
            await encodeAdam(this.ctx, pass, {
              count: p.model.size, step, lr: learningRate, maxNorm: this.options.gradClip,
              normSq, grads: p.grad, weights: p.model.buffer, moment1: p.moment1, moment2: p.moment2,
            }, transient);
          }
          pass.end();
          // Not waited for: the next step's work queues behind it (and its buffers may go back
          // to the pool now: the queue runs later writes after it).
          this.ctx.submit(encoder);
        } finally {
          transient.forEach((b) => this.ctx.pool.release(b));
        }
      });
      this.stepCount = step;
      this.state = state;
      if (learnsThreshold(this.options.method)) this.model.config.threshold = state.thresSafe;
      return { loss, state, learningRate };
    } finally {
      this.ctx.pool.release(normSq);
    }
  }

  /**
   * Saves weights, optimizer state, step, epoch, mining state and options atomically to a
   * .safetensors file that also loads as a plain model. `progress` places the run (defaults:
   * the start of the trainer's current epoch).
   */
  async save(path: string, progress: Partial<TrainingProgress> = {}): Promise<void> {
    await saveTrainingCheckpoint(path, this, { epoch: this.epoch, batch: 0, bestRsum: -Infinity, seed: 0, history: [], ...progress });
  }

  /** Optimizer moments as tensors under 'optimizer.exp_avg.<name>' / 'optimizer.exp_avg_sq.<name>'. */
  async optimizerTensors(): Promise<Record<string, { shape: number[]; data: Float32Array }>> {
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const p of this.params) {
      for (const [kind, buffer] of [['exp_avg', p.moment1], ['exp_avg_sq', p.moment2]] as const) {
        const data = await this.ctx.scoped('save', () => this.ctx.readFloat32(buffer, 0, p.model.size));
        const part = p.model.size / p.model.names.length;
        p.model.names.forEach((name, i) => (out[`optimizer.${kind}.${name}`] = { shape: [...this.model.state[name].shape], data: data.slice(i * part, (i + 1) * part) }));
      }
    }
    return out;
  }

  /** Restores optimizer moments saved by optimizerTensors(). */
  restoreOptimizer(tensors: Record<string, { shape: number[]; data: Float32Array }>): void {
    for (const p of this.params) {
      for (const [kind, buffer] of [['exp_avg', p.moment1], ['exp_avg_sq', p.moment2]] as const) {
        const part = p.model.size / p.model.names.length;
        const data = new Float32Array(p.model.size);
        p.model.names.forEach((name, i) => {
          const tensor = tensors[`optimizer.${kind}.${name}`];
          if (!tensor || tensor.data.length !== part) throw new Error(`resume: the checkpoint lacks optimizer.${kind}.${name} of ${part} values`);
          data.set(tensor.data, i * part);
        });
        this.ctx.device.queue.writeBuffer(buffer, 0, data);
      }
    }
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.params) [p.grad, p.moment1, p.moment2].forEach((b) => b.destroy());
  }
}
