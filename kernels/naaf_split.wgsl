// NAAF inference score (spec 3.1), split path: the epilogue of common/split_tile.wgsl over S^T
// from the GEMM, one thread per word row (its positive terms: common/naaf_split_row.wgsl). ||c||^2 = e^T G_n e from the region Gram, so no
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
    let terms = naafPositives(row, t, lambda);
    let posF = terms.x;
    let posR = terms.y;
    let sMax = rowM[row];
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
