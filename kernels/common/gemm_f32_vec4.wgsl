// Bindings of common/gemm_f32.wgsl read as vec4: D % 4 == 0 and 16-byte aligned windows.
@group(0) @binding(1) var<storage, read> regions: array<vec4<f32>>;  // [N, R, D] window
@group(0) @binding(2) var<storage, read> words: array<vec4<f32>>;    // [M, L, D] window

/** The 4 floats at element offset i (a multiple of 4). */
fn fetch4(i: u32, left: u32, fromWords: bool) -> vec4<f32> {
  if (fromWords) { return words[i / 4u]; }
  return regions[i / 4u];
}
