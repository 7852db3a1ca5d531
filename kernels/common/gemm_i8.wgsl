// int8 operands of kernels/score_gemm.wgsl: per-row quantised rows (kernels/quantize_rows.wgsl),
// four int8 per u32, a depth group (16 values) read as one vec4<u32>; exact int32 dot products
// with dot4I8Packed, rescaled as (f32(acc) * wordScale) * regionScale: the order of the fused
// int8 kernels (common/score_i8.wgsl), so both paths give the same bits. rowLength: u32 per row.

alias Elem = u32;
alias Acc = i32;

@group(0) @binding(1) var<storage, read> regions: array<vec4<u32>>;  // packed int8 region rows
@group(0) @binding(2) var<storage, read> words: array<vec4<u32>>;    // packed int8 word rows (>= WP of them)
@group(0) @binding(5) var<storage, read> regionScales: array<f32>;
@group(0) @binding(6) var<storage, read> wordScales: array<f32>;     // >= wordBase + WP entries

const NO_ROW: u32 = 0xffffffffu;

fn wordRowSource(w: u32) -> u32 {
  if (w < problem.words) { return params.wordBase + w; }
  return NO_ROW;
}

fn regionGroup(j: u32, g: u32) -> vec4<Elem> {
  if (j >= problem.rows || g >= params.groups) { return vec4<u32>(0u); }
  return regions[(problem.regionBase + j) * (params.rowLength / 4u) + g];
}

fn wordGroup(source: u32, g: u32) -> vec4<Elem> {
  if (source == NO_ROW || g >= params.groups) { return vec4<u32>(0u); }
  return words[source * (params.rowLength / 4u) + g];
}

fn mac(acc: vec4<Acc>, a: Elem, b: vec4<Elem>) -> vec4<Acc> {
  return acc + vec4<i32>(dot4I8Packed(a, b.x), dot4I8Packed(a, b.y), dot4I8Packed(a, b.z), dot4I8Packed(a, b.w));
}

fn finish(acc: vec4<Acc>, j: u32, w: u32) -> vec4<f32> {
  let base = params.wordBase + w;
  let wordScale = vec4<f32>(wordScales[base], wordScales[base + 1u], wordScales[base + 2u], wordScales[base + 3u]);
  return (vec4<f32>(acc) * wordScale) * regionScales[params.regionScaleBase + j];
}
