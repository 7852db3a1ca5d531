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

    // Phase 1: per row, max_r s; per (caption, region), the relevance branch's word norms.
    stageGram(tid, nLocal);
    for (var row = tid; row < tileShape.y; row += WG) {
      let sMax = rowMaxSim(row);
      rowM[row] = sMax;
      rowA[row] = sMax - t;
    }
    regionNormsOverWords(tid);
    workgroupBarrier();
    // Phases 2-4: pos_f, pos_r's parts and the intra-text mask's parts.
    naafBranches(tid, t, lambda, INTRA, tile);

    // Phase 5: per row, pos_r, the negative term and the word's total.
    for (var row = tid; row < tileShape.y; row += WG) {
      let rowMax = rowA[row];
      let posF = rowB[row];
      let sums = rowParts(row);
      let posR = sums.y / sums.x;
      var maskValue = rowMax;
      if (INTRA) { maskValue = sums.z; }
      let neg = select(0.0, rowMax, maskValue < 0.0);
      if (WORD_TERMS) {
        let m = params.capChunkStart + tile.x + rowCap[row];
        let index = ((params.imageStart + nLocal) * params.outStride + m) * params.maxWords + rowWord[row];
        wordTerms[index] = vec4<f32>(rowMax + t, neg, posF, posR);
      }
      rowB[row] = posF + posR + neg;
    }
    workgroupBarrier();

    // Phase 6: the score is the mean over the caption's words.
    writeCaptionMeans(tid, nLocal, tile);
    workgroupBarrier();
  }
}
