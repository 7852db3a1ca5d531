// CHAN (CVPR 2023) inference score, split path: the epilogue of common/split_tile.wgsl over S^T
// from the GEMM. Visual hard assignment (ppanzx/CHAN lib/coding.py VHACoding): each word's best
// region, c_w = max_r s_wr, one thread per word row; then the pooling over the caption's words
// (LSEPooling: log sum_w exp(c_w / belta), max-shifted, with params.lambdaSoftmax = 1 / belta;
// MeanPooling: the mean). Padding never enters: the tile holds whole captions only.
// Extra constant: LSE (bool: log-sum-exp, else the mean).

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  let tile = prepareTile(tid, group);
  let used = tileShape.y;
  for (var row = tid; row < used; row += WG) {
    var best = sAt(row, 0u);
    for (var r = 1u; r < R; r++) { best = max(best, sAt(row, r)); }
    rowB[row] = best;
  }
  workgroupBarrier();

  let scale = params.lambdaSoftmax;
  for (var c = tid; c < tileShape.x; c += WG) {
    let first = capStart[c];
    let len = capLen[c];
    var result = 0.0;
    if (LSE) {
      var top = -3.0e38;
      for (var w = 0u; w < len; w++) { top = max(top, rowB[first + w] * scale); }
      var total = 0.0;
      for (var w = 0u; w < len; w++) { total += exp(rowB[first + w] * scale - top); }
      result = top + log(total);
    } else {
      for (var w = 0u; w < len; w++) { result += rowB[first + w]; }
      result = result / f32(len);
    }
    out[outIndex(tile, c)] = result;
  }
}
