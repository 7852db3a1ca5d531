// Float64 analytic backpropagation through time of the one-layer bi-GRU of biGruRef
// (src/ref/encoders.ts): PyTorch gate order r, z, n, each caption run to its own length both
// ways. Given dL/d(hidden outputs) [2][M, L, H], returns dL/dx and the parameter gradients.
// Written from the equations, independent of the kernels, to check them.
import type { GruRefWeights } from './encoders.js';

type Vec = ArrayLike<number>;

export interface GruRefGrads {
  input: Float64Array; // [M, L, in], zero at padded positions
  weightIH: [Float64Array, Float64Array]; // forward, reverse: [3H, in]
  weightHH: [Float64Array, Float64Array]; // [3H, H]
  biasIH: [Float64Array, Float64Array]; // [3H]
  biasHH: [Float64Array, Float64Array]; // [3H]
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

interface StepState {
  t: number;
  hPrev: Float64Array;
  r: Float64Array; z: Float64Array; n: Float64Array;
  hn: Float64Array; // W_hn h_prev + b_hn
}

/** One caption, one direction: the forward with what the backward needs kept per step. */
function forwardSteps(input: Vec, L: number, m: number, len: number, direction: number, w: GruRefWeights): StepState[] {
  const H = w.hidden;
  const I = w.inputSize;
  const wIH = w.weightIH[direction];
  const wHH = w.weightHH[direction];
  const bIH = w.biasIH[direction];
  const bHH = w.biasHH[direction];
  const steps: StepState[] = [];
  let h = new Float64Array(H);
  for (let k = 0; k < len; k++) {
    const t = direction === 0 ? k : len - 1 - k;
    const s: StepState = { t, hPrev: h, r: new Float64Array(H), z: new Float64Array(H), n: new Float64Array(H), hn: new Float64Array(H) };
    const next = new Float64Array(H);
    const pre = (row: number, hidden: boolean) => {
      let sum = hidden ? bHH[row] : bIH[row];
      if (hidden) for (let i = 0; i < H; i++) sum += wHH[row * H + i] * h[i];
      else for (let i = 0; i < I; i++) sum += wIH[row * I + i] * input[(m * L + t) * I + i];
      return sum;
    };
    for (let j = 0; j < H; j++) {
      s.r[j] = sigmoid(pre(j, false) + pre(j, true));
      s.z[j] = sigmoid(pre(H + j, false) + pre(H + j, true));
      s.hn[j] = pre(2 * H + j, true);
      s.n[j] = Math.tanh(pre(2 * H + j, false) + s.r[j] * s.hn[j]);
      next[j] = (1 - s.z[j]) * s.n[j] + s.z[j] * h[j];
    }
    steps.push(s);
    h = next;
  }
  return steps;
}

/** Gradients of L = sum(gradHidden * biGruRef(input, ...)) w.r.t. input and every weight. */
export function biGruBackwardRef(input: Vec, M: number, L: number, lengths: ArrayLike<number>, w: GruRefWeights, gradHidden: Vec): GruRefGrads {
  const H = w.hidden;
  const I = w.inputSize;
  const G = 3 * H;
  const pair = (size: number): [Float64Array, Float64Array] => [new Float64Array(size), new Float64Array(size)];
  const grads: GruRefGrads = {
    input: new Float64Array(M * L * I),
    weightIH: pair(G * I), weightHH: pair(G * H), biasIH: pair(G), biasHH: pair(G),
  };
  const dgx = new Float64Array(G); // w.r.t. W_ih x + b_ih
  const dgh = new Float64Array(G); // w.r.t. W_hh h_prev + b_hh
  for (let direction = 0; direction < 2; direction++) {
    const wIH = w.weightIH[direction];
    const wHH = w.weightHH[direction];
    for (let m = 0; m < M; m++) {
      const steps = forwardSteps(input, L, m, lengths[m], direction, w);
      let dhNext = new Float64Array(H);
      for (let k = steps.length - 1; k >= 0; k--) {
        const s = steps[k];
        const dh = new Float64Array(H);
        for (let j = 0; j < H; j++) {
          dh[j] = gradHidden[((direction * M + m) * L + s.t) * H + j] + dhNext[j];
          // h = (1 - z) n + z h_prev; n = tanh(a_n), a_n = gx_n + r hn; r, z = sigmoid(.)
          const daN = dh[j] * (1 - s.z[j]) * (1 - s.n[j] ** 2);
          const daZ = dh[j] * (s.hPrev[j] - s.n[j]) * s.z[j] * (1 - s.z[j]);
          const daR = daN * s.hn[j] * s.r[j] * (1 - s.r[j]);
          dgx[j] = daR; dgx[H + j] = daZ; dgx[2 * H + j] = daN;
          dgh[j] = daR; dgh[H + j] = daZ; dgh[2 * H + j] = daN * s.r[j];
        }
        const xRow = (m * L + s.t) * I;
        for (let g = 0; g < G; g++) {
          grads.biasIH[direction][g] += dgx[g];
          grads.biasHH[direction][g] += dgh[g];
          for (let i = 0; i < I; i++) {
            grads.weightIH[direction][g * I + i] += dgx[g] * input[xRow + i];
            grads.input[xRow + i] += dgx[g] * wIH[g * I + i];
          }
          for (let i = 0; i < H; i++) grads.weightHH[direction][g * H + i] += dgh[g] * s.hPrev[i];
        }
        const dhPrev = new Float64Array(H);
        for (let i = 0; i < H; i++) {
          let sum = dh[i] * s.z[i];
          for (let g = 0; g < G; g++) sum += wHH[g * H + i] * dgh[g];
          dhPrev[i] = sum;
        }
        dhNext = dhPrev;
      }
    }
  }
  return grads;
}
