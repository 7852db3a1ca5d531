// NAAF inference score (spec 3.1), fused: word-region similarities never leave workgroup
// memory, and the attended feature's norm comes from the region Gram matrix,
// ||c||^2 = a^T G_n a, so no context vector is formed. Needs common/score_tile.wgsl.
// Extra constants: INTRA (bool): negative mask from intra-text propagation (wordGram holds
// softmax_rows(lambdaIntra U U^T)) or from the word's own row max. WORD_TERMS (bool): also
// write every word's terms (max_r s, neg, pos_f, pos_r) for inspection; otherwise binding 8 is
// a placeholder.

@group(0) @binding(8) var<storage, read_write> wordTerms: array<vec4<f32>>; // [N, M, L]

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
    let t = params.threshold;
    let lambda = params.lambdaSoftmax;

    // Phase 1: per row, the attended weights (into rowW) and their sums; per (caption,
    // region), the word-normalisation of the relevance branch.
    stageGram(tid, nLocal);
    for (var row = tid; row < tileShape.y; row += WG) {
      let attended = attendedWeights(row, t, lambda);
      rowA[row] = attended.x;
      rowQ[row] = attended.y;
      rowB[row] = attended.z;
    }
    regionNormsOverWords(tid);
    workgroupBarrier();
    // ||sum_r a_r v_r||^2 = a^T G_n a for every row, spread over the workgroup.
    quadraticParts(tid);
    workgroupBarrier();

    // Phase 2: per row, pos_f, the relevance-weighted score pos_r (its weights reuse the row's
    // rowW slice) and the negative term.
    for (var row = tid; row < tileShape.y; row += WG) {
      let c = rowCap[row];
      let rowMax = rowA[row];
      let posF = attendedCosine(rowMax, rowQ[row], rowB[row], rowQuadratic(row), lambda);
      let posR = relevanceWeights(row, lambda);
      var maskValue = rowMax;
      if (INTRA) {
        let w = rowWord[row];
        let base = ((tile.x + c) * params.maxWords + w) * params.maxWords;
        maskValue = 0.0;
        for (var v = 0u; v < capLen[c]; v++) {
          maskValue += wordGram[base + v] * rowA[capStart[c] + v];
        }
      }
      let neg = select(0.0, rowMax, maskValue < 0.0);
      if (WORD_TERMS) {
        let m = params.capChunkStart + tile.x + c;
        let index = ((params.imageStart + nLocal) * params.outStride + m) * params.maxWords + rowWord[row];
        wordTerms[index] = vec4<f32>(rowMax + t, neg, posF, posR);
      }
      rowB[row] = posF + posR + neg;
    }
    workgroupBarrier();

    // Phase 3: the score is the mean over the caption's words.
    for (var c = tid; c < tileShape.x; c += WG) {
      var sum = 0.0;
      for (var w = 0u; w < capLen[c]; w++) { sum += rowB[capStart[c] + w]; }
      out[outIndex(nLocal, tile, c)] = sum / f32(capLen[c]);
    }
    workgroupBarrier();
  }
}
