// NAAF training-path score (spec 3.2) of ONE caption against every image of the batch, split
// path: S^T of the whole batch comes from one GEMM before the Discriminative Mismatch Mining
// loop; per caption, in batch order, this epilogue reads the threshold from the DMM state
// (kernels/dmm_update.wgsl may change it after every caption), masks the negative term by the
// word's own thresholded max (no intra-text propagation) and leaves the raw max_r s_wr of
// every image in `wordMax` for the update. Needs common/split_tile.wgsl, score_math.wgsl and
// naaf_split_row.wgsl. Dispatch (1, B): workgroup y scores image y; the launcher
// (src/ops/naafTrain.ts) points params.tileBase and params.rowBase at caption i's tile (one
// caption), so the result lands in out[n * B + i].

@group(0) @binding(3) var<storage, read> dmmState: array<f32>;      // [thres, thresSafe, meanPos, stdPos, meanNeg, stdNeg]
@group(0) @binding(4) var<storage, read_write> wordMax: array<f32>; // [B, L]: max_r s_wr of this caption, per image

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  let tile = prepareTile(tid, group);
  let t = dmmState[0];
  let lambda = params.lambdaSoftmax;
  let used = tileShape.y;
  regionNormsOverWords(tid);
  workgroupBarrier();

  for (var row = tid; row < used; row += WG) {
    let terms = naafPositives(row, t, lambda);
    let rowMax = terms.z - t;
    wordMax[image * params.maxWords + rowWord[row]] = terms.z;
    rowB[row] = terms.x + terms.y + select(0.0, rowMax, rowMax < 0.0);
  }
  workgroupBarrier();

  // The score is the mean over the caption's words.
  for (var c = tid; c < tileShape.x; c += WG) {
    var sum = 0.0;
    for (var w = 0u; w < capLen[c]; w++) { sum += rowB[capStart[c] + w]; }
    out[outIndex(tile, c)] = sum / f32(capLen[c]);
  }
}
