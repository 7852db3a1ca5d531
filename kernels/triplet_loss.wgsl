// Hardest-negative triplet loss (spec 3.4) and its gradient, one workgroup. S [B, B]: rows
// images, columns captions, diagonal positives.
//   cost_s[i, j] = [m + S_ij - S_ii]_+ , cost_im[i, j] = [m + S_ij - S_jj]_+ , diagonals zeroed;
//   MAX_VIOLATION: L = sum_i max_j cost_s[i, j] + sum_j max_i cost_im[i, j]; else the sum of all.
// dS = dL/dS (the first maximum on ties, as torch's max). Constants: WG, MAX_VIOLATION.

struct Params {
  batch: u32,
  margin: f32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> sims: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;  // [B, B]
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;  // [1]

var<workgroup> partial: array<f32, WG>;

fn costS(i: u32, j: u32) -> f32 {
  if (i == j) { return 0.0; }
  let B = params.batch;
  return max(params.margin + sims[i * B + j] - sims[i * B + i], 0.0);
}

fn costIm(i: u32, j: u32) -> f32 {
  if (i == j) { return 0.0; }
  let B = params.batch;
  return max(params.margin + sims[i * B + j] - sims[j * B + j], 0.0);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32) {
  let B = params.batch;
  for (var k = tid; k < B * B; k += WG) { grad[k] = 0.0; }
  workgroupBarrier();
  storageBarrier();
  var total = 0.0;
  if (MAX_VIOLATION) {
    // Row i (an image's hardest caption) and column i (a caption's hardest image) both belong
    // to thread i, so the gradient entries each thread touches do not collide: rows go first.
    for (var i = tid; i < B; i += WG) {
      var best = 0.0;
      var arg = 0u;
      for (var j = 0u; j < B; j++) {
        let c = costS(i, j);
        if (c > best) { best = c; arg = j; }
      }
      total += best;
      if (best > 0.0) {
        grad[i * B + arg] += 1.0;
        grad[i * B + i] -= 1.0;
      }
    }
    workgroupBarrier();
    storageBarrier();
    for (var j = tid; j < B; j += WG) {
      var best = 0.0;
      var arg = 0u;
      for (var i = 0u; i < B; i++) {
        let c = costIm(i, j);
        if (c > best) { best = c; arg = i; }
      }
      total += best;
      if (best > 0.0) {
        grad[arg * B + j] += 1.0;
        grad[j * B + j] -= 1.0;
      }
    }
  } else {
    for (var k = tid; k < B * B; k += WG) {
      let i = k / B;
      let j = k % B;
      total += costS(i, j) + costIm(i, j);
    }
  }
  partial[tid] = total;
  workgroupBarrier();
  if (!MAX_VIOLATION) {
    // d/dS_ij of every positive cost, gathered per entry (no two threads write one entry).
    for (var k = tid; k < B * B; k += WG) {
      let i = k / B;
      let j = k % B;
      var g = 0.0;
      if (i != j) {
        if (costS(i, j) > 0.0) { g += 1.0; }
        if (costIm(i, j) > 0.0) { g += 1.0; }
      } else {
        for (var q = 0u; q < B; q++) {
          if (costS(i, q) > 0.0) { g -= 1.0; }
          if (costIm(q, i) > 0.0) { g -= 1.0; }
        }
      }
      grad[k] = g;
    }
  }
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (tid < stride) { partial[tid] += partial[tid + stride]; }
    workgroupBarrier();
  }
  if (tid == 0u) { loss[0] = partial[0]; }
}
