// Backward of SCAN's text-to-image score (spec 4) for the pairs of one caption tile and one
// image: S -> dS (into tileX); the region-Gram gradient dG_n on the image side; the gradient
// through ||u_w|| = sqrt(W_ww) as a per-row scale of u_w on the caption side. Per word:
//   alpha = softmax_r(lambda shat), shat = LeakyReLU(s) / N_r (N_r: norm over the words),
//   R_w = numer / max(nu q, eps), numer = alpha.s, q = sqrt(alpha^T G alpha), nu = ||u_w||;
//   score = LSE_lambdaLse or mean over words of R_w.
//   dnumer = dR / den, dq = -dR R / q, dnu = -dR R / nu (0 where den is clamped);
//   dalpha = s dnumer + dq G alpha / q; dG += dq / (2 q) alpha alpha^T; dU_w += (dnu / nu) u_w.
// Needs common/score_bwd_tile.wgsl and score.bwd.wgsl. Binding 8: wordGram [M, L, L] = U U^T.
// Extra constant: LSE (bool).

const REGION_GRAM_GRAD: bool = true;
const WORD_GRAM_GRAD: bool = false;

@group(0) @binding(8) var<storage, read> wordGram: array<f32>;  // [M, L, L]

fn captionRowScale(row: u32) -> f32 { return rowD[row]; }
fn regionScale(r: u32) -> f32 { return 0.0; }

/** One word: alpha into `weights`, h = G_n alpha; returns (numer, q, nu, R_w). */
fn t2iWord(row: u32, tile: vec2u, n: u32, lambda: f32,
  weights: ptr<function, array<f32, R>>, h: ptr<function, array<f32, R>>) -> vec4f {
  let numer = relevanceWeights(row, lambda, weights);
  let q = sqrt(regionGramTimes(n, weights, h));
  let w = rowWord[row];
  let m = tile.x + rowCap[row];
  let nu = sqrt(max(wordGram[(m * params.maxWords + w) * params.maxWords + w], 0.0));
  return vec4f(numer, q, nu, numer / max(nu * q, EPS));
}

fn pairGradients(tid: u32, tile: vec2u, n: u32) {
  let lambda = params.lambdaSoftmax;
  let used = tileShape.y;
  regionNormsOverWords(tid);
  workgroupBarrier();

  for (var row = tid; row < used; row += WG) {
    var alpha: array<f32, R>;
    var h: array<f32, R>;
    rowA[row] = t2iWord(row, tile, n, lambda, &alpha, &h).w;
  }
  workgroupBarrier();

  // dR_w of the aggregation over the caption's words, into rowB.
  for (var c = tid; c < tileShape.x; c += WG) {
    let g = pairGrad(n, tile, c);
    let first = capStart[c];
    let len = capLen[c];
    if (LSE) {
      let lambdaLse = params.lambdaLse;
      var best = rowA[first];
      for (var w = 1u; w < len; w++) { best = max(best, rowA[first + w]); }
      var total = 0.0;
      for (var w = 0u; w < len; w++) { total += exp(lambdaLse * (rowA[first + w] - best)); }
      for (var w = 0u; w < len; w++) { rowB[first + w] = g * exp(lambdaLse * (rowA[first + w] - best)) / total; }
    } else {
      for (var w = 0u; w < len; w++) { rowB[first + w] = g / f32(len); }
    }
  }
  workgroupBarrier();

  if (IMAGE_SIDE) {
    for (var row = tid; row < used; row += WG) {
      var alpha: array<f32, R>;
      var h: array<f32, R>;
      let v = t2iWord(row, tile, n, lambda, &alpha, &h);
      var coef = 0.0;
      if (v.z * v.y > EPS) { coef = -rowB[row] * v.w / (2.0 * v.y * v.y); }  // dq / (2 q)
      for (var r = 0u; r < numRegions(); r++) { tileX[row * R + r] = alpha[r]; }
      rowC[row] = coef;
    }
    workgroupBarrier();
    accumulateRegionGramGrad(tid, n);
    workgroupBarrier();
  }

  // dshat into tileX; rowC = dnumer, rowD = dnu / nu for the caption-side product.
  for (var row = tid; row < used; row += WG) {
    var alpha: array<f32, R>;
    var h: array<f32, R>;
    let v = t2iWord(row, tile, n, lambda, &alpha, &h);
    let dR = rowB[row];
    let den = v.z * v.y;
    let dNumer = dR / max(den, EPS);
    var dqOverQ = 0.0;
    var dnuOverNu = 0.0;
    if (den > EPS) {
      dqOverQ = -dR * v.w / (v.y * v.y);
      dnuOverNu = -dR * v.w / (v.z * v.z);
    }
    var dAlpha: array<f32, R>;
    var mean = 0.0;
    for (var r = 0u; r < numRegions(); r++) {
      dAlpha[r] = sAt(row, r) * dNumer + dqOverQ * h[r];
      mean += alpha[r] * dAlpha[r];
    }
    for (var r = 0u; r < numRegions(); r++) { tileX[row * R + r] = lambda * alpha[r] * (dAlpha[r] - mean); }
    rowC[row] = dNumer;
    rowD[row] = dnuOverNu;
  }
  workgroupBarrier();
  normOverWordsBackward(tid);
  workgroupBarrier();

  for (var row = tid; row < used; row += WG) {
    let c = rowCap[row];
    var alpha: array<f32, R>;
    relevanceWeights(row, lambda, &alpha);
    let dNumer = rowC[row];
    for (var r = 0u; r < numRegions(); r++) {
      let s = sAt(row, r);
      let at = row * R + r;
      tileX[at] = alpha[r] * dNumer + leakySlope(s) * (tileX[at] / capVals[c * R + r] - capB[c * R + r] * leakyRelu(s));
    }
  }
  workgroupBarrier();
}
