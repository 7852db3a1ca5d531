// Entry point of the fused score backward: the gradients dU [M, L, D] and dV [N, R, D] of
// sum_{n,m} gradScores[n, m] score(n, m). Without atomics, each output has one owner:
//   caption side (IMAGE_SIDE false): workgroup (t, g) owns caption tile t over image group g;
//   image side (IMAGE_SIDE true): workgroup (n, g) owns image n over caption-tile group g.
// With one group (params.groups == 1) the owner covers every image (tile) and finishes the
// Gram term itself; with more, each group writes its own partial of gradOut and scratch, and
// kernels/score_reduce.bwd.wgsl adds them up: G times the workgroups, for a GPU that would
// otherwise run one per image. Both sides recompute S per (tile, image) and call the method's
// pairGradients() for dS, so no B x B x L x R tensor is ever stored. Needs
// common/score_bwd_tile.wgsl and one method file, which defines pairGradients,
// captionRowScale, regionScale, REGION_GRAM_GRAD, WORD_GRAM_GRAD.

fn captionSide(tid: u32, tileIndex: u32, g: u32) {
  let tile = layoutTile(tid, tileIndex);
  let dim = params.dim;
  let L = params.maxWords;
  outBase = g * params.partialFloats;
  scratchBase = g * params.scratchFloats;
  // Zero the tile's captions, padding rows included (they stay 0), and their sum of dW.
  for (var c = 0u; c < tile.y; c++) {
    let m = tile.x + c;
    for (var idx = tid; idx < L * dim; idx += WG) { gradOut[outBase + m * L * dim + idx] = 0.0; }
    if (WORD_GRAM_GRAD) {
      for (var idx = tid; idx < L * L; idx += WG) { scratch[scratchBase + m * L * L + idx] = 0.0; }
    }
  }
  storageBarrier();
  let last = min(params.numImages, (g + 1u) * params.groupSize);
  for (var n = g * params.groupSize; n < last; n++) {
    computeSims(tid, tile, n);
    pairGradients(tid, tile, n);
    accumulateCaptionGrads(tid, tile, n);
  }
  if (WORD_GRAM_GRAD && params.groups == 1u) {
    storageBarrier();
    finishCaptionGram(tid, tile);
  }
}

fn imageSide(tid: u32, n: u32, g: u32) {
  let dim = params.dim;
  outBase = g * params.partialFloats;
  scratchBase = g * params.scratchFloats;
  for (var idx = tid; idx < R * dim; idx += WG) { gradOut[outBase + n * R * dim + idx] = 0.0; }
  if (REGION_GRAM_GRAD) {
    for (var idx = tid; idx < R * R; idx += WG) { scratch[scratchBase + n * R * R + idx] = 0.0; }
  }
  storageBarrier();
  let last = min(params.numTiles, (g + 1u) * params.groupSize);
  for (var tileIndex = g * params.groupSize; tileIndex < last; tileIndex++) {
    let tile = layoutTile(tid, tileIndex);
    computeSims(tid, tile, n);
    pairGradients(tid, tile, n);
    accumulateImageGrads(tid, tile, n);
  }
  if (REGION_GRAM_GRAD && params.groups == 1u) {
    storageBarrier();
    finishImageGram(tid, n);
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  if (IMAGE_SIDE) {
    imageSide(tid, group.x, group.y);
  } else {
    captionSide(tid, group.x, group.y);
  }
}
