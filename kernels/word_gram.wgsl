// Per-caption word Gram matrix W_m = U_m U_m^T [L, L] over the caption's own words (zero
// elsewhere); with SOFTMAX, each row becomes softmax(lambdaIntra * W) over those words: NAAF's
// intra-text propagation weights (spec 3.1 step 2). Constants: WG, SOFTMAX (bool).

struct Params {
  capBase: u32,       // element offset of the chunk's first caption in `captions`
  dim: u32,
  maxWords: u32,      // L
  capChunkStart: u32, // global index of the chunk's first caption (for `lengths`)
  numCaptions: u32,
  lambdaIntra: f32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> captions: array<f32>;       // [M, L, D]
@group(0) @binding(2) var<storage, read> lengths: array<u32>;        // [M]
@group(0) @binding(3) var<storage, read_write> wordGram: array<f32>; // [chunk M, L, L]

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  let m = group.x;
  let L = params.maxWords;
  let dim = params.dim;
  let len = lengths[params.capChunkStart + m];
  let capOffset = params.capBase + m * L * dim;
  let outBase = m * L * L;
  for (var idx = tid; idx < L * L; idx += WG) {
    let w = idx / L;
    let v = idx % L;
    var sum = 0.0;
    if (w < len && v < len) {
      for (var d = 0u; d < dim; d++) { sum += captions[capOffset + w * dim + d] * captions[capOffset + v * dim + d]; }
    }
    wordGram[outBase + idx] = sum;
  }
  if (SOFTMAX) {
    storageBarrier();
    let lambda = params.lambdaIntra;
    for (var w = tid; w < len; w += WG) {
      var best = -3.0e38;
      for (var v = 0u; v < len; v++) { best = max(best, lambda * wordGram[outBase + w * L + v]); }
      var total = 0.0;
      for (var v = 0u; v < len; v++) { total += exp(lambda * wordGram[outBase + w * L + v] - best); }
      for (var v = 0u; v < len; v++) {
        wordGram[outBase + w * L + v] = exp(lambda * wordGram[outBase + w * L + v] - best) / total;
      }
    }
  }
}
