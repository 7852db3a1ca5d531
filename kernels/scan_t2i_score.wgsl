// SCAN text-to-image score (spec 4, clipped_l2norm): words attend over regions. Fused like
// naaf_score: the attended context's norm is sqrt(alpha^T G_n alpha). Needs
// common/score_tile.wgsl; wordGram holds U U^T (its diagonal gives ||u_w||^2).
// Extra constant: LSE (bool): LogSumExp aggregation over words, else the mean.

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  let tile = layoutTile(tid, group.x);
  let firstImage = group.y * IMGS;
  computeSims(tid, group.x, firstImage);
  // The epilogue walks the workgroup's images one at a time over the same tile scratch.
  for (var slot = 0u; slot < IMGS; slot++) {
    let nLocal = firstImage + slot;
    if (nLocal >= params.numImages) { break; }
    selectImage(slot);
    let lambda = params.lambdaSoftmax;

    stageGram(tid, nLocal);
    regionNormsOverWords(tid);
    workgroupBarrier();
    // The softmax shift per row, then every (row, region)'s weight e = exp(logit - shift),
    // then sum e, e . s and e^T G_n e per row (alpha = e / sum e).
    for (var row = tid; row < tileShape.y; row += WG) { rowM[row] = relevanceLogitMax(row, lambda); }
    workgroupBarrier();
    relevanceWeightsAll(tid, lambda);
    workgroupBarrier();
    weightPartials(tid, true);
    workgroupBarrier();

    // R_w = cos(u_w, sum_r alpha_r v_r) = alpha . s / (||u_w|| sqrt(alpha^T G_n alpha)).
    for (var row = tid; row < tileShape.y; row += WG) {
      let w = rowWord[row];
      let wordNormSq = wordGram[((tile.x + rowCap[row]) * params.maxWords + w) * params.maxWords + w];
      let sums = rowParts(row);
      let contextNorm = sqrt(max(sums.z, 0.0)) / sums.x;
      rowB[row] = (sums.y / sums.x) / max(sqrt(max(wordNormSq, 0.0)) * contextNorm, EPS);
    }
    workgroupBarrier();

    for (var c = tid; c < tileShape.x; c += WG) {
      out[outIndex(nLocal, tile, c)] = aggregate(capStart[c], capLen[c], true, LSE, params.lambdaLse);
    }
    workgroupBarrier();
  }
}
