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
    let first = capStart[c];
    let len = capLen[c];
    var result = 0.0;
    if (LSE) {
      // (1/lambda) log sum exp(lambda R_w), max-shifted (same value, no overflow).
      let lambdaLse = params.lambdaLse;
      var best = rowB[first];
      for (var w = 1u; w < len; w++) { best = max(best, rowB[first + w]); }
      var sum = 0.0;
      for (var w = 0u; w < len; w++) { sum += exp(lambdaLse * (rowB[first + w] - best)); }
      result = best + log(sum) / lambdaLse;
    } else {
      for (var w = 0u; w < len; w++) { result += rowB[first + w]; }
      result = result / f32(len);
    }
    out[outIndex(tile, c)] = result;
  }
}
