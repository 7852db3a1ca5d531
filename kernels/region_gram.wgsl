// Per-image region Gram matrix G_n = V_n V_n^T [R, R] (spec 10): the score kernels get the
// attended context's norm from it instead of forming the context vector.
// Constants: WG (threads), R (regions).

struct Params {
  imgBase: u32,   // element offset of the chunk's first image in `images`
  dim: u32,
  numImages: u32,
  gramBase: u32,  // where image 0's G goes in `gram` (images)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> images: array<f32>;         // [N, R, D]
@group(0) @binding(2) var<storage, read_write> gram: array<f32>;     // [chunk N, R, R]

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  let n = group.x;
  let dim = params.dim;
  let base = params.imgBase + n * R * dim;
  // Upper triangle only, mirrored: G is symmetric.
  for (var idx = tid; idx < R * R; idx += WG) {
    let r = idx / R;
    let q = idx % R;
    if (q >= r) {
      var sum = 0.0;
      for (var d = 0u; d < dim; d++) { sum += images[base + r * dim + d] * images[base + q * dim + d]; }
      let g = (params.gramBase + n) * R * R;
      gram[g + r * R + q] = sum;
      gram[g + q * R + r] = sum;
    }
  }
}
