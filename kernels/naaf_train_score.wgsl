// NAAF training-path score (spec 3.2) of ONE caption against every image of the batch, for the
// Discriminative Mismatch Mining loop: the threshold is read from the DMM state buffer (it may
// change after every caption, written by kernels/dmm_update.wgsl), the negative mask is the
// word's own [row_max < 0] (no intra-text propagation), and the raw per-word max cosine
// max_r s_wr of every image is left in `wordMax` for the update.
// Needs common/score_tile.wgsl (its constants; CAPS = 1: the tile is the current caption).
// Dispatch (1, B): workgroup y scores image y. The launcher (src/ops/naafTrain.ts) sets
// params.capChunkStart = i and params.capBase = i * L * D, so the result lands in
// out[n * outStride + i] with outStride = B.

@group(0) @binding(8) var<storage, read> dmmState: array<f32>;      // [thres, thresSafe, meanPos, stdPos, meanNeg, stdNeg]
@group(0) @binding(9) var<storage, read_write> wordMax: array<f32>; // [B, L]: max_r s_wr of this caption, per image

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
    let t = dmmState[0];
    let lambda = params.lambdaSoftmax;

    // Phase 1: per row, the raw and thresholded row max; per (caption, region), word norms.
    stageGram(tid, nLocal);
    for (var row = tid; row < tileShape.y; row += WG) {
      let sMax = rowMaxSim(row);
      rowM[row] = sMax;
      rowA[row] = sMax - t;
      wordMax[nLocal * params.maxWords + rowWord[row]] = sMax;
    }
    regionNormsOverWords(tid);
    workgroupBarrier();
    // Phases 2-3: pos_f and pos_r's parts.
    naafBranches(tid, t, lambda, false, tile);

    // Phase 4: per row, pos_r and the negative term, masked by the word's own thresholded max.
    for (var row = tid; row < tileShape.y; row += WG) {
      let rowMax = rowA[row];
      let sums = rowParts(row);
      rowB[row] = rowB[row] + sums.y / sums.x + select(0.0, rowMax, rowMax < 0.0);
    }
    workgroupBarrier();

    // Phase 5: the score is the mean over the caption's words.
    writeCaptionMeans(tid, nLocal, tile);
    workgroupBarrier();
  }
}
