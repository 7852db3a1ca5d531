// Shared part of the fused score kernels: bindings, the packed caption tile and the epilogue
// helpers. The word-region similarity product S = U_tile V_n^T comes from a product file
// (score_f32.wgsl, or score_i8.wgsl with score_i8_dot4.wgsl / score_i8_mma.wgsl) that defines
// computeSims(tid, tileIndex, firstImage) and sAt(row, r); S stays in workgroup memory.
//
// One workgroup scores one tile of whole captions (packed word rows, no padding) against IMGS
// consecutive images: the caption rows are staged once for all of them, and the product is one
// ROWS x (IMGS * 4 * RQ) block. The epilogue then walks the images one at a time
// (selectImage). Constants injected by the launcher (src/ops/score.ts):
//   WG               threads per workgroup
//   R                regions per image
//   IMGS             images per workgroup
//   ROWS             word rows per caption tile (>= the longest caption)
//   CAPS, CAPS_R     captions per tile at most, and CAPS * R
//   ROWS_R           ROWS * R
//   QT               threads per row for the quadratic forms w^T G w (quadraticParts)
// and the product file's own constants.
struct Params {
  imgBase: u32,       // element offset of the chunk's first image in `images`
  capBase: u32,       // element offset of the chunk's first caption in `captions`
  outBase: u32,       // element offset of (chunk image 0, caption 0) in `out`
  outStride: u32,     // row stride of the result: all captions, M
  capChunkStart: u32, // global index of the chunk's first caption
  dim: u32,           // D
  maxWords: u32,      // L, the padded caption length
  numImages: u32,     // images in this chunk
  threshold: f32,
  lambdaSoftmax: f32,
  lambdaLse: f32,
  imageStart: u32,   // global index of the chunk's first image
}

@group(0) @binding(0) var<uniform> params: Params;
// Bindings 1 (images) and 2 (captions) and the product S come from the product file.
@group(0) @binding(3) var<storage, read> lengths: array<u32>;     // [M], all captions
@group(0) @binding(4) var<storage, read> tiles: array<vec2u>;     // (first local caption, count)
@group(0) @binding(5) var<storage, read> regionGram: array<f32>;  // [chunk N, R, R]
@group(0) @binding(6) var<storage, read> wordGram: array<f32>;    // [chunk M, L, L]
@group(0) @binding(7) var<storage, read_write> out: array<f32>;   // [N, M] window

const EPS: f32 = 1e-8;
const NO_CAPTION: u32 = 0xffffffffu;

var<workgroup> capVals: array<f32, CAPS_R>;    // per (caption, region) values of the epilogue
var<workgroup> rowA: array<f32, ROWS>;
var<workgroup> rowB: array<f32, ROWS>;
var<workgroup> rowCap: array<u32, ROWS>;       // caption slot of each packed row
var<workgroup> rowWord: array<u32, ROWS>;      // word index of each packed row
var<workgroup> capStart: array<u32, CAPS>;     // first packed row of each caption slot
var<workgroup> capLen: array<u32, CAPS>;
var<workgroup> tileShape: vec2u;               // (captions in tile, used rows)
// Epilogue scratch: per (row, region) weights, a per-row value, the partial quadratic forms
// (QT threads per row) and the Gram matrix of the image in hand.
var<workgroup> rowW: array<f32, ROWS_R>;
var<workgroup> rowQ: array<f32, ROWS>;
var<workgroup> quadPart: array<f32, ROWS * QT>;
var<workgroup> gramS: array<f32, R * R>;

fn leakyRelu(x: f32) -> f32 {
  return select(0.1 * x, x, x > 0.0);
}

// The workgroup image slot the epilogue is working on (uniform across the workgroup); the
// product file's sAt(row, r) reads S of that image.
var<private> imageSlot: u32;

fn selectImage(slot: u32) {
  imageSlot = slot;
}

/** Lays out the tile's rows; every thread returns the tile's (first caption, count). */
fn layoutTile(tid: u32, tileIndex: u32) -> vec2u {
  let tile = tiles[tileIndex];
  if (tid == 0u) {
    var row = 0u;
    for (var c = 0u; c < tile.y; c++) {
      let len = lengths[params.capChunkStart + tile.x + c];
      capStart[c] = row;
      capLen[c] = len;
      row += len;
    }
    tileShape = vec2u(tile.y, row);
  }
  workgroupBarrier();
  for (var c = 0u; c < tile.y; c++) {
    for (var w = tid; w < capLen[c]; w += WG) {
      rowCap[capStart[c] + w] = c;
      rowWord[capStart[c] + w] = w;
    }
  }
  for (var row = tileShape.y + tid; row < ROWS; row += WG) {
    rowCap[row] = NO_CAPTION;
  }
  workgroupBarrier();
  return tile;
}

/** 1e-8 + sqrt(sum over caption c's words of LeakyReLU(s_wr)^2), per region, into capVals. */
fn regionNormsOverWords(tid: u32) {
  for (var idx = tid; idx < tileShape.x * R; idx += WG) {
    let c = idx / R;
    let r = idx % R;
    var sq = 0.0;
    for (var w = 0u; w < capLen[c]; w++) {
      let x = leakyRelu(sAt(capStart[c] + w, r));
      sq += x * x;
    }
    capVals[idx] = sqrt(sq) + EPS;
  }
}

/**
 * SCAN t2i relevance weights of one row: alpha_r = softmax_r(lambda LeakyReLU(s_r) / norm_c,r)
 * with the per-caption region norms in capVals (regionNormsOverWords). Leaves alpha in the
 * row's slice of rowW and returns sum_r alpha_r s_r.
 */
fn relevanceWeights(row: u32, lambda: f32) -> f32 {
  let c = rowCap[row];
  var logitMax = -3.0e38;
  for (var r = 0u; r < R; r++) {
    logitMax = max(logitMax, lambda * leakyRelu(sAt(row, r)) / capVals[c * R + r]);
  }
  var total = 0.0;
  for (var r = 0u; r < R; r++) {
    let e = exp(lambda * leakyRelu(sAt(row, r)) / capVals[c * R + r] - logitMax);
    rowW[row * R + r] = e;
    total += e;
  }
  var weighted = 0.0;
  for (var r = 0u; r < R; r++) {
    let alpha = rowW[row * R + r] / total;
    rowW[row * R + r] = alpha;
    weighted += alpha * sAt(row, r);
  }
  return weighted;
}

/**
 * NAAF's attended weights of one row at threshold t (spec 3.1 step 3), shifted by the row max
 * so large lambdas cannot overflow: e_r = exp(lambda (s_r - max_r s)) [s_r > t], left in the
 * row's slice of rowW. Returns (max_r s_r - t, sum e, sum e s, max_r s_r).
 */
fn attendedWeights(row: u32, t: f32, lambda: f32) -> vec4<f32> {
  var sMax = sAt(row, 0u);
  for (var r = 1u; r < R; r++) { sMax = max(sMax, sAt(row, r)); }
  var total = 0.0;
  var numerator = 0.0;
  for (var r = 0u; r < R; r++) {
    let s = sAt(row, r);
    var e = 0.0;
    if (s - t > 0.0) { e = exp(lambda * (s - sMax)); }
    rowW[row * R + r] = e;
    total += e;
    numerator += e * s;
  }
  return vec4<f32>(sMax - t, total, numerator, sMax);
}

/**
 * NAAF's pos_f = (a . s) / max(||sum a_r v_r||, 1e-8) with a = e / (sum e + 1e-8) and
 * ||c||^2 = a^T G_n a; the 1e-8 is shifted like e, so values are unchanged.
 */
fn attendedCosine(sMaxMinusT: f32, total: f32, numerator: f32, quad: f32, lambda: f32) -> f32 {
  if (total <= 0.0) { return 0.0; }
  let denominator = total + EPS * exp(-lambda * sMaxMinusT);
  let contextNorm = sqrt(quad) / denominator;
  return (numerator / denominator) / max(contextNorm, EPS);
}

/** Copies G_n = V_n V_n^T of the image in hand into workgroup memory (visible after the next barrier). */
fn stageGram(tid: u32, nLocal: u32) {
  for (var idx = tid; idx < R * R; idx += WG) { gramS[idx] = regionGram[nLocal * R * R + idx]; }
}

/**
 * The weights in rowW of every used row against G_n: w^T G_n w split over QT threads per row
 * (each takes every QT-th region), partial sums into quadPart. rowQuadratic adds them up.
 */
fn quadraticParts(tid: u32) {
  for (var idx = tid; idx < tileShape.y * QT; idx += WG) {
    let row = idx / QT;
    var total = 0.0;
    for (var r = idx % QT; r < R; r += QT) {
      let wr = rowW[row * R + r];
      if (wr != 0.0) {
        var inner = 0.0;
        for (var q = 0u; q < R; q++) { inner += gramS[r * R + q] * rowW[row * R + q]; }
        total += wr * inner;
      }
    }
    quadPart[idx] = total;
  }
}

/** w^T G_n w of one row from quadPart, clamped at 0 against rounding. */
fn rowQuadratic(row: u32) -> f32 {
  var total = 0.0;
  for (var lane = 0u; lane < QT; lane++) { total += quadPart[row * QT + lane]; }
  return max(total, 0.0);
}

/** Index of caption slot c's result in `out`. */
fn outIndex(nLocal: u32, tile: vec2u, c: u32) -> u32 {
  return params.outBase + nLocal * params.outStride + params.capChunkStart + tile.x + c;
}
