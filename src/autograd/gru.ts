// The bidirectional GRU as a tape op: the training forward keeps the gate activations, the
// backward is backpropagation through time (src/ops/gruBackward.ts), all in WGSL.
import { encodeBiGruBackward, encodeBiGruTrainForward } from '../ops/gruBackward.js';
import { Parameter, Tape, Variable } from './tape.js';
import { maxOf } from '../arrays.js';

export interface GruParameters {
  weightIH: Parameter; // [2, 3H, I]
  weightHH: Parameter; // [2, 3H, H]
  biasIH: Parameter; // [2, 3H]
  biasHH: Parameter; // [2, 3H]
}

/** Hidden states [2, M, L, H] (forward, backward directions) of inputs [M*L, I]; zero past each length. */
export async function biGru(tape: Tape, x: Variable, params: GruParameters, lengths: Int32Array, M: number, L: number, inputSize: number, hidden: number): Promise<Variable> {
  const { ctx } = tape;
  for (const v of [x, params.weightIH, params.weightHH, params.biasIH, params.biasHH]) tape.use(v, 'bi-gru');
  const weights = { weightIH: params.weightIH.data, weightHH: params.weightHH.data, biasIH: params.biasIH.data, biasHH: params.biasHH.data, inputSize, hidden };
  const out = tape.variable([2, M, L, hidden], 'gru hidden');
  const gatesX = tape.buffer(2 * M * L * 3 * hidden, 'gru input gates');
  const lengthBuffer = tape.buffer(M, 'gru lengths');
  ctx.device.queue.writeBuffer(lengthBuffer, 0, Uint32Array.from(lengths));
  const maxLength = maxOf(lengths);
  const args = { captions: M, maxWords: L, input: x.data, lengths: lengthBuffer, maxLength, gatesX, hiddenOut: out.data, hostLengths: lengths };
  const cache = await encodeBiGruTrainForward(ctx, tape.encoder, weights, args, tape.transient);
  tape.transient.push(cache.gates); // lives until the tape is released, after the backward ran
  tape.record('bi-gru', async (encoder) => {
    await encodeBiGruBackward(ctx, encoder, weights, {
      captions: M, maxWords: L, lengths: lengthBuffer, maxLength, input: x.data, hiddenOut: out.data, cache, gradHidden: tape.gradOf(out), hostLengths: lengths,
    }, {
      input: tape.gradOf(x), weightIH: params.weightIH.grad!, weightHH: params.weightHH.grad!, biasIH: params.biasIH.grad!, biasHH: params.biasHH.grad!,
    }, tape.transient);
  });
  return out;
}
