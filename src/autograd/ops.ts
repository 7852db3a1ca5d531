// Differentiable ops over the tape: each forward encodes its kernels now and registers its
// backward (kernels again) right beside it.
import { encodeMatmul } from '../ops/matmul.js';
import { encodeTripletLoss } from '../ops/loss.js';
import { encodeEmbedding, encodeL2normRows } from '../ops/rows.js';
import { encodeEmbeddingBackward, encodeL2normRowsBackward } from '../ops/rowsBackward.js';
import { Parameter, Tape, Variable } from './tape.js';
import type { GpuPass } from '../gpu/pass.js';

function inPass(tape: Tape, encoder: GPUCommandEncoder, label: string, body: (pass: GpuPass) => Promise<void>): Promise<void> {
  const pass = tape.ctx.beginPass(encoder, label);
  return body(pass).finally(() => pass.end());
}

/** y [rows, out] = x [rows, in] W [out, in]^T + b [out]. */
export async function linear(tape: Tape, x: Variable, weight: Parameter, bias: Parameter): Promise<Variable> {
  const [rows, inSize] = [x.shape[0], x.shape[1]];
  const outSize = weight.shape[0];
  if (weight.shape[1] !== inSize) throw new Error(`linear: ${weight.label} is [${weight.shape}], input ${x.label} has ${inSize} columns`);
  for (const v of [x, weight, bias]) tape.use(v, 'linear');
  const y = tape.variable([rows, outSize], `${weight.label} output`);
  const { ctx } = tape;
  await inPass(tape, tape.encoder, 'linear', (pass) => encodeMatmul(ctx, pass, { transB: true, bias: true },
    { M: rows, N: outSize, K: inSize, a: x.data, b: weight.data, bias: bias.data, c: y.data }, tape.transient, 'matmul linear'));
  tape.record('linear', async (encoder) => {
    const dY = tape.gradOf(y);
    const ones = tape.buffer(rows, 'ones');
    ctx.device.queue.writeBuffer(ones, 0, new Float32Array(rows).fill(1));
    await inPass(tape, encoder, 'linear backward', async (pass) => {
      // dW += dY^T X, db += 1^T dY, dX = dY W
      await encodeMatmul(ctx, pass, { transA: true, accumulate: true }, { M: outSize, N: inSize, K: rows, a: dY, b: x.data, c: weight.grad! }, tape.transient, 'matmul linear.bwd');
      await encodeMatmul(ctx, pass, { accumulate: true }, { M: 1, N: outSize, K: rows, a: ones, b: dY, c: bias.grad! }, tape.transient, 'matmul linear.bwd');
      if (x.requiresGrad) await encodeMatmul(ctx, pass, {}, { M: rows, N: inSize, K: outSize, a: dY, b: weight.data, c: tape.gradOf(x) }, tape.transient, 'matmul linear.bwd');
    });
  });
  return y;
}

/** Rows divided by (their l2 norm + 1e-8); with pairMean, of the mean of x's two halves [2][rows][cols]. */
export async function l2normRows(tape: Tape, x: Variable, options: { pairMean?: boolean } = {}): Promise<Variable> {
  const pairMean = !!options.pairMean;
  const cols = x.shape[x.shape.length - 1];
  const rows = x.size / cols / (pairMean ? 2 : 1);
  tape.use(x, 'l2norm');
  const y = tape.variable([rows, cols], `l2norm(${x.label})`);
  const { ctx } = tape;
  await inPass(tape, tape.encoder, 'l2norm', (pass) => encodeL2normRows(ctx, pass, { rows, cols, x: x.data, y: y.data, pairMean }, tape.transient));
  tape.record('l2norm', async (encoder) => {
    if (!x.requiresGrad) return;
    await inPass(tape, encoder, 'l2norm backward', (pass) =>
      encodeL2normRowsBackward(ctx, pass, { rows, cols, x: x.data, gradOut: tape.gradOf(y), gradIn: tape.gradOf(x), pairMean }, tape.transient));
  });
  return y;
}

/** Rows of `table` [vocab, dim] at `ids` (CPU copy given for the race-free backward); positions outside `include` get no gradient. */
export async function embedding(tape: Tape, ids: Variable, hostIds: ArrayLike<number>, include: (position: number) => boolean, table: Parameter): Promise<Variable> {
  const dim = table.shape[1];
  const count = ids.size;
  tape.use(table, 'embedding');
  const y = tape.variable([count, dim], `${table.label} rows`);
  const { ctx } = tape;
  await inPass(tape, tape.encoder, 'embedding', (pass) => encodeEmbedding(ctx, pass, { count, dim, ids: ids.data, table: table.data, out: y.data }, tape.transient));
  tape.record('embedding', async (encoder) => {
    await inPass(tape, encoder, 'embedding backward', (pass) =>
      encodeEmbeddingBackward(ctx, pass, { ids: hostIds, include, dim, gradOut: tape.gradOf(y), gradTable: table.grad! }, tape.transient));
  });
  return y;
}

/** The hardest-negative triplet loss of sims [B, B] (rows images, columns captions): a [1] variable. */
export async function tripletLoss(tape: Tape, sims: Variable, batch: number, margin: number, maxViolation = true): Promise<Variable> {
  tape.use(sims, 'triplet loss');
  const loss = tape.variable([1], 'loss');
  const gradSims = tape.gradOf(sims); // dLoss/dS comes out of the forward kernel itself
  const { ctx } = tape;
  await inPass(tape, tape.encoder, 'triplet loss', (pass) =>
    encodeTripletLoss(ctx, pass, { batch, margin, maxViolation, sims: sims.data, gradSims, loss: loss.data }, tape.transient));
  tape.record('triplet loss', async () => {});
  return loss;
}
