// Pieces shared by the fused (score_tile.wgsl) and split (split_tile.wgsl) epilogues. Both tiles
// define what these read: sAt(row, r), capStart, capLen, capVals, rowB, tileShape, WG and R.

// EPS, leakyRelu and regionNormOverWords: relevance_norm.wgsl.

/**
 * NAAF's pos_f = (a . s) / max(||sum a_r v_r||, 1e-8) with a = e / (sum e + 1e-8) and
 * ||c||^2 = a^T G_n a (quad = e^T G_n e), where e = exp(lambda (s - max_r s)) on the kept
 * regions: the 1e-8 is shifted like e (sMaxMinusT = max_r s - t), so values are unchanged.
 */
fn attendedCosine(sMaxMinusT: f32, total: f32, numerator: f32, quad: f32, lambda: f32) -> f32 {
  if (total <= 0.0) { return 0.0; }
  let denominator = total + EPS * exp(-lambda * sMaxMinusT);
  let contextNorm = sqrt(max(quad, 0.0)) / denominator;
  return (numerator / denominator) / max(contextNorm, EPS);
}


/**
 * SCAN's aggregation of `count` values, rowB[first + i] (t2i: the caption's words) or
 * capVals[first + i] (i2t: its regions): (1/lambda) log sum exp(lambda x), max-shifted (same
 * value, no overflow), with `lse`, else the mean.
 */
fn aggregate(first: u32, count: u32, fromRows: bool, lse: bool, lambda: f32) -> f32 {
  if (lse) {
    var best = -3.0e38;
    for (var i = 0u; i < count; i++) { best = max(best, aggregated(first + i, fromRows)); }
    var sum = 0.0;
    for (var i = 0u; i < count; i++) { sum += exp(lambda * (aggregated(first + i, fromRows) - best)); }
    return best + log(sum) / lambda;
  }
  var total = 0.0;
  for (var i = 0u; i < count; i++) { total += aggregated(first + i, fromRows); }
  return total / f32(count);
}

fn aggregated(index: u32, fromRows: bool) -> f32 {
  if (fromRows) { return rowB[index]; }
  return capVals[index];
}
