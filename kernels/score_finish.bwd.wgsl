// The split score backward's last step, in place on the GEMMs' dV or dU: the Gram term and
// the gradient through the vectors' norms, which are not products with dS:
//   out[row, item, d] += 2 sum_q (sum_g dGram_g[row, item, q]) X[row, q, d]   (GRAM)
//                        + scale[row * items + item] X[row, item, d]          (SCALE)
// X = V [N, R, D] (image side) or U [M, L, D] (caption side), dGram = dG or dW (symmetric), and
// `scale` the per-vector sums of the epilogue's scales. Items past a caption's length are left
// as they are (the GEMM wrote 0 there). Constants: WG, IMAGE_SIDE, GRAM, SCALE (bool).

struct Params {
  rows: u32,          // N or M
  items: u32,         // R or L
  dim: u32,           // D
  groups: u32,        // partial Gram gradients to add up
  gramFloats: u32,    // floats per group = rows * items * items
  lengthsBase: u32,   // caption side: where the lengths start in `lengths`
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> features: array<f32>;  // X
@group(0) @binding(2) var<storage, read> gramParts: array<f32>; // [groups][rows, items, items]
@group(0) @binding(3) var<storage, read> lengths: array<u32>;   // caption side: [M] from lengthsBase
@group(0) @binding(4) var<storage, read> scale: array<f32>;     // [rows * items]
@group(0) @binding(5) var<storage, read_write> out: array<f32>; // dV or dU

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) count: vec3u) {
  let index = gid.y * count.x * WG + gid.x;
  let dim = params.dim;
  let items = params.items;
  if (index >= params.rows * items * dim) { return; }
  let row = index / (items * dim);
  let item = (index / dim) % items;
  let d = index % dim;
  var valid = items;
  if (!IMAGE_SIDE) { valid = lengths[params.lengthsBase + row]; }
  if (item >= valid) { return; }
  var sum = out[index];
  if (GRAM) {
    var gram = 0.0;
    for (var q = 0u; q < valid; q++) {
      var coef = 0.0;
      for (var g = 0u; g < params.groups; g++) { coef += gramParts[g * params.gramFloats + (row * items + item) * items + q]; }
      gram += coef * features[(row * items + q) * dim + d];
    }
    sum += 2.0 * gram;
  }
  if (SCALE) { sum += scale[row * items + item] * features[index]; }
  out[index] = sum;
}
