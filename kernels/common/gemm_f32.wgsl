// f32 operands of kernels/score_gemm.wgsl: a depth group is 4 floats, zeros past D. The
// bindings and fetch4() come from gemm_f32_vec4.wgsl (one vec4 load: D % 4 == 0 and both
// windows 16-byte aligned) or gemm_f32_scalar.wgsl. Word rows are read through wordRows, the
// element offset of each packed word row in the caption window, so the padded [M, L, D]
// captions are never copied.

alias Elem = f32;
alias Acc = f32;

@group(0) @binding(4) var<storage, read> wordRows: array<u32>; // [W]: element offset of each packed row in `words`

const NO_ROW: u32 = 0xffffffffu;

/** Element offset of packed word row w in `words`, NO_ROW past the chunk's words. */
fn wordRowSource(w: u32) -> u32 {
  if (w < problem.words) { return params.wordBase + wordRows[problem.wordStart + w]; }
  return NO_ROW;
}

fn regionGroup(j: u32, g: u32) -> vec4<Elem> {
  if (j >= problem.rows || 4u * g >= params.rowLength) { return vec4<f32>(0.0); }
  return fetch4(problem.regionBase + j * params.rowLength + 4u * g, params.rowLength - 4u * g, false);
}

fn wordGroup(source: u32, g: u32) -> vec4<Elem> {
  if (source == NO_ROW || 4u * g >= params.rowLength) { return vec4<f32>(0.0); }
  return fetch4(source + 4u * g, params.rowLength - 4u * g, true);
}

/** One depth element of a region times the same element of four words. */
fn mac(acc: vec4<Acc>, a: Elem, b: vec4<Elem>) -> vec4<Acc> {
  return fma(vec4<f32>(a), b, acc);
}

fn finish(acc: vec4<Acc>, j: u32, w: u32) -> vec4<f32> {
  return acc;
}
