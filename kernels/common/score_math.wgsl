// Scalar pieces shared by the fused (score_tile.wgsl) and split (split_tile.wgsl) epilogues.

const EPS: f32 = 1e-8;

fn leakyRelu(x: f32) -> f32 {
  return select(0.1 * x, x, x > 0.0);
}

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
