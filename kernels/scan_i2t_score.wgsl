// SCAN image-to-text score (spec 4, clipped_l2norm): regions attend over the caption's words.
// Same tile as scan_t2i_score, transposed epilogue; the attended context's norm is
// sqrt(alpha^T W alpha) with the caption's word Gram W = U U^T (wordGram). Needs
// common/score_tile.wgsl. Extra constant: LSE (bool): LogSumExp over regions, else the mean.

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

    // Per row (word): 1e-8 + l2 norm over the regions of LeakyReLU(s).
    for (var row = tid; row < tileShape.y; row += WG) {
      var sq = 0.0;
      for (var r = 0u; r < R; r++) {
        let x = leakyRelu(sAt(row, r));
        sq += x * x;
      }
      rowA[row] = sqrt(sq) + EPS;
    }
    workgroupBarrier();

    // Per (caption, region): alpha = softmax over words, R_r = cos(v_r, sum_w alpha_w u_w).
    let gramBase = (params.gramBase + nLocal) * R * R;
    for (var idx = tid; idx < tileShape.x * R; idx += WG) {
      let c = idx / R;
      let r = idx % R;
      let first = capStart[c];
      let len = capLen[c];
      var logitMax = -3.0e38;
      for (var w = 0u; w < len; w++) {
        logitMax = max(logitMax, lambda * leakyRelu(sAt(first + w, r)) / rowA[first + w]);
      }
      var weights: array<f32, ROWS>;
      var total = 0.0;
      var numerator = 0.0;
      for (var w = 0u; w < len; w++) {
        let s = sAt(first + w, r);
        let e = exp(lambda * leakyRelu(s) / rowA[first + w] - logitMax);
        weights[w] = e;
        total += e;
        numerator += e * s;
      }
      // alpha^T W alpha with alpha_w = e_w / total.
      let wordBase = (tile.x + c) * params.maxWords * params.maxWords;
      var quad = 0.0;
      for (var w = 0u; w < len; w++) {
        var inner = 0.0;
        for (var v = 0u; v < len; v++) { inner += wordGram[wordBase + w * params.maxWords + v] * weights[v]; }
        quad += weights[w] * inner;
      }
      let contextNorm = sqrt(max(quad, 0.0)) / total;
      let regionNorm = sqrt(max(regionGram[gramBase + r * R + r], 0.0));
      capVals[idx] = (numerator / total) / max(regionNorm * contextNorm, EPS);
    }
    workgroupBarrier();

    for (var c = tid; c < tileShape.x; c += WG) {
      out[outIndex(nLocal, tile, c)] = aggregate(c * R, R, false, LSE, params.lambdaLse);
    }
    workgroupBarrier();
  }
}
