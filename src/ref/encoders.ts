// Float64 references of the encoders (spec 2): l2norm(fc(x)) for regions, and embedding ->
// one-layer bi-GRU (gate order r, z, n; each caption run to its own length both ways) ->
// (forward + backward) / 2 -> l2norm for words; padded positions exactly 0.
import { EPS } from './common.js';

type Vec = ArrayLike<number>;

/** y[rows, out] = x[rows, in] W[out, in]^T + b[out]. */
export function linearRef(x: Vec, rows: number, inSize: number, weight: Vec, bias: Vec | null, outSize: number): Float64Array {
  const y = new Float64Array(rows * outSize);
  for (let i = 0; i < rows; i++) {
    for (let o = 0; o < outSize; o++) {
      let sum = bias ? bias[o] : 0;
      for (let k = 0; k < inSize; k++) sum += x[i * inSize + k] * weight[o * inSize + k];
      y[i * outSize + o] = sum;
    }
  }
  return y;
}

/** x_row / (sqrt(sum x_row^2) + 1e-8), in place. */
export function l2normRowsRef(x: Float64Array, cols: number): Float64Array {
  for (let start = 0; start < x.length; start += cols) {
    let sq = 0;
    for (let c = 0; c < cols; c++) sq += x[start + c] ** 2;
    const scale = 1 / (Math.sqrt(sq) + EPS);
    for (let c = 0; c < cols; c++) x[start + c] *= scale;
  }
  return x;
}

export interface GruRefWeights {
  weightIH: [Vec, Vec]; // forward, reverse: [3H, in]
  weightHH: [Vec, Vec]; // [3H, H]
  biasIH: [Vec, Vec]; // [3H]
  biasHH: [Vec, Vec]; // [3H]
  inputSize: number;
  hidden: number;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Hidden states [2][M, L, H] (forward, backward); zero at padded positions. */
export function biGruRef(input: Vec, M: number, L: number, lengths: ArrayLike<number>, w: GruRefWeights): Float64Array {
  const H = w.hidden;
  const I = w.inputSize;
  const out = new Float64Array(2 * M * L * H);
  for (let direction = 0; direction < 2; direction++) {
    for (let m = 0; m < M; m++) {
      let h = new Float64Array(H);
      for (let k = 0; k < lengths[m]; k++) {
        const t = direction === 0 ? k : lengths[m] - 1 - k;
        const next = new Float64Array(H);
        for (let j = 0; j < H; j++) {
          const gate = (g: number) => {
            const row = g * H + j;
            let x = w.biasIH[direction][row];
            for (let i = 0; i < I; i++) x += w.weightIH[direction][row * I + i] * input[(m * L + t) * I + i];
            let hh = w.biasHH[direction][row];
            for (let i = 0; i < H; i++) hh += w.weightHH[direction][row * H + i] * h[i];
            return [x, hh];
          };
          const [xr, hr] = gate(0);
          const [xz, hz] = gate(1);
          const [xn, hn] = gate(2);
          const r = sigmoid(xr + hr);
          const z = sigmoid(xz + hz);
          const n = Math.tanh(xn + r * hn);
          next[j] = (1 - z) * n + z * h[j];
        }
        out.set(next, ((direction * M + m) * L + t) * H);
        h = next;
      }
    }
  }
  return out;
}

/** Caption embeddings [M, L, H]: l2norm((forward + backward) / 2), zero at padded positions. */
export function encodeCaptionsRef(ids: ArrayLike<number>, M: number, L: number, lengths: ArrayLike<number>, embed: Vec, w: GruRefWeights): Float64Array {
  const I = w.inputSize;
  const input = new Float64Array(M * L * I);
  for (let i = 0; i < M * L; i++) {
    for (let k = 0; k < I; k++) input[i * I + k] = embed[ids[i] * I + k];
  }
  const hidden = biGruRef(input, M, L, lengths, w);
  const H = w.hidden;
  const mean = new Float64Array(M * L * H);
  for (let i = 0; i < M * L * H; i++) mean[i] = 0.5 * (hidden[i] + hidden[M * L * H + i]);
  return l2normRowsRef(mean, H);
}

/** Region embeddings [N, R, E] = l2norm(fc(x)). */
export function encodeImagesRef(features: Vec, rows: number, imgDim: number, weight: Vec, bias: Vec, embedSize: number): Float64Array {
  return l2normRowsRef(linearRef(features, rows, imgDim, weight, bias, embedSize), embedSize);
}
