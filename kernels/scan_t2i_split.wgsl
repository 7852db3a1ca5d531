// SCAN text-to-image score (spec 4, clipped_l2norm), split path: words attend over regions,
// one thread per word row over S^T from the GEMM; the attended context's norm is
// sqrt(alpha^T G_n alpha). Needs common/split_tile.wgsl; wordGram holds U U^T (its diagonal
// gives ||u_w||^2). Extra constant: LSE (bool): LogSumExp over words, else the mean.

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  let tile = prepareTile(tid, group);
  let lambda = params.lambdaSoftmax;
  regionNormsOverWords(tid);
  workgroupBarrier();

  // R_w = cos(u_w, sum_r alpha_r v_r) = alpha . s / (||u_w|| sqrt(alpha^T G_n alpha)), alpha = e / sum e.
  for (var row = tid; row < tileShape.y; row += WG) {
    var s = loadRow(row);
    var e: RowQuads;
    let sums = relevanceWeights(row, &s, &e, lambda);
    let w = rowWord[row];
    let wordNormSq = wordGram[wordGramRow(tile, rowCap[row], w) + w];
    let contextNorm = sqrt(max(gramForm(&e), 0.0)) / sums.x;
    rowB[row] = (sums.y / sums.x) / max(sqrt(max(wordNormSq, 0.0)) * contextNorm, EPS);
  }
  workgroupBarrier();

  for (var c = tid; c < tileShape.x; c += WG) {
    out[outIndex(tile, c)] = aggregate(capStart[c], capLen[c], true, LSE, params.lambdaLse);
  }
}
