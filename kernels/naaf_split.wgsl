// NAAF inference score (spec 3.1), split path: the epilogue of common/split_tile.wgsl over S^T
// from the GEMM, one thread per word row. ||c||^2 = e^T G_n e from the region Gram, so no
// context vector is formed. Extra constants as naaf_score.wgsl: INTRA (negative mask from
// intra-text propagation, wordGram = softmax_rows(lambdaIntra U U^T), else the row's own max),
// WORD_TERMS (also write every word's (max_r s, neg, pos_f, pos_r); else binding 8 is a placeholder).

@group(0) @binding(8) var<storage, read_write> wordTerms: array<vec4<f32>>; // [N, M, L]

var<workgroup> rowM: array<f32, ROWS>;  // max_r s of each row

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  let tile = prepareTile(tid, group);
  let t = params.threshold;
  let lambda = params.lambdaSoftmax;
  let used = tileShape.y;

  // Per row, max_r s; per (caption, region), the relevance branch's norms over words.
  for (var row = tid; row < used; row += WG) {
    var sMax = sAt(row, 0u);
    for (var r = 1u; r < R; r++) { sMax = max(sMax, sAt(row, r)); }
    rowM[row] = sMax;
    rowA[row] = sMax - t;
  }
  regionNormsOverWords(tid);
  workgroupBarrier();

  for (var row = tid; row < used; row += WG) {
    // pos_f: the attended weights e_r = exp(lambda (s_r - max s)) on regions above t (shifted
    // by the max so large lambdas cannot overflow), their sums and e^T G e.
    var s = loadRow(row);
    var e: RowQuads;
    let sMax = rowM[row];
    var total = 0.0;
    var weighted = 0.0;
    for (var r = 0u; r < R; r++) {
      let value = s[r / 4u][r % 4u];
      var weight = 0.0;
      if (value - t > 0.0) { weight = exp(lambda * (value - sMax)); }
      e[r / 4u][r % 4u] = weight;
      total += weight;
      weighted += weight * value;
    }
    let posF = attendedCosine(rowA[row], total, weighted, gramForm(&e), lambda);
    // pos_r: the relevance softmax over regions.
    let relevance = relevanceWeights(row, &s, &e, lambda);
    let posR = relevance.y / relevance.x;
    // The negative term, masked by the intra-propagated row max (or the row's own).
    let c = rowCap[row];
    let rowMax = rowA[row];
    var maskValue = rowMax;
    if (INTRA) {
      let base = wordGramRow(tile, c, rowWord[row]);
      maskValue = 0.0;
      for (var v = 0u; v < capLen[c]; v++) { maskValue += wordGram[base + v] * rowA[capStart[c] + v]; }
    }
    let neg = select(0.0, rowMax, maskValue < 0.0);
    if (WORD_TERMS) {
      let m = params.capChunkStart + tile.x + c;
      wordTerms[((params.imageStart + image) * params.outStride + m) * params.maxWords + rowWord[row]] = vec4<f32>(sMax, neg, posF, posR);
    }
    rowB[row] = posF + posR + neg;
  }
  workgroupBarrier();

  // The score is the mean over the caption's words.
  for (var c = tid; c < tileShape.x; c += WG) {
    var sum = 0.0;
    for (var w = 0u; w < capLen[c]; w++) { sum += rowB[capStart[c] + w]; }
    out[outIndex(tile, c)] = sum / f32(capLen[c]);
  }
}
