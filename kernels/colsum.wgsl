// Column sums: out[outBase + c] (+)= sum_r x[xBase + r * cols + c] over the rows of a
// [rows, cols] matrix (bias gradients: the sum of the pre-activation gradients over positions).
// A workgroup owns 32 columns; its 8 row lanes each sum every 8th row, and lane 0 adds the 8
// partials in a fixed order: deterministic, no atomics. Constant: ACCUMULATE (bool).

struct Params {
  rows: u32,
  cols: u32,
  xBase: u32,
  outBase: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const COLS: u32 = 32u;
const LANES: u32 = 8u;
var<workgroup> partial: array<f32, 256>; // [LANES][COLS]

@compute @workgroup_size(32, 8)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) group: vec3u) {
  let col = group.x * COLS + lid.x;
  var sum = 0.0;
  if (col < params.cols) {
    for (var r = lid.y; r < params.rows; r += LANES) {
      sum += x[params.xBase + r * params.cols + col];
    }
  }
  partial[lid.y * COLS + lid.x] = sum;
  workgroupBarrier();
  if (lid.y == 0u && col < params.cols) {
    var total = 0.0;
    for (var lane = 0u; lane < LANES; lane++) { total += partial[lane * COLS + lid.x]; }
    if (ACCUMULATE) { total += out[params.outBase + col]; }
    out[params.outBase + col] = total;
  }
}
