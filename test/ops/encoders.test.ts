// Encoder kernels (matmul, l2norm, embedding, bi-GRU) against their float64 references.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { encodeBiGru } from '../../src/ops/gru.js';
import { encodeMatmul } from '../../src/ops/matmul.js';
import { encodeEmbedding, encodeL2normRows } from '../../src/ops/rows.js';
import { biGruRef, l2normRowsRef, linearRef } from '../../src/ref/encoders.js';
import { maxAbsDiff } from '../fixtures.js';
import { sharedEngine } from '../gpu.js';
import { rng } from '../random.js';

const engine = await sharedEngine();
const ctx = (engine as unknown as { ctx: GpuContext }).ctx;

function uniform(seed: number, count: number, scale = 1): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: count }, () => (next() * 2 - 1) * scale);
}

async function runPass(outBytes: number, encode: (encoder: GPUCommandEncoder, out: GPUBuffer, transient: GPUBuffer[]) => Promise<void>): Promise<Float32Array> {
  const out = ctx.pool.acquire(outBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, 'out');
  const transient = [out];
  const encoder = ctx.createEncoder('test');
  await encode(encoder, out, transient);
  const result = await ctx.readFloat32(out, 0, outBytes / 4, encoder);
  transient.forEach((b) => ctx.pool.release(b));
  return result;
}

describe('matmul', () => {
  for (const [M, N, K] of [[5, 7, 3], [70, 130, 33], [1, 1, 1], [64, 64, 16]]) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`[${M}x${K}]${transA ? 'ᵀ' : ''} x [${K}x${N}]${transB ? 'ᵀ' : ''} with bias and accumulate`, async () => {
          const a = uniform(M * 7 + K, M * K);
          const b = uniform(N * 11 + K, K * N);
          const bias = uniform(3, N);
          const c0 = uniform(4, M * N);
          // Reference in the untransposed layout.
          const aRow = (i: number, k: number) => (transA ? a[k * M + i] : a[i * K + k]);
          const bCol = (k: number, j: number) => (transB ? b[j * K + k] : b[k * N + j]);
          const expected = new Float64Array(M * N);
          for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
            let sum = bias[j] + c0[i * N + j];
            for (let k = 0; k < K; k++) sum += aRow(i, k) * bCol(k, j);
            expected[i * N + j] = sum;
          }
          const result = await runPass(M * N * 4, async (encoder, out, transient) => {
            const [ga, gb, gbias] = [ctx.upload(a, 'a'), ctx.upload(b, 'b'), ctx.upload(bias, 'bias')];
            transient.push(ga, gb, gbias);
            encoder.copyBufferToBuffer(ctx.upload(c0, 'c0'), 0, out, 0, M * N * 4);
            const pass = ctx.beginPass(encoder, 'test');
            await encodeMatmul(ctx, pass, { transA, transB, bias: true, accumulate: true }, { M, N, K, a: ga, b: gb, bias: gbias, c: out }, transient);
            pass.end();
          });
          expect(maxAbsDiff(result, expected)).toBeLessThan(1e-5);
        });
      }
    }
  }

  it('a batch of products in one dispatch: each operand moved by its stride (B shared), no bias, C overwritten', async () => {
    const [M, N, K, count] = [37, 70, 19, 3];
    for (const [transA, transB] of [[false, true], [true, false]]) {
      const a = uniform(41, 5 + count * M * K);
      const b = uniform(42, K * N);
      const c0 = uniform(43, count * M * N + 4); // stale values: must be overwritten
      const expected = new Float64Array(count * M * N + 4);
      expected.set(c0.subarray(count * M * N), count * M * N);
      for (let z = 0; z < count; z++) {
        for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
          let sum = 0;
          for (let k = 0; k < K; k++) {
            const av = transA ? a[5 + z * M * K + k * M + i] : a[5 + z * M * K + i * K + k];
            sum += av * (transB ? b[j * K + k] : b[k * N + j]);
          }
          expected[z * M * N + i * N + j] = sum;
        }
      }
      const result = await runPass((count * M * N + 4) * 4, async (encoder, out, transient) => {
        const [ga, gb] = [ctx.upload(a, 'a'), ctx.upload(b, 'b')];
        transient.push(ga, gb);
        encoder.copyBufferToBuffer(ctx.upload(c0, 'c0'), 0, out, 0, c0.byteLength);
        const pass = ctx.beginPass(encoder, 'test');
        await encodeMatmul(ctx, pass, { transA, transB }, { M, N, K, a: ga, aBase: 5, b: gb, c: out, batch: { count, a: M * K, b: 0, c: M * N } }, transient);
        pass.end();
      });
      expect(maxAbsDiff(result, expected), `transA ${transA} transB ${transB}`).toBeLessThan(1e-5);
    }
  });

  it('linear layer with offsets matches linearRef', async () => {
    const [rows, inSize, outSize] = [9, 6, 5];
    const x = uniform(5, 2 + rows * inSize);
    const w = uniform(6, outSize * inSize);
    const b = uniform(7, 1 + outSize);
    const expected = linearRef(x.subarray(2), rows, inSize, w, b.subarray(1), outSize);
    const result = await runPass(rows * outSize * 4, async (encoder, out, transient) => {
      const [gx, gw, gb] = [ctx.upload(x, 'x'), ctx.upload(w, 'w'), ctx.upload(b, 'b')];
      transient.push(gx, gw, gb);
      const pass = ctx.beginPass(encoder, 'test');
      await encodeMatmul(ctx, pass, { transB: true, bias: true }, { M: rows, N: outSize, K: inSize, a: gx, aBase: 2, b: gw, bias: gb, biasBase: 1, c: out }, transient);
      pass.end();
    });
    expect(maxAbsDiff(result, expected)).toBeLessThan(1e-5);
  });
});

describe('rows', () => {
  it('l2norm rows, zero rows stay zero, and the pair mean', async () => {
    const [rows, cols] = [6, 37];
    const x = uniform(8, 2 * rows * cols, 3);
    x.fill(0, cols, 2 * cols); // row 1 zero in the first half
    x.fill(0, (rows + 1) * cols, (rows + 2) * cols); // and in the second
    const single = await runPass(rows * cols * 4, async (encoder, out, transient) => {
      const gx = ctx.upload(x, 'x');
      transient.push(gx);
      const pass = ctx.beginPass(encoder, 'test');
      await encodeL2normRows(ctx, pass, { rows, cols, x: gx, y: out }, transient);
      pass.end();
    });
    expect(maxAbsDiff(single, l2normRowsRef(Float64Array.from(x.subarray(0, rows * cols)), cols))).toBeLessThan(1e-6);
    expect(Array.from(single.subarray(cols, 2 * cols)).every((v) => v === 0)).toBe(true);
    const pair = await runPass(rows * cols * 4, async (encoder, out, transient) => {
      const gx = ctx.upload(x, 'x');
      transient.push(gx);
      const pass = ctx.beginPass(encoder, 'test');
      await encodeL2normRows(ctx, pass, { rows, cols, x: gx, y: out, pairMean: true }, transient);
      pass.end();
    });
    const mean = Float64Array.from({ length: rows * cols }, (_, i) => 0.5 * (x[i] + x[rows * cols + i]));
    expect(maxAbsDiff(pair, l2normRowsRef(mean, cols))).toBeLessThan(1e-6);
  });

  it('embedding gathers rows', async () => {
    const table = uniform(9, 10 * 3);
    const ids = Uint32Array.from([4, 0, 9, 4, 2]);
    const result = await runPass(ids.length * 3 * 4, async (encoder, out, transient) => {
      const [gt, gi] = [ctx.upload(table, 'table'), ctx.upload(ids, 'ids')];
      transient.push(gt, gi);
      const pass = ctx.beginPass(encoder, 'test');
      await encodeEmbedding(ctx, pass, { count: ids.length, dim: 3, ids: gi, table: gt, out }, transient);
      pass.end();
    });
    expect(Array.from(result)).toEqual(Array.from(ids).flatMap((id) => Array.from(table.subarray(id * 3, id * 3 + 3))));
  });
});

describe('bi-GRU', () => {
  for (const [M, L, I, H, lengths] of [[4, 6, 5, 7, [6, 1, 3, 4]], [3, 9, 16, 70, [9, 2, 5]]] as const) {
    it(`M=${M} L=${L} in=${I} H=${H}, own lengths both ways, zero padding`, async () => {
      const weights = {
        weightIH: [uniform(10, 3 * H * I, 0.5), uniform(11, 3 * H * I, 0.5)] as [Float32Array, Float32Array],
        weightHH: [uniform(12, 3 * H * H, 0.5), uniform(13, 3 * H * H, 0.5)] as [Float32Array, Float32Array],
        biasIH: [uniform(14, 3 * H, 0.5), uniform(15, 3 * H, 0.5)] as [Float32Array, Float32Array],
        biasHH: [uniform(16, 3 * H, 0.5), uniform(17, 3 * H, 0.5)] as [Float32Array, Float32Array],
        inputSize: I, hidden: H,
      };
      const input = uniform(18, M * L * I);
      const concat = (pair: [Float32Array, Float32Array]) => { const out = new Float32Array(pair[0].length * 2); out.set(pair[0]); out.set(pair[1], pair[0].length); return out; };
      const result = await runPass(2 * M * L * H * 4, async (encoder, out, transient) => {
        const bufs = [concat(weights.weightIH), concat(weights.weightHH), concat(weights.biasIH), concat(weights.biasHH), input, Uint32Array.from(lengths)]
          .map((d) => ctx.upload(d, 'gru input'));
        const gatesX = ctx.pool.acquire(2 * M * L * 3 * H * 4, GPUBufferUsage.STORAGE, 'gates');
        transient.push(...bufs, gatesX);
        await encodeBiGru(ctx, encoder, { weightIH: bufs[0], weightHH: bufs[1], biasIH: bufs[2], biasHH: bufs[3], inputSize: I, hidden: H },
          { captions: M, maxWords: L, input: bufs[4], lengths: bufs[5], maxLength: Math.max(...lengths), gatesX, hiddenOut: out }, transient);
      });
      expect(maxAbsDiff(result, biGruRef(input, M, L, lengths, weights))).toBeLessThan(1e-5);
    });
  }
});
