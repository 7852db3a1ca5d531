// Backward of l2norm_rows.wgsl: y = x / (n + 1e-8), n = ||x||, per row:
//   dx = dy / (n + eps) - x (x . dy) / (n (n + eps)^2)      (dx = dy / eps for an all-zero row)
// With PAIR_MEAN, x = (a + b) / 2 over the two halves of [2][rows][cols] and da = db = dx / 2,
// written to both halves of dx. One workgroup per row. Constants: WG, PAIR_MEAN.

struct Params {
  rows: u32,
  cols: u32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;       // forward input
@group(0) @binding(2) var<storage, read> dy: array<f32>;      // [rows, cols]
@group(0) @binding(3) var<storage, read_write> dx: array<f32>; // like x

const EPS: f32 = 1e-8;
var<workgroup> sumSq: array<f32, WG>;
var<workgroup> sumDot: array<f32, WG>;

fn value(row: u32, col: u32) -> f32 {
  let v = x[row * params.cols + col];
  if (PAIR_MEAN) { return 0.5 * (v + x[(params.rows + row) * params.cols + col]); }
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  let row = group.x + group.y * 65535u;
  let inRange = row < params.rows;
  var sq = 0.0;
  var dotXdy = 0.0;
  if (inRange) {
    for (var col = tid; col < params.cols; col += WG) {
      let v = value(row, col);
      sq += v * v;
      dotXdy += v * dy[row * params.cols + col];
    }
  }
  sumSq[tid] = sq;
  sumDot[tid] = dotXdy;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (tid < stride) {
      sumSq[tid] += sumSq[tid + stride];
      sumDot[tid] += sumDot[tid + stride];
    }
    workgroupBarrier();
  }
  if (!inRange) { return; }
  let n = sqrt(sumSq[0]);
  let inv = 1.0 / (n + EPS);
  var coef = 0.0;
  if (n > 0.0) { coef = sumDot[0] / (n * (n + EPS) * (n + EPS)); }
  for (var col = tid; col < params.cols; col += WG) {
    let g = dy[row * params.cols + col] * inv - value(row, col) * coef;
    if (PAIR_MEAN) {
      dx[row * params.cols + col] = 0.5 * g;
      dx[(params.rows + row) * params.cols + col] = 0.5 * g;
    } else {
      dx[row * params.cols + col] = g;
    }
  }
}
