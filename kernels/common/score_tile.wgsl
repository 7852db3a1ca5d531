// Shared part of the fused score kernels: bindings, the packed caption tile, and the
// word-region similarity product S = U_tile V_n^T, which stays in workgroup memory.
//
// One workgroup scores one tile of whole captions (packed word rows, no padding) against one
// image. Constants injected by the launcher (src/ops/score.ts):
//   WG               threads per workgroup
//   R, RQ            regions per image, and their quads ceil(R / 4)
//   ROWS             word rows per caption tile (>= the longest caption, a multiple of 4)
//   CAPS, CAPS_R     captions per tile at most, and CAPS * R
//   KC               depth of one staged chunk of the D loop
//   JOBS_PER_THREAD  4x4 (rows x regions) blocks of S each thread accumulates in registers
//   S_SIZE           ROWS * R

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
@group(0) @binding(1) var<storage, read> images: array<f32>;      // [N, R, D]
@group(0) @binding(2) var<storage, read> captions: array<f32>;    // [M, L, D]
@group(0) @binding(3) var<storage, read> lengths: array<u32>;     // [M], all captions
@group(0) @binding(4) var<storage, read> tiles: array<vec2u>;     // (first local caption, count)
@group(0) @binding(5) var<storage, read> regionGram: array<f32>;  // [chunk N, R, R]
@group(0) @binding(6) var<storage, read> wordGram: array<f32>;    // [chunk M, L, L]
@group(0) @binding(7) var<storage, read_write> out: array<f32>;   // [N, M] window

const EPS: f32 = 1e-8;
const NO_CAPTION: u32 = 0xffffffffu;

var<workgroup> tileS: array<f32, S_SIZE>;    // S [ROWS, R]
// Staged chunks of U and V, depth-major and packed by 4 rows / 4 regions, so each step of the
// product reads one vec4 of rows and one of regions for 16 multiply-adds.
var<workgroup> uStage: array<vec4<f32>, KC * ROWS / 4u>;  // [k][row quad]
var<workgroup> vStage: array<vec4<f32>, KC * RQ>;         // [k][region quad]
var<workgroup> capVals: array<f32, CAPS_R>;    // per (caption, region) values of the epilogue
var<workgroup> rowA: array<f32, ROWS>;
var<workgroup> rowB: array<f32, ROWS>;
var<workgroup> rowCap: array<u32, ROWS>;       // caption slot of each packed row
var<workgroup> rowWord: array<u32, ROWS>;      // word index of each packed row
var<workgroup> capStart: array<u32, CAPS>;     // first packed row of each caption slot
var<workgroup> capLen: array<u32, CAPS>;
var<workgroup> tileShape: vec2u;               // (captions in tile, used rows)

fn leakyRelu(x: f32) -> f32 {
  return select(0.1 * x, x, x > 0.0);
}

fn sAt(row: u32, r: u32) -> f32 {
  return tileS[row * R + r];
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

/** S[row, r] = u_row . v_r for image nLocal of the chunk, into tileS: 4x4 register blocks per thread. */
fn computeSims(tid: u32, tile: vec2u, nLocal: u32) {
  let dim = params.dim;
  let imageOffset = params.imgBase + nLocal * R * dim;
  let rowQuads = ROWS / 4u;
  let jobs = rowQuads * RQ;
  var acc: array<vec4<f32>, 4u * JOBS_PER_THREAD>;
  for (var i = 0u; i < 4u * JOBS_PER_THREAD; i++) { acc[i] = vec4<f32>(0.0); }
  for (var d0 = 0u; d0 < dim; d0 += KC) {
    // Consecutive threads read consecutive d of one row (contiguous in global memory).
    for (var idx = tid; idx < ROWS * KC; idx += WG) {
      let row = idx / KC;
      let k = idx % KC;
      let d = d0 + k;
      var value = 0.0;
      let c = rowCap[row];
      if (c != NO_CAPTION && d < dim) {
        let capOffset = params.capBase + (tile.x + c) * params.maxWords * dim;
        value = captions[capOffset + rowWord[row] * dim + d];
      }
      uStage[k * rowQuads + row / 4u][row % 4u] = value;
    }
    for (var idx = tid; idx < RQ * 4u * KC; idx += WG) {
      let r = idx / KC;
      let k = idx % KC;
      let d = d0 + k;
      var value = 0.0;
      if (r < R && d < dim) { value = images[imageOffset + r * dim + d]; }
      vStage[k * RQ + r / 4u][r % 4u] = value;
    }
    workgroupBarrier();
    for (var j = 0u; j < JOBS_PER_THREAD; j++) {
      let job = tid + j * WG;
      if (job < jobs) {
        let rq = job / RQ;
        let cq = job % RQ;
        for (var k = 0u; k < KC; k++) {
          let a = uStage[k * rowQuads + rq];
          let b = vStage[k * RQ + cq];
          acc[4u * j] += a.x * b;
          acc[4u * j + 1u] += a.y * b;
          acc[4u * j + 2u] += a.z * b;
          acc[4u * j + 3u] += a.w * b;
        }
      }
    }
    workgroupBarrier();
  }
  for (var j = 0u; j < JOBS_PER_THREAD; j++) {
    let job = tid + j * WG;
    if (job < jobs) {
      let rq = job / RQ;
      let cq = job % RQ;
      for (var i = 0u; i < 4u; i++) {
        for (var q = 0u; q < 4u; q++) {
          let r = cq * 4u + q;
          if (r < R) { tileS[(rq * 4u + i) * R + r] = acc[4u * j + i][q]; }
        }
      }
    }
  }
  workgroupBarrier();
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
 * with the per-caption region norms in capVals (regionNormsOverWords). Fills `weights` with
 * alpha and returns sum_r alpha_r s_r.
 */
fn relevanceWeights(row: u32, lambda: f32, weights: ptr<function, array<f32, R>>) -> f32 {
  let c = rowCap[row];
  var logitMax = -3.0e38;
  for (var r = 0u; r < R; r++) {
    logitMax = max(logitMax, lambda * leakyRelu(sAt(row, r)) / capVals[c * R + r]);
  }
  var total = 0.0;
  for (var r = 0u; r < R; r++) {
    let e = exp(lambda * leakyRelu(sAt(row, r)) / capVals[c * R + r] - logitMax);
    (*weights)[r] = e;
    total += e;
  }
  var weighted = 0.0;
  for (var r = 0u; r < R; r++) {
    (*weights)[r] = (*weights)[r] / total;
    weighted += (*weights)[r] * sAt(row, r);
  }
  return weighted;
}

/**
 * NAAF's positive attended-feature term of one row at threshold t (spec 3.1 step 3):
 * a_r = exp(lambda (s_r - t)) [s_r > t] / (sum + 1e-8), pos_f = (a . s) / max(||sum a_r v_r||, 1e-8)
 * with ||c||^2 = a^T G_n a. Evaluated shifted by the row max so large lambdas cannot overflow;
 * the 1e-8 is shifted the same way, so values are unchanged. Returns (max_r s_r, pos_f).
 */
fn attendedCosine(row: u32, nLocal: u32, t: f32, lambda: f32) -> vec2<f32> {
  var sMax = sAt(row, 0u);
  for (var r = 1u; r < R; r++) { sMax = max(sMax, sAt(row, r)); }
  var weights: array<f32, R>;
  var total = 0.0;
  var numerator = 0.0;
  for (var r = 0u; r < R; r++) {
    let s = sAt(row, r);
    var e = 0.0;
    if (s - t > 0.0) { e = exp(lambda * (s - sMax)); }
    weights[r] = e;
    total += e;
    numerator += e * s;
  }
  var posF = 0.0;
  if (total > 0.0) {
    let denominator = total + EPS * exp(-lambda * (sMax - t));
    let contextNorm = sqrt(regionQuadratic(nLocal, &weights)) / denominator;
    posF = (numerator / denominator) / max(contextNorm, EPS);
  }
  return vec2<f32>(sMax, posF);
}

/** w^T G_n w over the regions (G_n = V_n V_n^T), clamped at 0 against rounding. */
fn regionQuadratic(nLocal: u32, weights: ptr<function, array<f32, R>>) -> f32 {
  let gramBase = nLocal * R * R;
  var total = 0.0;
  for (var r = 0u; r < R; r++) {
    let wr = (*weights)[r];
    if (wr != 0.0) {
      var inner = 0.0;
      for (var q = 0u; q < R; q++) { inner += regionGram[gramBase + r * R + q] * (*weights)[q]; }
      total += wr * inner;
    }
  }
  return max(total, 0.0);
}

/** Index of caption slot c's result in `out`. */
fn outIndex(nLocal: u32, tile: vec2u, c: u32) -> u32 {
  return params.outBase + nLocal * params.outStride + params.capChunkStart + tile.x + c;
}
