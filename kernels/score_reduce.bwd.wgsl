// The grouped score backward's last step (kernels/score.bwd.wgsl with groups > 1): per output
// element, the sum of the groups' partial gradients plus the Gram term, with the groups'
// partial Gram gradients summed first:
//   image side:   dV[n, r, d] = sum_g part_g[n, r, d] + 2 sum_q (sum_g dG_g[n, r, q]) V[n, q, d]
//   caption side: dU[m, w, d] = sum_g part_g[m, w, d] + 2 sum_v (sum_g dW_g[m, w, v]) U[m, v, d]
// (dG and dW are symmetric). Constants: WG, IMAGE_SIDE (bool), GRAM (bool: the side has a Gram
// term: NAAF and SCAN t2i on the image side, SCAN i2t on the caption side).

struct Params {
  rows: u32,          // N (image side) or M (caption side)
  items: u32,         // R or L: vectors per row
  dim: u32,           // D
  groups: u32,
  partialFloats: u32, // per group, = rows * items * dim
  scratchFloats: u32, // per group, = rows * items * items
  lengthsBase: u32,   // caption side: where the lengths start in `lengths`
  pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> features: array<f32>;  // V [N, R, D] or U [M, L, D]
@group(0) @binding(2) var<storage, read> partials: array<f32>;  // [groups][rows, items, dim]
@group(0) @binding(3) var<storage, read> gramParts: array<f32>; // [groups][rows, items, items]
@group(0) @binding(4) var<storage, read> lengths: array<u32>;   // caption side: [M] from lengthsBase
@group(0) @binding(5) var<storage, read_write> out: array<f32>; // dV or dU, overwritten

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) count: vec3u) {
  let index = gid.y * count.x * WG + gid.x;
  let total = params.rows * params.items * params.dim;
  if (index >= total) { return; }
  let dim = params.dim;
  let items = params.items;
  let row = index / (items * dim);
  let item = (index / dim) % items;
  let d = index % dim;
  var sum = 0.0;
  for (var g = 0u; g < params.groups; g++) { sum += partials[g * params.partialFloats + index]; }
  // Items past a caption's length: no Gram term (their partials are 0 too).
  var valid = items;
  if (!IMAGE_SIDE) { valid = lengths[params.lengthsBase + row]; }
  if (GRAM && item < valid) {
    var gram = 0.0;
    for (var q = 0u; q < valid; q++) {
      var coef = 0.0;
      for (var g = 0u; g < params.groups; g++) { coef += gramParts[g * params.scratchFloats + (row * items + item) * items + q]; }
      gram += coef * features[(row * items + q) * dim + d];
    }
    sum += 2.0 * gram;
  }
  out[index] = sum;
}
