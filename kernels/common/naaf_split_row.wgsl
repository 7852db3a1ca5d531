// NAAF's two positive terms of one word row on the split path (naaf_split.wgsl and
// naaf_train_split.wgsl): pos_f, the cosine with the context attended over the regions above
// t, and pos_r, the relevance-weighted similarity. Needs split_tile.wgsl and score_math.wgsl
// (capVals must hold the tile's norms over words).

/** (pos_f, pos_r, max_r s) of `row` for threshold t. */
fn naafPositives(row: u32, t: f32, lambda: f32) -> vec3<f32> {
  var s = loadRow(row);
  var sMax = s[0][0];
  for (var r = 1u; r < R; r++) { sMax = max(sMax, s[r / 4u][r % 4u]); }
  // The attended weights e_r = exp(lambda (s_r - max s)) on regions above t (shifted by the
  // max so large lambdas cannot overflow), their sums and e^T G e.
  var e: RowQuads;
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
  let posF = attendedCosine(sMax - t, total, weighted, gramForm(&e), lambda);
  let relevance = relevanceWeights(row, &s, &e, lambda);
  return vec3<f32>(posF, relevance.y / relevance.x, sMax);
}
