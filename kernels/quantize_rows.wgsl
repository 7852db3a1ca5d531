// Low-precision rows for the int8 and f16 similarity paths (src/ops/quantize.ts).
// int8 (F16 false): symmetric per row, scale = max|x| / 127,
// q = clamp(round(x * (127 / max|x|)), -127, 127), packed four per word (pack4xI8: d .. d+3
// from the low byte up), so x ~ q * scale; rows zero-padded from D to DP (a multiple of 32)
// bytes; each row's scale goes into the same buffer as f32 bits at scaleBase + row (one binding
// carries a chunk's rows and scales to the score kernels). f16 (F16 true): x rounded to float16, two per word (pack2x16float), rows padded to a
// multiple of 4 halves; scales are not written. Output rows past `rows` are all zero (the
// subgroup-matrix product reads whole 16-row blocks). Optionally writes the low-precision
// value back as f32 in the source layout, so the Gram kernels see the same embeddings as S.
// One workgroup per output row. Constants: WG (a power of two), F16 (bool).

struct Params {
  srcBase: u32,     // element offset of source row 0 in `src`
  dim: u32,         // D
  packedWords: u32, // u32 per packed row
  rows: u32,        // output rows with data; rows up to outRows are zero padding
  outRows: u32,
  lookup: u32,      // 1: output row i reads source row sourceRows[i]; 0: source row i
  dequantize: u32,  // 1: also write the low-precision values to `dequantized` at the source row
  groupsX: u32,     // workgroups per dispatch row (2D dispatch for > 65535 rows)
  halfMask: u32,    // 0xffff: a runtime value, see the f16 branch
  scaleBase: u32,   // int8: where packed row 0's scale goes in `packed` (u32 index)
  packedRow: u32,   // the packed row output row 0 goes to (a gallery fills its buffers in pieces)
  pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> sourceRows: array<u32>;
@group(0) @binding(3) var<storage, read_write> packed: array<u32>;       // [outRows, packedWords], then (int8) [outRows] scales from scaleBase
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

  if (F16) {
    for (var w = tid; w < params.packedWords; w += WG) {
      var pair = vec2<f32>(0.0);
      for (var e = 0u; e < 2u; e++) {
        let d = 2u * w + e;
        if (valid && d < params.dim) { pair[e] = src[base + d]; }
      }
      let bits = pack2x16float(pair);
      packed[(params.packedRow + row) * params.packedWords + w] = bits;
      if (valid && params.dequantize != 0u) {
        // Decoded from the bits through a mask the compiler cannot see: Mesa folds
        // unpack2x16float(pack2x16float(v)) back to v for the high half, skipping the rounding.
        for (var e = 0u; e < 2u; e++) {
          if (2u * w + e < params.dim) { dequantized[source * params.dim + 2u * w + e] = unpack2x16float((bits >> (16u * e)) & params.halfMask).x; }
        }
      }
    }
    return;
  }

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
    packed[(params.packedRow + row) * params.packedWords + w] = pack4xI8(q);
  }
  if (tid == 0u) { packed[params.scaleBase + params.packedRow + row] = bitcast<u32>(scale); }
}
