// f16 operands of kernels/score_gemm.wgsl: rows converted to float16 (kernels/convert_f16.wgsl),
// two halves per u32, a depth group (4 halves) read as one vec2<u32> and widened to f32 for
// f32 multiply-adds. Word rows are packed (no lookup). rowLength: u32 per packed row.

alias Elem = f32;
alias Acc = f32;

@group(0) @binding(1) var<storage, read> regions: array<vec2<u32>>;  // packed f16 region rows
@group(0) @binding(2) var<storage, read> words: array<vec2<u32>>;    // packed f16 word rows

const NO_ROW: u32 = 0xffffffffu;

fn wordRowSource(w: u32) -> u32 {
  if (w < problem.words) { return params.wordBase + w; }
  return NO_ROW;
}

fn unpackGroup(p: vec2<u32>) -> vec4<f32> {
  return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
}

fn regionGroup(j: u32, g: u32) -> vec4<Elem> {
  if (j >= problem.rows || g >= params.groups) { return vec4<f32>(0.0); }
  return unpackGroup(regions[(problem.regionBase + j) * (params.rowLength / 2u) + g]);
}

fn wordGroup(source: u32, g: u32) -> vec4<Elem> {
  if (source == NO_ROW || g >= params.groups) { return vec4<f32>(0.0); }
  return unpackGroup(words[source * (params.rowLength / 2u) + g]);
}

fn mac(acc: vec4<Acc>, a: Elem, b: vec4<Elem>) -> vec4<Acc> {
  return fma(vec4<f32>(a), b, acc);
}

fn finish(acc: vec4<Acc>, j: u32, w: u32) -> vec4<f32> {
  return acc;
}
