// Shared part of the fused score kernels: bindings, the packed caption tile, and the
// word-region similarity product S = U_tile V_n^T, which stays in workgroup memory.
//
// One workgroup scores one tile of whole captions (packed word rows, no padding) against one
// image. Constants injected by the launcher (src/ops/score.ts):
//   WG          threads per workgroup
//   R           regions per image
//   ROWS        word rows per caption tile (>= the longest caption)
//   CAPS        captions per tile at most
//   KC          depth of one staged chunk of the D loop
//   PER_THREAD  ceil(ROWS * R / WG): similarity entries each thread accumulates
//   SMEM_MAIN   max(ROWS * R, (ROWS + R) * KC): the staging chunks, then S, share it

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
  pad0: f32,
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

var<workgroup> tileS: array<f32, SMEM_MAIN>;  // staging during the product, then S [ROWS, R]
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

/** S[row, r] = u_row . v_r for image nLocal of the chunk, into tileS. */
fn computeSims(tid: u32, tile: vec2u, nLocal: u32) {
  let dim = params.dim;
  let imageOffset = params.imgBase + nLocal * R * dim;
  var acc: array<f32, PER_THREAD>;
  for (var i = 0u; i < PER_THREAD; i++) { acc[i] = 0.0; }
  let vStage = ROWS * KC;
  for (var d0 = 0u; d0 < dim; d0 += KC) {
    for (var idx = tid; idx < ROWS * KC; idx += WG) {
      let row = idx / KC;
      let d = d0 + idx % KC;
      var value = 0.0;
      let c = rowCap[row];
      if (c != NO_CAPTION && d < dim) {
        let capOffset = params.capBase + (tile.x + c) * params.maxWords * dim;
        value = captions[capOffset + rowWord[row] * dim + d];
      }
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
    for (var i = 0u; i < PER_THREAD; i++) {
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
