// Backward of SCAN's image-to-text score (spec 4) for the pairs of one caption tile and one
// image: S -> dS (into tileX); the word-Gram gradient dW_m on the caption side; the gradient
// through ||v_r|| = sqrt(G_rr) as a per-region scale of v_r on the image side. Per region r
// (a column of the caption's words w):
//   alpha = softmax_w(lambda shat), shat = LeakyReLU(s) / P_w (P_w: norm over the regions),
//   R_r = numer / max(nv q, eps), numer = alpha.s, q = sqrt(alpha^T W alpha), nv = ||v_r||;
//   score = LSE_lambdaLse or mean over regions of R_r.
//   dnumer = dR / den, dq = -dR R / q, dnv = -dR R / nv (0 where den is clamped);
//   dalpha = s dnumer + dq W alpha / q; dW += dq / (2 q) alpha alpha^T; dV_r += (dnv / nv) v_r.
// Needs common/score_bwd_tile.wgsl and score.bwd.wgsl. Binding 8: wordGram [M, L, L] = U U^T.
// Extra constant: LSE (bool).

const REGION_GRAM_GRAD: bool = false;
const WORD_GRAM_GRAD: bool = true;

@group(0) @binding(8) var<storage, read> wordGram: array<f32>;  // [M, L, L]

fn captionRowScale(row: u32) -> f32 { return 0.0; }

/** Image side: sum over the tile's captions of dnv / nv (in capB after pairGradients). */
fn regionScale(r: u32) -> f32 {
  var sum = 0.0;
  for (var c = 0u; c < tileShape.x; c++) { sum += capB[c * R + r]; }
  return sum;
}

/** alpha over caption slot c's words for region r, into `weights`; returns alpha.s. */
fn i2tWeights(c: u32, r: u32, lambda: f32, weights: ptr<function, array<f32, ROWS>>) -> f32 {
  let first = capStart[c];
  let len = capLen[c];
  var logitMax = -3.0e38;
  for (var w = 0u; w < len; w++) {
    logitMax = max(logitMax, lambda * leakyRelu(sAt(first + w, r)) / rowA[first + w]);
  }
  var total = 0.0;
  for (var w = 0u; w < len; w++) {
    let e = exp(lambda * leakyRelu(sAt(first + w, r)) / rowA[first + w] - logitMax);
    (*weights)[w] = e;
    total += e;
  }
  var numer = 0.0;
  for (var w = 0u; w < len; w++) {
    (*weights)[w] = (*weights)[w] / total;
    numer += (*weights)[w] * sAt(first + w, r);
  }
  return numer;
}

/** One region: alpha into `weights`, h = W_m alpha; returns (numer, q, nv, R_r). */
fn i2tRegion(c: u32, r: u32, tile: vec2u, n: u32, lambda: f32,
  weights: ptr<function, array<f32, ROWS>>, h: ptr<function, array<f32, ROWS>>) -> vec4f {
  let numer = i2tWeights(c, r, lambda, weights);
  let len = capLen[c];
  let L = params.maxWords;
  let wordBase = (tile.x + c) * L * L;
  var quad = 0.0;
  for (var w = 0u; w < len; w++) {
    var inner = 0.0;
    for (var v = 0u; v < len; v++) { inner += wordGram[wordBase + w * L + v] * (*weights)[v]; }
    (*h)[w] = inner;
    quad += (*weights)[w] * inner;
  }
  let q = sqrt(max(quad, 0.0));
  let nv = sqrt(max(regionGram[(n * R + r) * R + r], 0.0));
  return vec4f(numer, q, nv, numer / max(nv * q, EPS));
}

fn pairGradients(tid: u32, tile: vec2u, n: u32) {
  let lambda = params.lambdaSoftmax;
  let used = tileShape.y;
  let columns = tileShape.x * R;

  // P_w = 1e-8 + l2 norm over the regions of LeakyReLU(s), into rowA.
  for (var row = tid; row < used; row += WG) {
    var sq = 0.0;
    for (var r = 0u; r < numRegions(); r++) { let x = leakyRelu(sAt(row, r)); sq += x * x; }
    rowA[row] = sqrt(sq) + EPS;
  }
  workgroupBarrier();

  for (var idx = tid; idx < columns; idx += WG) {
    var alpha: array<f32, ROWS>;
    var h: array<f32, ROWS>;
    capVals[idx] = i2tRegion(idx / R, idx % R, tile, n, lambda, &alpha, &h).w;
  }
  workgroupBarrier();

  // dR_r of the aggregation over regions, into capB.
  for (var c = tid; c < tileShape.x; c += WG) {
    let g = pairGrad(n, tile, c);
    if (LSE) {
      let lambdaLse = params.lambdaLse;
      var best = capVals[c * R];
      for (var r = 1u; r < numRegions(); r++) { best = max(best, capVals[c * R + r]); }
      var total = 0.0;
      for (var r = 0u; r < numRegions(); r++) { total += exp(lambdaLse * (capVals[c * R + r] - best)); }
      for (var r = 0u; r < numRegions(); r++) { capB[c * R + r] = g * exp(lambdaLse * (capVals[c * R + r] - best)) / total; }
    } else {
      for (var r = 0u; r < numRegions(); r++) { capB[c * R + r] = g / f32(R); }
    }
  }
  workgroupBarrier();

  if (!IMAGE_SIDE) {
    // dW_m: columns of tileX hold alpha, capVals the coefficient dq / (2 q) of alpha alpha^T.
    for (var idx = tid; idx < columns; idx += WG) {
      let c = idx / R;
      let r = idx % R;
      var alpha: array<f32, ROWS>;
      var h: array<f32, ROWS>;
      let v = i2tRegion(c, r, tile, n, lambda, &alpha, &h);
      var coef = 0.0;
      if (v.z * v.y > EPS) { coef = -capB[idx] * v.w / (2.0 * v.y * v.y); }
      for (var w = 0u; w < capLen[c]; w++) { tileX[(capStart[c] + w) * R + r] = alpha[w]; }
      capVals[idx] = coef;
    }
    workgroupBarrier();
    accumulateWordGramGrad(tid, tile);
    workgroupBarrier();
  }

  // dshat into tileX; capVals = dnumer, capB = dnv / nv (this thread's own entries).
  for (var idx = tid; idx < columns; idx += WG) {
    let c = idx / R;
    let r = idx % R;
    var alpha: array<f32, ROWS>;
    var h: array<f32, ROWS>;
    let v = i2tRegion(c, r, tile, n, lambda, &alpha, &h);
    let dR = capB[idx];
    let den = v.z * v.y;
    let dNumer = dR / max(den, EPS);
    var dqOverQ = 0.0;
    var dnvOverNv = 0.0;
    if (den > EPS) {
      dqOverQ = -dR * v.w / (v.y * v.y);
      dnvOverNv = -dR * v.w / (v.z * v.z);
    }
    let first = capStart[c];
    let len = capLen[c];
    var mean = 0.0;
    for (var w = 0u; w < len; w++) {
      h[w] = sAt(first + w, r) * dNumer + dqOverQ * h[w];  // h becomes dalpha
      mean += alpha[w] * h[w];
    }
    for (var w = 0u; w < len; w++) { tileX[(first + w) * R + r] = lambda * alpha[w] * (h[w] - mean); }
    capVals[idx] = dNumer;
    capB[idx] = dnvOverNv;
  }
  workgroupBarrier();

  // Through P_w (a reduction over the row's regions), in place.
  for (var row = tid; row < used; row += WG) {
    var total = 0.0;
    for (var r = 0u; r < numRegions(); r++) { total += tileX[row * R + r] * leakyRelu(sAt(row, r)); }
    let norm = rowA[row];
    let root = norm - EPS;
    let factor = select(0.0, total / (norm * norm * root), root > 0.0);
    for (var r = 0u; r < numRegions(); r++) {
      let s = sAt(row, r);
      tileX[row * R + r] = leakySlope(s) * (tileX[row * R + r] / norm - factor * leakyRelu(s));
    }
  }
  workgroupBarrier();

  // The direct part alpha dnumer.
  for (var idx = tid; idx < columns; idx += WG) {
    let c = idx / R;
    let r = idx % R;
    var alpha: array<f32, ROWS>;
    i2tWeights(c, r, lambda, &alpha);
    for (var w = 0u; w < capLen[c]; w++) { tileX[(capStart[c] + w) * R + r] += alpha[w] * capVals[idx]; }
  }
  workgroupBarrier();
}
