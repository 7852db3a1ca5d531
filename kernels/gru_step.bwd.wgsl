// Backpropagation through one bi-GRU time step k (both directions per dispatch, the same time
// indexing as kernels/gru_step.wgsl: forward at t = k, backward at t = len - 1 - k). The
// launcher runs k = maxLen - 1 down to 0. Per (direction, m, j): dh = dOut[t] + carry (the
// gradient arriving from the later step of that direction), then with the cached r, z, n, hn
// and h_prev:
//   dn = dh (1 - z), dz = dh (h_prev - n), da_n = dn (1 - n^2), da_z = dz z (1 - z),
//   da_r = da_n hn r (1 - r);
// gradients w.r.t. the input pre-activations gx = W_ih x + b_ih: (da_r, da_z, da_n), and
// w.r.t. the hidden pre-activations gh = W_hh h_prev + b_hh: dgh = (da_r, da_z, da_n r), kept
// per position (for dW_hh, one matmul later) and per caption for this step (stepGrad, zero for
// captions not running at this step). carry becomes dh z; the launcher then adds dgh W_hh with a
// tiled matmul over every caption: the gradient w.r.t. h_prev that the earlier step adds.
// Also copies h_prev (0 at a direction's first step) to hPrev, so dW_hh is one matmul later.
// Every thread reads and writes only its own carry element, so the in-place update is race-free.
// Positions past a caption's length are never written (the launcher zeroes the outputs).

struct Params {
  captions: u32, // M
  maxWords: u32, // L
  hidden: u32,   // H
  step: u32,     // k
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> lengths: array<u32>;      // [M]
@group(0) @binding(2) var<storage, read> gradHidden: array<f32>;   // dOut [2][M, L, H]
@group(0) @binding(3) var<storage, read> gateCache: array<f32>;    // [2][M, L, 4H]: r, z, n, hn
@group(0) @binding(4) var<storage, read> hiddenOut: array<f32>;    // [2][M, L, H]
@group(0) @binding(6) var<storage, read_write> gateGrads: array<f32>; // dgx [2][M, L, 3H], dgh [2][M, L, 3H], then this step's dgh [2][M, 3H]
@group(0) @binding(7) var<storage, read_write> hPrev: array<f32>;  // [2][M, L, H]
@group(0) @binding(8) var<storage, read_write> carry: array<f32>;  // [2][M, H]

struct Position {
  valid: bool,
  t: u32,
  prevT: u32,
  hasPrev: bool,
}

fn position(m: u32, direction: u32) -> Position {
  var p: Position;
  let len = lengths[m];
  let k = params.step;
  p.valid = k < len;
  if (!p.valid) { return p; }
  p.hasPrev = k > 0u;
  if (direction == 0u) {
    p.t = k;
    p.prevT = k - 1u; // wraps at k = 0, unused then
  } else {
    p.t = len - 1u - k;
    p.prevT = p.t + 1u;
  }
  return p;
}

fn gateGradients(j: u32, m: u32, direction: u32) {
  let H = params.hidden;
  let L = params.maxWords;
  let M = params.captions;
  let p = position(m, direction);
  let stepBase = 4u * M * L * 3u * H + (direction * M + m) * 3u * H;
  if (!p.valid) {
    // Not running yet at this step: no gradient flows into h_prev.
    gateGrads[stepBase + j] = 0.0;
    gateGrads[stepBase + H + j] = 0.0;
    gateGrads[stepBase + 2u * H + j] = 0.0;
    return;
  }
  let row = m * L + p.t;
  let stateBase = direction * M * L * H;
  let carryIndex = (direction * M + m) * H + j;
  let dh = gradHidden[stateBase + row * H + j] + carry[carryIndex];
  let cacheBase = (direction * M * L + row) * 4u * H;
  let r = gateCache[cacheBase + j];
  let z = gateCache[cacheBase + H + j];
  let n = gateCache[cacheBase + 2u * H + j];
  let hn = gateCache[cacheBase + 3u * H + j];
  var hPrevJ = 0.0;
  if (p.hasPrev) { hPrevJ = hiddenOut[stateBase + (m * L + p.prevT) * H + j]; }
  hPrev[stateBase + row * H + j] = hPrevJ;
  let daN = dh * (1.0 - z) * (1.0 - n * n);
  let daZ = dh * (hPrevJ - n) * z * (1.0 - z);
  let daR = daN * hn * r * (1.0 - r);
  let dgxBase = (direction * M * L + row) * 3u * H;
  let dghBase = 2u * M * L * 3u * H + dgxBase;
  gateGrads[dgxBase + j] = daR;
  gateGrads[dgxBase + H + j] = daZ;
  gateGrads[dgxBase + 2u * H + j] = daN;
  gateGrads[dghBase + j] = daR;
  gateGrads[dghBase + H + j] = daZ;
  gateGrads[dghBase + 2u * H + j] = daN * r;
  gateGrads[stepBase + j] = daR;
  gateGrads[stepBase + H + j] = daZ;
  gateGrads[stepBase + 2u * H + j] = daN * r;
  carry[carryIndex] = dh * z;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= params.hidden || gid.y >= params.captions) { return; }
  gateGradients(gid.x, gid.y, gid.z);
}
