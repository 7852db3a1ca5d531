// SCAN image-to-text score (spec 4, clipped_l2norm), split path: regions attend over the
// caption's words, one thread per (caption, region) over S^T from the GEMM; the attended
// context's norm is sqrt(alpha^T W alpha) with the caption's word Gram W = U U^T (wordGram).
// Needs common/split_tile.wgsl. Extra constant: LSE (bool): LogSumExp over regions, else the mean.

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  let tile = prepareTile(tid, group);
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

  // Per (caption, region): alpha = softmax over words, R_r = cos(v_r, sum_w alpha_w u_w); the
  // weights go to wT[r][row], which no other (caption, region) touches.
  for (var idx = tid; idx < tileShape.x * R; idx += WG) {
    let c = idx / R;
    let r = idx % R;
    let first = capStart[c];
    let len = capLen[c];
    var logitMax = -3.0e38;
    for (var w = 0u; w < len; w++) {
      logitMax = max(logitMax, lambda * leakyRelu(sAt(first + w, r)) / rowA[first + w]);
    }
    var total = 0.0;
    var numerator = 0.0;
    for (var w = 0u; w < len; w++) {
      let s = sAt(first + w, r);
      let e = exp(lambda * leakyRelu(s) / rowA[first + w] - logitMax);
      wT[r * ROWS + first + w] = e;
      total += e;
      numerator += e * s;
    }
    // alpha^T W alpha with alpha_w = e_w / total, from W's lower triangle.
    var quad = 0.0;
    for (var w = 0u; w < len; w++) {
      let e = wT[r * ROWS + first + w];
      let gramRow = wordGramRow(tile, c, w);
      var inner = 0.0;
      for (var v = 0u; v < w; v++) { inner += wordGram[gramRow + v] * wT[r * ROWS + first + v]; }
      quad += e * (wordGram[gramRow + w] * e + 2.0 * inner);
    }
    let contextNorm = sqrt(max(quad, 0.0)) / total;
    let regionNorm = sqrt(max(gramAt(r, r), 0.0));
    capVals[idx] = (numerator / total) / max(regionNorm * contextNorm, EPS);
  }
  workgroupBarrier();

  for (var c = tid; c < tileShape.x; c += WG) {
    out[outIndex(tile, c)] = aggregate(c * R, R, false, LSE, params.lambdaLse);
  }
}
