// Entry point of the fused score backward: the gradients dU [M, L, D] and dV [N, R, D] of
// sum_{n,m} gradScores[n, m] score(n, m). Without atomics, each output has one owner:
//   caption side (IMAGE_SIDE false): a workgroup owns a caption tile and loops over all images;
//   image side (IMAGE_SIDE true): a workgroup owns an image and loops over all caption tiles.
// Both recompute S per (tile, image) and call the method's pairGradients() for dS, so no
// B x B x L x R tensor is ever stored. Needs common/score_bwd_tile.wgsl and one method file,
// which defines pairGradients, captionRowScale, regionScale, REGION_GRAM_GRAD, WORD_GRAM_GRAD.

fn captionSide(tid: u32, tileIndex: u32) {
  let tile = layoutTile(tid, tileIndex);
  let dim = params.dim;
  let L = params.maxWords;
  // Zero the tile's captions, padding rows included (they stay 0), and their sum of dW.
  for (var c = 0u; c < tile.y; c++) {
    let m = tile.x + c;
    for (var idx = tid; idx < L * dim; idx += WG) { gradOut[m * L * dim + idx] = 0.0; }
    if (WORD_GRAM_GRAD) {
      for (var idx = tid; idx < L * L; idx += WG) { scratch[m * L * L + idx] = 0.0; }
    }
  }
  storageBarrier();
  for (var n = 0u; n < params.numImages; n++) {
    computeSims(tid, tile, n);
    pairGradients(tid, tile, n);
    accumulateCaptionGrads(tid, tile, n);
  }
  if (WORD_GRAM_GRAD) {
    storageBarrier();
    finishCaptionGram(tid, tile);
  }
}

fn imageSide(tid: u32, n: u32) {
  let dim = params.dim;
  for (var idx = tid; idx < R * dim; idx += WG) { gradOut[n * R * dim + idx] = 0.0; }
  if (REGION_GRAM_GRAD) {
    for (var idx = tid; idx < R * R; idx += WG) { scratch[n * R * R + idx] = 0.0; }
  }
  storageBarrier();
  for (var tileIndex = 0u; tileIndex < params.numTiles; tileIndex++) {
    let tile = layoutTile(tid, tileIndex);
    computeSims(tid, tile, n);
    pairGradients(tid, tile, n);
    accumulateImageGrads(tid, tile, n);
  }
  if (REGION_GRAM_GRAD) {
    storageBarrier();
    finishImageGram(tid, n);
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  if (IMAGE_SIDE) {
    imageSide(tid, group.x);
  } else {
    captionSide(tid, group.x);
  }
}
