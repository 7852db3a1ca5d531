// y_row = x_row / (sqrt(sum x_row^2) + 1e-8), the original's l2norm (eps added to the norm, so
// an all-zero padded row stays 0). With PAIR_MEAN, x_row = (first half + second half) / 2 of a
// bi-GRU's outputs stored as [2][rows][cols]. One workgroup per row. Constants: WG, PAIR_MEAN.

struct Params {
  rows: u32,
  cols: u32,
  inBase: u32,
  outBase: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, WG>;

fn value(row: u32, col: u32) -> f32 {
  let v = x[params.inBase + row * params.cols + col];
  if (PAIR_MEAN) { return 0.5 * (v + x[params.inBase + (params.rows + row) * params.cols + col]); }
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  let row = group.x + group.y * 65535u;
  let inRange = row < params.rows;
  var sq = 0.0;
  if (inRange) {
    for (var col = tid; col < params.cols; col += WG) {
      let v = value(row, col);
      sq += v * v;
    }
  }
  partial[tid] = sq;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (tid < stride) { partial[tid] += partial[tid + stride]; }
    workgroupBarrier();
  }
  if (inRange) {
    let scale = 1.0 / (sqrt(partial[0]) + 1e-8);
    for (var col = tid; col < params.cols; col += WG) {
      y[params.outBase + row * params.cols + col] = value(row, col) * scale;
    }
  }
}
