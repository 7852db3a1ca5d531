// One time step of a one-layer bidirectional GRU (PyTorch gate order r, z, n) for every caption,
// both directions in one dispatch. Step k runs the forward direction at t = k and the backward
// direction at t = len - 1 - k, so each caption runs to its own length both ways; positions at
// or past a caption's length are never written (the output buffer starts zeroed).
//   r = sigma(gx_r + gh_r), z = sigma(gx_z + gh_z), n = tanh(gx_n + r * gh_n),
//   h' = (1 - z) n + z h,  h0 = 0,
// with gx = W_i x + b_i precomputed for all steps and gh = W_hh h + b_hh for this step
// precomputed by a tiled matmul over every caption's latest state (`state`, which this step
// updates); at step 0 gh = b_hh. The per-step products are thus GEMMs, not one dot product
// per thread (src/ops/gru.ts).
// With STORE_GATES (the training forward) it also keeps what the backward needs, per
// (direction, m, t, j), in gateCache [2][M, L, 4H]: r, z, n and hn = W_hn h_prev + b_hn (the n
// gate's hidden part, which dr needs): 4H floats per position, instead of a second W_hh h_prev
// product per step in the backward. Constant: STORE_GATES (bool).

struct Params {
  captions: u32, // M
  maxWords: u32, // L
  hidden: u32,   // H
  step: u32,     // k
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> lengths: array<u32>;     // [M]
@group(0) @binding(2) var<storage, read> gatesX: array<f32>;      // [2][M, L, 3H]
@group(0) @binding(3) var<storage, read> gatesH: array<f32>;      // [2][M, 3H]: W_hh h + b_hh of this step (k > 0)
@group(0) @binding(4) var<storage, read> biasHH: array<f32>;      // [2][3H]
@group(0) @binding(5) var<storage, read_write> hiddenOut: array<f32>; // [2][M, L, H]
@group(0) @binding(6) var<storage, read_write> gateCache: array<f32>; // [2][M, L, 4H], or unused
@group(0) @binding(7) var<storage, read_write> state: array<f32>;     // [2][M, H]: each caption's latest h

fn sigmoid(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

// tanh through exp(-2|x|), which cannot overflow (a naive (e^2x - 1) / (e^2x + 1) gives NaN).
fn safeTanh(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let H = params.hidden;
  let L = params.maxWords;
  let M = params.captions;
  let j = gid.x;
  let m = gid.y;
  let direction = gid.z;
  if (j >= H || m >= M) { return; }
  let len = lengths[m];
  let k = params.step;
  if (k >= len) { return; }
  var t = k;
  if (direction == 1u) { t = len - 1u - k; }
  let outBase = direction * M * L * H;
  let stateIndex = (direction * M + m) * H + j;
  var gh = vec3<f32>(biasHH[direction * 3u * H + j], biasHH[direction * 3u * H + H + j], biasHH[direction * 3u * H + 2u * H + j]);
  var hPrevJ = 0.0;
  if (k > 0u) {
    let ghBase = (direction * M + m) * 3u * H;
    gh = vec3<f32>(gatesH[ghBase + j], gatesH[ghBase + H + j], gatesH[ghBase + 2u * H + j]);
    hPrevJ = state[stateIndex];
  }
  let ghR = gh.x;
  let ghZ = gh.y;
  let ghN = gh.z;
  let gxBase = direction * M * L * 3u * H + (m * L + t) * 3u * H;
  let r = sigmoid(gatesX[gxBase + j] + ghR);
  let z = sigmoid(gatesX[gxBase + H + j] + ghZ);
  let n = safeTanh(gatesX[gxBase + 2u * H + j] + r * ghN);
  let h = (1.0 - z) * n + z * hPrevJ;
  hiddenOut[outBase + (m * L + t) * H + j] = h;
  state[stateIndex] = h;
  if (STORE_GATES) {
    let cacheBase = direction * M * L * 4u * H + (m * L + t) * 4u * H;
    gateCache[cacheBase + j] = r;
    gateCache[cacheBase + H + j] = z;
    gateCache[cacheBase + 2u * H + j] = n;
    gateCache[cacheBase + 3u * H + j] = ghN;
  }
}
