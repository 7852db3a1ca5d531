// Backward of NAAF's training-path score (spec 3.2) for the pairs of one caption tile and one
// image: S -> dS (into tileX), and on the image side the region-Gram gradient dG_n. Per word,
// with g = gradScores[n, m] / L_m, t = thresholds[m] (masks and t are constants):
//   neg   = rowmax - t where rowmax - t < 0:     dS[argmax] += g (first index on ties)
//   pos_f = a.s / q, a = softmax over {s > t}, q = sqrt(a^T G a) (scale-free in a, so the
//           forward's +1e-8 cancels):  dS_r += g a_r (1 + lambda (s_r - pos_f (G a)_r / q)) / q,
//           dG += -g pos_f / (2 q^2) a a^T
//   pos_r = b.s, b = softmax_r(lambda shat), shat = LeakyReLU(s) / N_r (N_r: norm over words):
//           dS_r += g b_r, dshat_r = g lambda b_r (s_r - pos_r), then through N_r.
// Needs common/score_bwd_tile.wgsl and score.bwd.wgsl. Binding 8: thresholds [M].

const REGION_GRAM_GRAD: bool = true;
const WORD_GRAM_GRAD: bool = false;

@group(0) @binding(8) var<storage, read> thresholds: array<f32>;  // [M], per caption

fn captionRowScale(row: u32) -> f32 { return 0.0; }  // NAAF never uses ||u_w||
fn regionScale(r: u32) -> f32 { return 0.0; }        // nor ||v_r|| apart from G

/**
 * The positive attention of one row over the regions above t: `weights` = a (normalised, 0
 * outside), h = G_n a. Returns (q, pos_f, a.s), q = 0 when no region is above t.
 */
fn attendAboveThreshold(row: u32, n: u32, t: f32, lambda: f32,
  weights: ptr<function, array<f32, R>>, h: ptr<function, array<f32, R>>) -> vec3f {
  var sMax = sAt(row, 0u);
  for (var r = 1u; r < numRegions(); r++) { sMax = max(sMax, sAt(row, r)); }
  var total = 0.0;
  for (var r = 0u; r < numRegions(); r++) {
    let s = sAt(row, r);
    var e = 0.0;
    if (s - t > 0.0) { e = exp(lambda * (s - sMax)); }  // max-shifted: same a, no overflow
    (*weights)[r] = e;
    total += e;
  }
  if (total == 0.0) { return vec3f(0.0); }
  var weighted = 0.0;
  for (var r = 0u; r < numRegions(); r++) {
    (*weights)[r] = (*weights)[r] / total;
    weighted += (*weights)[r] * sAt(row, r);
  }
  let q = sqrt(regionGramTimes(n, weights, h));
  return vec3f(q, weighted / max(q, EPS), weighted);
}

fn pairGradients(tid: u32, tile: vec2u, n: u32) {
  let lambda = params.lambdaSoftmax;
  let used = tileShape.y;
  regionNormsOverWords(tid);

  if (IMAGE_SIDE) {
    // dG_n: rows hold a, rowC the coefficient of a a^T.
    for (var row = tid; row < used; row += WG) {
      let c = rowCap[row];
      var a: array<f32, R>;
      var h: array<f32, R>;
      let att = attendAboveThreshold(row, n, thresholds[tile.x + c], lambda, &a, &h);
      var coef = 0.0;
      if (att.x > EPS) { coef = -pairGrad(n, tile, c) / f32(capLen[c]) * att.y / (2.0 * att.x * att.x); }
      for (var r = 0u; r < numRegions(); r++) { tileX[row * R + r] = a[r]; }
      rowC[row] = coef;
    }
    workgroupBarrier();
    accumulateRegionGramGrad(tid, n);
  }
  workgroupBarrier();

  // dshat of the relevance branch, into tileX.
  for (var row = tid; row < used; row += WG) {
    let c = rowCap[row];
    let g = pairGrad(n, tile, c) / f32(capLen[c]);
    var b: array<f32, R>;
    let posR = relevanceWeights(row, lambda, &b);
    for (var r = 0u; r < numRegions(); r++) { tileX[row * R + r] = g * lambda * b[r] * (sAt(row, r) - posR); }
  }
  workgroupBarrier();
  normOverWordsBackward(tid);
  workgroupBarrier();

  // dS = relevance branch (direct + through shat) + attended feature + negative term.
  for (var row = tid; row < used; row += WG) {
    let c = rowCap[row];
    let g = pairGrad(n, tile, c) / f32(capLen[c]);
    let t = thresholds[tile.x + c];
    var b: array<f32, R>;
    relevanceWeights(row, lambda, &b);
    var a: array<f32, R>;
    var h: array<f32, R>;
    let att = attendAboveThreshold(row, n, t, lambda, &a, &h);
    var best = 0u;
    for (var r = 1u; r < numRegions(); r++) { if (sAt(row, r) > sAt(row, best)) { best = r; } }
    let negative = sAt(row, best) - t < 0.0;
    for (var r = 0u; r < numRegions(); r++) {
      let s = sAt(row, r);
      let at = row * R + r;
      var d = leakySlope(s) * (tileX[at] / capVals[c * R + r] - capB[c * R + r] * leakyRelu(s)) + g * b[r];
      if (att.x > EPS) {
        d += g * a[r] * (1.0 + lambda * (s - att.y * h[r] / att.x)) / att.x;
      } else {
        // ||c|| clamped at 1e-8 (degenerate regions): pos_f = a.s / 1e-8.
        d += g * a[r] * (1.0 + lambda * (s - att.z)) / EPS;
      }
      if (negative && r == best) { d += g; }
      tileX[at] = d;
    }
  }
  workgroupBarrier();
}
