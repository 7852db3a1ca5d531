// Symmetric per-row int8 quantisation for the int8 similarity path (src/ops/quantize.ts):
// scale = max|x| / 127, q = clamp(round(x * (127 / max|x|)), -127, 127), packed four per word
// (pack4xI8: d, d+1, d+2, d+3 from the low byte up), so x ~ q * scale. Rows are zero-padded
// from D to DP (a multiple of 32) words*4, and output rows past `rows` are all zero (the
// subgroup-matrix product reads whole 16-row blocks). Optionally writes the dequantised row
// q * scale back in the source layout, so the Gram kernels see the same embeddings as S.
// One workgroup per output row. Constant: WG (a power of two).

struct Params {
  srcBase: u32,     // element offset of source row 0 in `src`
  dim: u32,         // D
  packedWords: u32, // DP / 4
  rows: u32,        // output rows with data; rows up to outRows are zero padding
  outRows: u32,
  lookup: u32,      // 1: output row i reads source row sourceRows[i]; 0: source row i
  dequantize: u32,  // 1: also write q * scale to `dequantized` at the source row
  groupsX: u32,     // workgroups per dispatch row (2D dispatch for > 65535 rows)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> sourceRows: array<u32>;
@group(0) @binding(3) var<storage, read_write> packed: array<u32>;       // [outRows, DP / 4]
@group(0) @binding(4) var<storage, read_write> scales: array<f32>;       // [outRows]
@group(0) @binding(5) var<storage, read_write> dequantized: array<f32>;  // source layout, or a placeholder

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  let row = group.y * params.groupsX + group.x;
  if (row >= params.outRows) { return; }
  let valid = row < params.rows;
  var source = row;
  if (valid && params.lookup != 0u) { source = sourceRows[row]; }
  let base = params.srcBase + source * params.dim;

  var m = 0.0;
  if (valid) {
    for (var d = tid; d < params.dim; d += WG) { m = max(m, abs(src[base + d])); }
  }
  partial[tid] = m;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (tid < stride) { partial[tid] = max(partial[tid], partial[tid + stride]); }
    workgroupBarrier();
  }
  let maxAbs = partial[0];
  let scale = maxAbs / 127.0;
  var inv = 0.0;
  if (maxAbs > 0.0) { inv = 127.0 / maxAbs; }

  for (var w = tid; w < params.packedWords; w += WG) {
    var q = vec4<i32>(0);
    for (var e = 0u; e < 4u; e++) {
      let d = 4u * w + e;
      if (valid && d < params.dim) {
        q[e] = i32(clamp(round(src[base + d] * inv), -127.0, 127.0));
        if (params.dequantize != 0u) { dequantized[source * params.dim + d] = f32(q[e]) * scale; }
      }
    }
    packed[row * params.packedWords + w] = pack4xI8(q);
  }
  if (tid == 0u) { scales[row] = scale; }
}
