// Bindings of common/gemm_f32.wgsl read as scalars: any D and window alignment.
@group(0) @binding(1) var<storage, read> regions: array<f32>;  // [N, R, D] window
@group(0) @binding(2) var<storage, read> words: array<f32>;    // [M, L, D] window

/** The floats at element offset i.., `left` of them still in the row (zeros after). */
fn fetch4(i: u32, left: u32, fromWords: bool) -> vec4<f32> {
  var out = vec4<f32>(0.0);
  for (var e = 0u; e < min(4u, left); e++) {
    if (fromWords) { out[e] = words[i + e]; } else { out[e] = regions[i + e]; }
  }
  return out;
}
