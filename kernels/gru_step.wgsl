// One time step of a one-layer bidirectional GRU (PyTorch gate order r, z, n) for every caption,
// both directions in one dispatch. Step k runs the forward direction at t = k and the backward
// direction at t = len - 1 - k, so each caption runs to its own length both ways; positions at
// or past a caption's length are never written (the output buffer starts zeroed).
//   r = sigma(gx_r + W_hr h + b_hr), z = sigma(gx_z + W_hz h + b_hz),
//   n = tanh(gx_n + r * (W_hn h + b_hn)), h' = (1 - z) n + z h,  h0 = 0,
// with gx = W_i x + b_i precomputed for all steps by matmul. The previous state is read from
// the output itself (t - 1 forward, t + 1 backward).
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
@group(0) @binding(3) var<storage, read> weightHH: array<f32>;    // [2][3H, H]
@group(0) @binding(4) var<storage, read> biasHH: array<f32>;      // [2][3H]
@group(0) @binding(5) var<storage, read_write> hiddenOut: array<f32>; // [2][M, L, H]
@group(0) @binding(6) var<storage, read_write> gateCache: array<f32>; // [2][M, L, 4H], or unused

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
  var hasPrev = k > 0u;
  var prevT = 0u;
  if (direction == 0u) {
    prevT = t - 1u;
  } else {
    t = len - 1u - k;
    prevT = t + 1u;
  }
  let outBase = direction * M * L * H;
  let prevBase = outBase + (m * L + prevT) * H;
  let wBase = direction * 3u * H * H;
  let bBase = direction * 3u * H;
  var ghR = biasHH[bBase + j];
  var ghZ = biasHH[bBase + H + j];
  var ghN = biasHH[bBase + 2u * H + j];
  var hPrevJ = 0.0;
  if (hasPrev) {
    for (var i = 0u; i < H; i++) {
      let h = hiddenOut[prevBase + i];
      ghR += weightHH[wBase + j * H + i] * h;
      ghZ += weightHH[wBase + (H + j) * H + i] * h;
      ghN += weightHH[wBase + (2u * H + j) * H + i] * h;
    }
    hPrevJ = hiddenOut[prevBase + j];
  }
  let gxBase = direction * M * L * 3u * H + (m * L + t) * 3u * H;
  let r = sigmoid(gatesX[gxBase + j] + ghR);
  let z = sigmoid(gatesX[gxBase + H + j] + ghZ);
  let n = safeTanh(gatesX[gxBase + 2u * H + j] + r * ghN);
  hiddenOut[outBase + (m * L + t) * H + j] = (1.0 - z) * n + z * hPrevJ;
  if (STORE_GATES) {
    let cacheBase = direction * M * L * 4u * H + (m * L + t) * 4u * H;
    gateCache[cacheBase + j] = r;
    gateCache[cacheBase + H + j] = z;
    gateCache[cacheBase + 2u * H + j] = n;
    gateCache[cacheBase + 3u * H + j] = ghN;
  }
}
