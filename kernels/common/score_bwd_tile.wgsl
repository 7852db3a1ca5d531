// Shared part of the fused score backward kernels: bindings, the packed caption tile, the
// recomputed word-region similarities S = U_tile V_n^T (never stored outside workgroup memory),
// the products that turn a tile's dS into dU = dS V_n and dV_n = dS^T U_tile, and the Gram
// terms (dG_n + dG_n^T) V_n, (dW_m + dW_m^T) U_m.
//
// A method file (naaf_score.bwd.wgsl, scan_*_score.bwd.wgsl) provides pairGradients(), which
// turns S of one (caption tile, image) into dS in tileX, and score.bwd.wgsl the entry point.
// Constants injected by the launcher (src/ops/scoreBackward.ts):
//   WG          threads per workgroup
//   R           regions per image
//   ROWS        word rows per caption tile (>= the longest caption)
//   CAPS        captions per tile at most
//   KC          depth of one staged chunk of the D loop of S
//   PER_THREAD  ceil(ROWS * R / WG): similarity entries each thread accumulates
//   SMEM_MAIN   max(ROWS * R, (ROWS + R) * KC): staging of S, then S, then product staging
//   CAPS_R      CAPS * R;  ROWS_R  ROWS * R
//   V_CHUNK     SMEM_MAIN / R: dims of V_n staged per step of the caption-side product
//   U_CHUNK     SMEM_MAIN / ROWS: dims of U staged per step of the image-side product
//   IMAGE_SIDE  (bool) true: one workgroup per image, looping over caption tiles, writes dV;
//               false: one workgroup per caption tile, looping over images, writes dU
//   RUNTIME_R   (bool) true: loops over regions, and the S product's loop over PER_THREAD, run
//               to bounds read from params (same values), which the compiler cannot see, so it
//               does not unroll them: a CPU driver (lavapipe) JIT-compiles the fully unrolled
//               kernels for tens of seconds (SCAN t2i, R = 10: 16 s, rolled 4 s); a GPU keeps
//               the constant bounds. The inner KC loop stays unrolled (the hot one).

struct Params {
  dim: u32,          // D
  maxWords: u32,     // L, the padded caption length
  numImages: u32,    // N
  numCaptions: u32,  // M
  numTiles: u32,
  lengthsBase: u32,  // where the caption lengths start in tileLayout
  lambdaSoftmax: f32,
  lambdaLse: f32,
  groups: u32,       // workgroups that share one owner's loop (images or caption tiles), each over a range
  groupSize: u32,    // images (caption side) or caption tiles (image side) per group
  partialFloats: u32, // gradOut floats per group: with groups > 1 it holds a partial per group
  scratchFloats: u32, // scratch floats per group (likewise)
  regions: u32,      // R and PER_THREAD again, read at run time where RUNTIME_R
  perThread: u32,
  // The split backward only (score_epilogue.bwd.wgsl; the fused one passes 0):
  imageStart: u32,   // the pass's first image: S holds images [imageStart, imageStart + numImages)
  simStride: u32,    // floats per word row of S (the pass's images * R)
  firstPass: u32,    // 1 on the first pass over the images (caption owners zero their dW)
  scaleBase: u32,    // where the per-owner scales start in scratch
  scaleStride: u32,  // and the floats per owner (M * L for image owners, N * R for caption tiles)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> images: array<f32>;          // [N, R, D]
@group(0) @binding(2) var<storage, read> captions: array<f32>;        // [M, L, D]
@group(0) @binding(3) var<storage, read> tileLayout: array<u32>;      // (first caption, count) per tile, then lengths [M]
@group(0) @binding(4) var<storage, read> gradScores: array<f32>;      // [N, M]
@group(0) @binding(5) var<storage, read> regionGram: array<f32>;      // [N, R, R]
@group(0) @binding(6) var<storage, read_write> gradOut: array<f32>;   // dU [M, L, D] or dV [N, R, D] (per group with groups > 1); split: S, then dS
@group(0) @binding(7) var<storage, read_write> scratch: array<f32>;   // sum_n dW [M, L, L] or sum_m dG [N, R, R] (likewise)
// @binding(8) belongs to the method file.

// EPS, leakyRelu, regionNormOverWords and regionNormsOverWords: relevance_norm.wgsl.

var<workgroup> tileS: array<f32, SMEM_MAIN>;  // staging of S, then S [ROWS, R], then product staging
var<workgroup> tileX: array<f32, ROWS_R>;     // per-pair working values, finally dS [ROWS, R]
var<workgroup> capVals: array<f32, CAPS_R>;      // per (caption, region) values of the method
var<workgroup> capB: array<f32, CAPS_R>;
var<workgroup> rowA: array<f32, ROWS>;        // per row values of the method
var<workgroup> rowB: array<f32, ROWS>;
var<workgroup> rowC: array<f32, ROWS>;
var<workgroup> rowD: array<f32, ROWS>;
var<private> outBase: u32;                    // this workgroup's group's part of gradOut
var<private> scratchBase: u32;                // and of scratch

/** The bound of every loop over regions: R, or the same value from the uniform (see RUNTIME_R). */
fn numRegions() -> u32 {
  if (RUNTIME_R) { return params.regions; }
  return R;
}

fn perThread() -> u32 {
  if (RUNTIME_R) { return params.perThread; }
  return PER_THREAD;
}

fn leakySlope(x: f32) -> f32 {
  return select(0.1, 1.0, x > 0.0);
}

fn sAt(row: u32, r: u32) -> f32 {
  return tileS[row * R + r];
}

fn captionLength(m: u32) -> u32 {
  return tileLayout[params.lengthsBase + m];
}

/** Upstream gradient of the pair (image n, caption slot c of the tile). */
fn pairGrad(n: u32, tile: vec2u, c: u32) -> f32 {
  return gradScores[n * params.numCaptions + tile.x + c];
}

/** Element offset of a packed row's word vector in `captions` (and in dU). */
fn rowOffset(tile: vec2u, row: u32) -> u32 {
  return ((tile.x + rowCap[row]) * params.maxWords + rowWord[row]) * params.dim;
}

/** Caption slot c's length (common/tile_rows.wgsl). */
fn tileCaptionLength(tile: vec2u, c: u32) -> u32 {
  return captionLength(tile.x + c);
}

/** Lays out the tile's rows; every thread returns the tile's (first caption, count). */
fn layoutTile(tid: u32, tileIndex: u32) -> vec2u {
  let tile = vec2u(tileLayout[2u * tileIndex], tileLayout[2u * tileIndex + 1u]);
  layoutTileRows(tid, tile);
  return tile;
}

/** S[row, r] = u_row . v_r for image n, into tileS (rows past the tile's words are 0). */
fn computeSims(tid: u32, tile: vec2u, n: u32) {
  let dim = params.dim;
  let used = tileShape.y;
  let imageOffset = n * R * dim;
  var acc: array<f32, PER_THREAD>;
  for (var i = 0u; i < PER_THREAD; i++) { acc[i] = 0.0; }
  let vStage = ROWS * KC;
  for (var d0 = 0u; d0 < dim; d0 += KC) {
    for (var idx = tid; idx < ROWS * KC; idx += WG) {
      let row = idx / KC;
      let d = d0 + idx % KC;
      var value = 0.0;
      if (row < used && d < dim) { value = captions[rowOffset(tile, row) + d]; }
      tileS[idx] = value;
    }
    for (var idx = tid; idx < R * KC; idx += WG) {
      let r = idx / KC;
      let d = d0 + idx % KC;
      var value = 0.0;
      if (d < dim) { value = images[imageOffset + r * dim + d]; }
      tileS[vStage + idx] = value;
    }
    workgroupBarrier();
    for (var i = 0u; i < perThread(); i++) {
      let e = tid + i * WG;
      if (e < ROWS * R) {
        let uBase = (e / R) * KC;
        let vBase = vStage + (e % R) * KC;
        var sum = acc[i];
        for (var k = 0u; k < KC; k++) { sum += tileS[uBase + k] * tileS[vBase + k]; }
        acc[i] = sum;
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < PER_THREAD; i++) {
    let e = tid + i * WG;
    if (e < ROWS * R) { tileS[e] = acc[i]; }
  }
  workgroupBarrier();
}

// regionNormsOverWords (into capVals): relevance_norm.wgsl.

/**
 * SCAN t2i relevance weights of one row, alpha_r = softmax_r(lambda LeakyReLU(s_r) / capVals[c, r]),
 * into `weights`; returns sum_r alpha_r s_r.
 */
fn relevanceWeights(row: u32, lambda: f32, weights: ptr<function, array<f32, R>>) -> f32 {
  let c = rowCap[row];
  var logitMax = -3.0e38;
  for (var r = 0u; r < numRegions(); r++) {
    logitMax = max(logitMax, lambda * leakyRelu(sAt(row, r)) / capVals[c * R + r]);
  }
  var total = 0.0;
  for (var r = 0u; r < numRegions(); r++) {
    let e = exp(lambda * leakyRelu(sAt(row, r)) / capVals[c * R + r] - logitMax);
    (*weights)[r] = e;
    total += e;
  }
  var weighted = 0.0;
  for (var r = 0u; r < numRegions(); r++) {
    (*weights)[r] = (*weights)[r] / total;
    weighted += (*weights)[r] * sAt(row, r);
  }
  return weighted;
}

/** h = G_n w; returns w^T G_n w clamped at 0 (the attended context's squared norm). */
fn regionGramTimes(n: u32, weights: ptr<function, array<f32, R>>, h: ptr<function, array<f32, R>>) -> f32 {
  let gramBase = n * R * R;
  var quad = 0.0;
  for (var r = 0u; r < numRegions(); r++) {
    var inner = 0.0;
    for (var q = 0u; q < numRegions(); q++) { inner += regionGram[gramBase + r * R + q] * (*weights)[q]; }
    (*h)[r] = inner;
    quad += (*weights)[r] * inner;
  }
  return max(quad, 0.0);
}

/**
 * Backward of the normalisation across words, given dL/d(shat) in tileX: capB[c, r] =
 * T_r / (N_r^2 sqrt(Q_r)) with T_r = sum_w dshat_wr LeakyReLU(s_wr), N_r = capVals = sqrt(Q_r) + eps,
 * so that dL/dLeakyReLU(s_wr) = dshat_wr / N_r - capB[c, r] LeakyReLU(s_wr).
 */
fn normOverWordsBackward(tid: u32) {
  for (var idx = tid; idx < tileShape.x * R; idx += WG) {
    let c = idx / R;
    let r = idx % R;
    var total = 0.0;
    for (var w = 0u; w < capLen[c]; w++) {
      let row = capStart[c] + w;
      total += tileX[row * R + r] * leakyRelu(sAt(row, r));
    }
    let norm = capVals[idx];
    let root = norm - EPS;
    capB[idx] = select(0.0, total / (norm * norm * root), root > 0.0);
  }
}

/** scratch dG_n[r, q] += sum over the tile's rows of rowC[row] X[row, r] X[row, q]; fixed owner per entry. */
fn accumulateRegionGramGrad(tid: u32, n: u32) {
  let used = tileShape.y;
  for (var e = tid; e < R * R; e += WG) {
    let r = e / R;
    let q = e % R;
    var sum = 0.0;
    for (var row = 0u; row < used; row++) {
      let coef = rowC[row];
      if (coef != 0.0) { sum += coef * tileX[row * R + r] * tileX[row * R + q]; }
    }
    scratch[scratchBase + n * R * R + e] += sum;
  }
}

/**
 * scratch dW_m[w, v] += sum_r capVals[c, r] X[w, r] X[v, r] for each caption slot c of the tile
 * (X holds column weights alpha_{., r}); fixed owner per entry, since the tile never changes.
 */
fn accumulateWordGramGrad(tid: u32, tile: vec2u) {
  let L = params.maxWords;
  for (var c = 0u; c < tileShape.x; c++) {
    let len = capLen[c];
    let first = capStart[c];
    for (var e = tid; e < len * len; e += WG) {
      let w = e / len;
      let v = e % len;
      var sum = 0.0;
      for (var r = 0u; r < numRegions(); r++) {
        sum += capVals[c * R + r] * tileX[(first + w) * R + r] * tileX[(first + v) * R + r];
      }
      scratch[scratchBase + (tile.x + c) * L * L + w * L + v] += sum;
    }
  }
}

/**
 * Caption side: dU rows of the tile += dS V_n + captionRowScale(row) u_row (the method's
 * gradient through ||u_w||). V_n is staged V_CHUNK dims at a time; every (row, d) has a fixed
 * owner thread across images, so the read-modify-write of gradOut needs no barrier.
 */
fn accumulateCaptionGrads(tid: u32, tile: vec2u, n: u32) {
  let dim = params.dim;
  let used = tileShape.y;
  for (var d0 = 0u; d0 < dim; d0 += V_CHUNK) {
    for (var idx = tid; idx < R * V_CHUNK; idx += WG) {
      let d = d0 + idx % V_CHUNK;
      var value = 0.0;
      if (d < dim) { value = images[(n * R + idx / V_CHUNK) * dim + d]; }
      tileS[idx] = value;
    }
    workgroupBarrier();
    for (var idx = tid; idx < used * V_CHUNK; idx += WG) {
      let row = idx / V_CHUNK;
      let dd = idx % V_CHUNK;
      if (d0 + dd < dim) {
        var sum = 0.0;
        for (var r = 0u; r < numRegions(); r++) { sum += tileX[row * R + r] * tileS[r * V_CHUNK + dd]; }
        let at = rowOffset(tile, row) + d0 + dd;
        let scale = captionRowScale(row);
        if (scale != 0.0) { sum += scale * captions[at]; }
        gradOut[outBase + at] += sum;
      }
    }
    workgroupBarrier();
  }
}

/**
 * Image side: dV_n += dS^T U_tile + regionScale(r) v_r (the method's gradient through ||v_r||).
 * U_tile is staged U_CHUNK dims at a time; fixed owner thread per (r, d) across tiles.
 */
fn accumulateImageGrads(tid: u32, tile: vec2u, n: u32) {
  let dim = params.dim;
  let used = tileShape.y;
  for (var d0 = 0u; d0 < dim; d0 += U_CHUNK) {
    for (var idx = tid; idx < ROWS * U_CHUNK; idx += WG) {
      let row = idx / U_CHUNK;
      let d = d0 + idx % U_CHUNK;
      var value = 0.0;
      if (row < used && d < dim) { value = captions[rowOffset(tile, row) + d]; }
      tileS[idx] = value;
    }
    workgroupBarrier();
    for (var idx = tid; idx < R * U_CHUNK; idx += WG) {
      let r = idx / U_CHUNK;
      let dd = idx % U_CHUNK;
      if (d0 + dd < dim) {
        var sum = 0.0;
        for (var row = 0u; row < used; row++) { sum += tileX[row * R + r] * tileS[row * U_CHUNK + dd]; }
        let at = (n * R + r) * dim + d0 + dd;
        let scale = regionScale(r);
        if (scale != 0.0) { sum += scale * images[at]; }
        gradOut[outBase + at] += sum;
      }
    }
    workgroupBarrier();
  }
}

/** dV_n += (dG_n + dG_n^T) V_n = 2 dG_n V_n (dG_n, a sum of w w^T terms, is symmetric). */
fn finishImageGram(tid: u32, n: u32) {
  let dim = params.dim;
  for (var idx = tid; idx < R * dim; idx += WG) {
    let r = idx / dim;
    let d = idx % dim;
    var sum = 0.0;
    for (var q = 0u; q < numRegions(); q++) { sum += scratch[(n * R + r) * R + q] * images[(n * R + q) * dim + d]; }
    gradOut[n * R * dim + idx] += 2.0 * sum;
  }
}

/** dU_m += (dW_m + dW_m^T) U_m = 2 dW_m U_m for the tile's captions (dW_m symmetric). */
fn finishCaptionGram(tid: u32, tile: vec2u) {
  let dim = params.dim;
  let L = params.maxWords;
  for (var c = 0u; c < tile.y; c++) {
    let m = tile.x + c;
    let len = captionLength(m);
    for (var idx = tid; idx < len * dim; idx += WG) {
      let w = idx / dim;
      let d = idx % dim;
      var sum = 0.0;
      for (var v = 0u; v < len; v++) { sum += scratch[(m * L + w) * L + v] * captions[(m * L + v) * dim + d]; }
      gradOut[m * L * dim + idx] += 2.0 * sum;
    }
  }
}
