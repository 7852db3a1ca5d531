// The model's encoders on the CPU backend (kernels/wasm/encoders.c): the weights packed once
// into GEMM panels in WASM memory when the model is made, then images encoded in row blocks
// (l2norm(fc(x))) and captions in blocks of captions (embedding, W_i x for every position, the
// bi-GRU's recurrences, the mean of the directions, l2norm), each block's working memory
// freed before the next. The input checks are the model's (src/model/model.ts).
import type { ModelConfig, StateDict } from '../model/weights.js';
import { embedKey } from '../model/weights.js';
import type { WasmRuntime } from './runtime.js';
import { HeapScope } from './structs.js';

/** Working memory a block of encoding may take. */
const BLOCK_BYTES = 64 * 2 ** 20;
/** Output rows per item of a linear layer (the GEMM's C block lives in the thread's scratch). */
const LINEAR_ROWS = 16;

export class WasmEncoders {
  private readonly weights: HeapScope;
  private readonly fc: { weight: number; bias: number };
  private readonly embed: number;
  private readonly ih: { weight: number; bias: number }[];
  private readonly hh: { weight: number; bias: number };
  private destroyed = false;
  /** Encodes in flight: destroy() frees the weights once the last one is done. */
  private active = 0;

  private constructor(private readonly rt: WasmRuntime, private readonly config: ModelConfig, weights: HeapScope,
    parts: { fc: WasmEncoders['fc']; embed: number; ih: WasmEncoders['ih']; hh: WasmEncoders['hh'] }) {
    this.weights = weights;
    this.fc = parts.fc;
    this.embed = parts.embed;
    this.ih = parts.ih;
    this.hh = parts.hh;
  }

  /** Packs `state`'s weights (already checked against `config`) into the runtime's memory. */
  static async create(rt: WasmRuntime, config: ModelConfig, state: StateDict): Promise<WasmEncoders> {
    const scope = new HeapScope(rt.heap);
    try {
      const { imgDim, embedSize: E, wordDim } = config;
      const G = 3 * E;
      const pack = async (w: Float32Array, N: number, K: number, out: number) => {
        const temp = new HeapScope(rt.heap);
        try {
          const args = temp.struct([temp.copy(w, 'weights'), out, N, K], 'pack_weights');
          await rt.run(rt.heap, 'pack_weights', args, Math.ceil(N / 8), 4, 64);
        } finally {
          temp.free();
        }
      };
      const panelsOf = (N: number, K: number) => Math.ceil(N / 8) * 8 * K * 4;
      const fc = { weight: scope.alloc(panelsOf(E, imgDim), 'fc weight'), bias: scope.copy(state['img_enc.fc.bias'].data, 'fc bias') };
      await pack(state['img_enc.fc.weight'].data, E, imgDim, fc.weight);
      const embed = scope.copy(state[embedKey(config.textEncoder)].data, 'embedding');
      const ih: WasmEncoders['ih'] = [];
      for (const suffix of ['', '_reverse']) {
        const entry = { weight: scope.alloc(panelsOf(G, wordDim), 'gru input weights'), bias: scope.copy(state[`txt_enc.rnn.bias_ih_l0${suffix}`].data, 'gru input bias') };
        await pack(state[`txt_enc.rnn.weight_ih_l0${suffix}`].data, G, wordDim, entry.weight);
        ih.push(entry);
      }
      const perDirection = panelsOf(G, E);
      const hh = { weight: scope.alloc(2 * perDirection, 'gru hidden weights'), bias: scope.alloc(2 * G * 4, 'gru hidden bias') };
      for (const [i, suffix] of ['', '_reverse'].entries()) {
        await pack(state[`txt_enc.rnn.weight_hh_l0${suffix}`].data, G, E, hh.weight + i * perDirection);
        rt.heap.f32(hh.bias + i * G * 4, G).set(state[`txt_enc.rnn.bias_hh_l0${suffix}`].data);
      }
      return new WasmEncoders(rt, config, scope, { fc, embed, ih, hh });
    } catch (error) {
      scope.free();
      throw error;
    }
  }

  private check(what: string): void {
    if (this.destroyed) throw new Error(`${what}: the model was destroyed`);
  }

  /** Bytes the packed weights take in WASM memory. */
  get bytes(): number {
    return this.destroyed ? 0 : this.weights.bytes;
  }

  /** y [rows][N] = x W^T + b (l2-normalised with `normalize`), x and y in the heap. */
  private async linear(scope: HeapScope, x: number, weight: number, bias: number, y: number, rows: number, K: number, N: number, normalize: boolean): Promise<void> {
    const args = scope.struct([x, weight, bias, y, rows, K, N, N, LINEAR_ROWS, normalize ? 1 : 0], 'linear');
    const items = Math.ceil(rows / LINEAR_ROWS);
    await this.rt.run(scope.heap, 'linear', args, items, Math.max(1, Math.floor(items / (4 * this.rt.threads))), LINEAR_ROWS * Math.ceil(N / 8) * 8 * 4 + 64);
  }

  /** Runs `work` with the weights held (a destroy() meanwhile waits for it). */
  private async holding<T>(what: string, work: () => Promise<T>): Promise<T> {
    this.check(what);
    this.active++;
    try {
      return await work();
    } finally {
      if (--this.active === 0 && this.destroyed) this.weights.free();
    }
  }

  /** Region embeddings [rows][E] of region features [rows][imgDim] (checked finite). */
  encodeImages(features: Float32Array, rows: number): Promise<Float32Array> {
    return this.holding('encodeImages', () => this.encodeImagesNow(features, rows));
  }

  private async encodeImagesNow(features: Float32Array, rows: number): Promise<Float32Array> {
    const { imgDim, embedSize: E } = this.config;
    const out = new Float32Array(rows * E);
    const block = Math.max(1, Math.floor(BLOCK_BYTES / (4 * (imgDim + E))));
    for (let r0 = 0; r0 < rows; r0 += block) {
      const count = Math.min(block, rows - r0);
      const scope = new HeapScope(this.rt.heap);
      try {
        const x = scope.copy(features.subarray(r0 * imgDim, (r0 + count) * imgDim), 'region features');
        const y = scope.alloc(count * E * 4, 'image embeddings');
        await this.linear(scope, x, this.fc.weight, this.fc.bias, y, count, imgDim, E, true);
        out.set(scope.heap.f32(y, count * E), r0 * E);
      } finally {
        scope.free();
      }
    }
    return out;
  }

  /** Caption embeddings [M][L][E] of token ids [M][L] (checked against the vocabulary; padded positions 0). */
  encodeCaptions(ids: Uint32Array, M: number, L: number, lengths: Int32Array): Promise<Float32Array> {
    return this.holding('encodeCaptions', () => this.encodeCaptionsNow(ids, M, L, lengths));
  }

  private async encodeCaptionsNow(ids: Uint32Array, M: number, L: number, lengths: Int32Array): Promise<Float32Array> {
    const { wordDim: I, embedSize: H } = this.config;
    const G = 3 * H;
    const out = new Float32Array(M * L * H);
    const perCaption = 4 * L * (I + 2 * G + 3 * H);
    const block = Math.max(1, Math.floor(BLOCK_BYTES / perCaption));
    for (let m0 = 0; m0 < M; m0 += block) {
      const count = Math.min(block, M - m0);
      const rows = count * L;
      const scope = new HeapScope(this.rt.heap);
      try {
        const heap = scope.heap;
        const idsPtr = scope.copy(ids.subarray(m0 * L, (m0 + count) * L), 'token ids');
        const x = scope.alloc(rows * I * 4, 'word vectors');
        await this.rt.run(heap, 'embedding', scope.struct([this.embed, idsPtr, x, I], 'embedding'), rows, 256, 64);
        const gates = scope.alloc(2 * rows * G * 4, 'gru input gates');
        for (const [d, ih] of this.ih.entries()) await this.linear(scope, x, ih.weight, ih.bias, gates + d * rows * G * 4, rows, I, G, false);
        const hidden = scope.alloc(2 * rows * H * 4, 'gru hidden states');
        heap.f32(hidden, 2 * rows * H).fill(0);
        const lengthsPtr = scope.copy(lengths.subarray(m0, m0 + count), 'lengths');
        // A block of captions per item, small enough that both directions and every thread get work.
        const perItem = Math.max(1, Math.min(32, Math.ceil((2 * count) / (2 * this.rt.threads)) ));
        const gru = scope.struct([gates, this.hh.weight, this.hh.bias, lengthsPtr, hidden, count, L, H, perItem], 'gru');
        await this.rt.run(heap, 'gru', gru, 2 * Math.ceil(count / perItem), 1, 4 * perItem * (H + Math.ceil(G / 8) * 8) + 64);
        const embedded = scope.alloc(rows * H * 4, 'caption embeddings');
        await this.rt.run(heap, 'gru_finish', scope.struct([hidden, lengthsPtr, embedded, count, L, H], 'gru_finish'), count, 16, 64);
        out.set(heap.f32(embedded, rows * H), m0 * L * H);
      } finally {
        scope.free();
      }
    }
    return out;
  }

  /** Frees the weights now, or once the encodes in flight are done; later calls throw. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.active === 0) this.weights.free();
  }
}
