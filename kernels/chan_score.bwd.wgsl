// Backward of CHAN's score (kernels/chan_split.wgsl) for the pairs of one caption tile and one
// image: S -> dS (into tileX). Per word, c_w = max_r s_wr; with g = gradScores[n, m]:
//   LSE:  dS/dc_w = g softmax_w(c / belta)_w / belta  (params.lambdaSoftmax = 1 / belta)
//   mean: dS/dc_w = g / len
// and dc_w reaches only the word's argmax region (the first on ties). No Gram terms and no norm
// scales: the embeddings come l2-normalised from the encoders, whose backward has the norms.
// Needs common/score_bwd_tile.wgsl and score.bwd.wgsl or score_epilogue.bwd.wgsl. Binds nothing
// of its own. Extra constant: LSE (bool).

const REGION_GRAM_GRAD: bool = false;
const WORD_GRAM_GRAD: bool = false;

fn captionRowScale(row: u32) -> f32 { return 0.0; }
fn regionScale(r: u32) -> f32 { return 0.0; }

fn pairGradients(tid: u32, tile: vec2u, n: u32) {
  let used = tileShape.y;
  for (var row = tid; row < used; row += WG) {
    var best = sAt(row, 0u);
    for (var r = 1u; r < numRegions(); r++) { best = max(best, sAt(row, r)); }
    rowA[row] = best;
  }
  workgroupBarrier();

  // dS/dc_w of the pooling, into rowB.
  let scale = params.lambdaSoftmax;
  for (var c = tid; c < tileShape.x; c += WG) {
    let g = pairGrad(n, tile, c);
    let first = capStart[c];
    let len = capLen[c];
    if (LSE) {
      var top = -3.0e38;
      for (var w = 0u; w < len; w++) { top = max(top, rowA[first + w] * scale); }
      var total = 0.0;
      for (var w = 0u; w < len; w++) { total += exp(rowA[first + w] * scale - top); }
      for (var w = 0u; w < len; w++) { rowB[first + w] = g * scale * exp(rowA[first + w] * scale - top) / total; }
    } else {
      for (var w = 0u; w < len; w++) { rowB[first + w] = g / f32(len); }
    }
  }
  workgroupBarrier();

  for (var row = tid; row < used; row += WG) {
    var bestR = 0u;
    for (var r = 1u; r < numRegions(); r++) { if (sAt(row, r) > sAt(row, bestR)) { bestR = r; } }
    for (var r = 0u; r < numRegions(); r++) { tileX[row * R + r] = select(0.0, rowB[row], r == bestR); }
  }
  workgroupBarrier();
}
