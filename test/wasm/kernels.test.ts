// The CPU backend's prep and encoder kernels (kernels/wasm/prep.c, encoders.c) against their
// float64 / float references: int8 quantisation and float16 rounding bit for bit
// (src/ref/quantize.ts), the linear layers, l2norm and the bi-GRU to 1e-5 (src/ref/encoders.ts),
// on one thread and on two.
import { afterAll, describe, expect, it } from 'vitest';
import { encodeCaptionsRef, encodeImagesRef } from '../../src/ref/encoders.js';
import { f16round, quantizeRowsRef } from '../../src/ref/quantize.js';
import { WasmEncoders } from '../../src/wasm/encoders.js';
import { WasmRuntime } from '../../src/wasm/runtime.js';
import { int8RowLength } from '../../src/wasm/score.js';
import { HeapScope } from '../../src/wasm/structs.js';
import { WasmHeap, WasmMemoryError, growScratch } from '../../src/wasm/heap.js';
import { maxAbsDiff } from '../fixtures.js';
import { rng } from '../random.js';

const runtimes = await Promise.all([WasmRuntime.create({ threads: 1 }), WasmRuntime.create({ threads: 2 })]);
afterAll(() => runtimes.forEach((rt) => rt.destroy()));

function uniform(seed: number, count: number, scale = 1): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: count }, () => (next() * 2 - 1) * scale);
}

describe.each(runtimes.map((rt) => [rt.threads, rt] as const))('%i thread(s)', (_threads, rt) => {
  it.each([[13, 5], [64, 9], [100, 3]])('int8 rows, D = %i: q, scales and padding exactly the reference', async (D, rows) => {
    const data = uniform(D, rows * D, 0.3);
    data.fill(0, D, 2 * D); // an all-zero row: scale 0, q 0
    data[3] = 0.3 * 127.5 / 127; // a tie at the rounding step lands on even
    const ref = quantizeRowsRef(data, D, Array.from({ length: rows }, (_, i) => i));
    const scope = new HeapScope(rt.heap);
    try {
      const DP = int8RowLength(D);
      const q = scope.alloc(rows * DP, 'q');
      const scales = scope.alloc(rows * 4, 'scales');
      const args = scope.struct([scope.copy(data, 'rows'), 0, q, scales, 0, D, DP, 0, 0, 0, { f32: 0 }, 0], 'quantize_rows');
      await rt.run(rt.heap, 'quantize_rows', args, rows, 2, 256);
      const got = new Int8Array(rt.heap.memory.buffer, q, rows * DP);
      for (let r = 0; r < rows; r++) {
        expect(Array.from(got.subarray(r * DP, r * DP + D)), `row ${r}`).toEqual(Array.from(ref.q.subarray(r * ref.packedRowBytes, r * ref.packedRowBytes + D)));
        expect(got.subarray(r * DP + D, (r + 1) * DP).every((v) => v === 0)).toBe(true);
      }
      expect(Array.from(rt.heap.f32(scales, rows))).toEqual(Array.from(ref.scales));
    } finally {
      scope.free();
    }
  });

  it('float16 rounding: every value to the nearest half, ties to even, subnormals and the largest', async () => {
    const values = Float32Array.from([0, -0, 1, -1, 65504, -65504, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -24, 3 * 2 ** -25, 2 ** -15 * 1.5, 6.1e-5, 1e-8, 0.1, -0.3333, 1234.567, 65520, 70000, -1e6]); // past 65504: infinity, as f16round
    const random = uniform(7, 997, 3);
    const data = new Float32Array(values.length + random.length);
    data.set(values);
    data.set(random, values.length);
    const scope = new HeapScope(rt.heap);
    try {
      const rows = scope.copy(data, 'values');
      await rt.run(rt.heap, 'to_f16', scope.struct([rows, 0, rows, 0, 0, data.length, 0, 0, 0, 0, { f32: 0 }, 0], 'to_f16'), 1, 1, data.length * 2 + 64);
      expect(Array.from(rt.heap.f32(rows, data.length))).toEqual(Array.from(data, f16round));
    } finally {
      scope.free();
    }
  });

  for (const [E, I, imgDim, V] of [[7, 5, 9, 11], [32, 16, 24, 20]]) {
    it(`encoders (E ${E}, word dim ${I}, image dim ${imgDim}): l2norm(fc(x)) and the bi-GRU to each caption's length`, async () => {
      const G = 3 * E;
      const state: Record<string, { shape: number[]; data: Float32Array }> = {
        'img_enc.fc.weight': { shape: [E, imgDim], data: uniform(1, E * imgDim, 0.3) },
        'img_enc.fc.bias': { shape: [E], data: uniform(2, E, 0.1) },
        'txt_enc.embed.weight': { shape: [V, I], data: uniform(3, V * I) },
      };
      for (const [i, s] of ['', '_reverse'].entries()) {
        state[`txt_enc.rnn.weight_ih_l0${s}`] = { shape: [G, I], data: uniform(10 + i, G * I, 0.4) };
        state[`txt_enc.rnn.weight_hh_l0${s}`] = { shape: [G, E], data: uniform(20 + i, G * E, 0.4) };
        state[`txt_enc.rnn.bias_ih_l0${s}`] = { shape: [G], data: uniform(30 + i, G, 0.2) };
        state[`txt_enc.rnn.bias_hh_l0${s}`] = { shape: [G], data: uniform(40 + i, G, 0.2) };
      }
      const config = { imgDim, embedSize: E, wordDim: I, vocabSize: V, textEncoder: 'basic', threshold: null, lambdaSoftmax: 20 } as const;
      const encoders = await WasmEncoders.create(rt, config, state);
      try {
        const features = uniform(5, 6 * imgDim);
        const regions = await encoders.encodeImages(features, 6);
        expect(maxAbsDiff(regions, encodeImagesRef(features, 6, imgDim, state['img_enc.fc.weight'].data, state['img_enc.fc.bias'].data, E))).toBeLessThan(1e-5);
        const M = 3, L = 6, lengths = Int32Array.from([6, 1, 3]);
        const ids = Uint32Array.from({ length: M * L }, (_, i) => (i * 7) % V);
        for (let m = 0; m < M; m++) for (let w = lengths[m]; w < L; w++) ids[m * L + w] = 0;
        const words = await encoders.encodeCaptions(ids, M, L, lengths);
        const pair = (key: string) => [state[`txt_enc.rnn.${key}`].data, state[`txt_enc.rnn.${key}_reverse`].data] as [Float32Array, Float32Array];
        const ref = encodeCaptionsRef(ids, M, L, lengths, state['txt_enc.embed.weight'].data, {
          weightIH: pair('weight_ih_l0'), weightHH: pair('weight_hh_l0'), biasIH: pair('bias_ih_l0'), biasHH: pair('bias_hh_l0'), inputSize: I, hidden: E,
        });
        expect(maxAbsDiff(words, ref)).toBeLessThan(1e-5);
        for (let m = 0; m < M; m++) expect(words.subarray((m * L + lengths[m]) * E, (m + 1) * L * E).every((v) => v === 0)).toBe(true);
      } finally {
        encoders.destroy();
      }
    });
  }
});

describe('the WASM heap', () => {
  it('merges freed neighbours, grows to its maximum, then refuses with the sizes; a scratch that cannot grow keeps the old block', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
    const heap = new WasmHeap(memory, 1024, 4, 9);
    const a = heap.alloc(1000, 'a');
    const b = heap.alloc(1000, 'b');
    const c = heap.alloc(1000, 'c');
    heap.free(a);
    heap.free(c);
    heap.free(b); // a, b and c merge back into one block
    expect(heap.alloc(3 * 1024, 'abc')).toBe(a);
    heap.alloc(100_000, 'grown');
    expect(memory.buffer.byteLength).toBeGreaterThan(65536); // grew past the first page
    expect(() => heap.alloc(1 << 20, 'too big')).toThrow(WasmMemoryError);
    expect(() => heap.alloc(1 << 20, 'too big')).toThrow(/too big: needs 1048576 bytes of WASM memory, but memory 9 holds \d+ of its 262144 at most/);
    const holder = new Map<number, { ptr: number; bytes: number }>();
    const first = growScratch(holder, heap, 4096, 'scratch');
    expect(() => growScratch(holder, heap, 1 << 20, 'scratch')).toThrow(WasmMemoryError);
    expect(holder.get(9)!.ptr).toBe(first); // still held, not freed
    expect(() => heap.free(first)).not.toThrow();
  });
});
