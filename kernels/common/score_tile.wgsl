// Shared part of the fused score kernels (after common/score_math.wgsl): bindings, the packed caption tile and the epilogue
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
//   QT               lanes per row of the epilogue's partial sums (weightPartials)
//   GRAM_SHARED      stage each image's R x R Gram in workgroup memory (GRAM_SIZE = R * R, else 1)
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
  tileBase: u32,     // the tile table in `tables`: (first local caption, count) per tile
  tileRowBase: u32,  // int8: each tile's first packed word row in `tables`
  imageScaleBase: u32, // int8: the chunk's first region scale in `images` (u32 units)
  wordScaleBase: u32,  // int8: the chunk's first word scale in `captions` (u32 units)
  gramBase: u32,     // the chunk's first image in regionGram
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// Bindings 1 (images) and 2 (captions) and the product S come from the product file.
// The caption lengths [M] (from 0, all captions), then the tile table at tileBase (and for
// int8 the tiles' first packed rows at tileRowBase): one buffer, so that no variant of these
// kernels binds more than WebGPU's default 8 storage buffers.
@group(0) @binding(3) var<storage, read> tables: array<u32>;
@group(0) @binding(5) var<storage, read> regionGram: array<f32>;  // [chunk N, R, R]
@group(0) @binding(6) var<storage, read> wordGram: array<f32>;    // [chunk M, L, L]
@group(0) @binding(7) var<storage, read_write> out: array<f32>;   // [N, M] window

var<workgroup> capVals: array<f32, CAPS_R>;    // per (caption, region) values of the epilogue
var<workgroup> rowA: array<f32, ROWS>;
var<workgroup> rowB: array<f32, ROWS>;
// Epilogue scratch: per (row, region) weights, per-row values, the per-(row, lane) partial
// sums (QT lanes per row) and the Gram matrix of the image in hand.
var<workgroup> rowW: array<f32, ROWS_R>;
var<workgroup> rowM: array<f32, ROWS>;
// Per (row, lane): (sum w, sum w s, w^T G w or the intra-text mask) over the lane's regions.
var<workgroup> parts: array<vec3<f32>, ROWS * QT>;
var<workgroup> gramS: array<f32, GRAM_SIZE>;  // R * R, or 1 where it does not fit (GRAM_SHARED false)
// Offset of the image in hand's G_n in regionGram (for GRAM_SHARED false).
var<private> gramBase: u32;

// The workgroup image slot the epilogue is working on (uniform across the workgroup); the
// product file's sAt(row, r) reads S of that image.
var<private> imageSlot: u32;

fn selectImage(slot: u32) {
  imageSlot = slot;
}

/** Tile t of the chunk: (first local caption, count). */
fn tileAt(t: u32) -> vec2u {
  return vec2u(tables[params.tileBase + 2u * t], tables[params.tileBase + 2u * t + 1u]);
}

/** Caption slot c's length (common/tile_rows.wgsl). */
fn tileCaptionLength(tile: vec2u, c: u32) -> u32 {
  return tables[params.capChunkStart + tile.x + c];
}

/** Lays out the tile's rows; every thread returns the tile's (first caption, count). */
fn layoutTile(tid: u32, tileIndex: u32) -> vec2u {
  let tile = tileAt(tileIndex);
  layoutTileRows(tid, tile);
  return tile;
}

// The epilogue works in phases separated by workgroup barriers: per-row steps that are
// cheap (a max over the regions), per-(row, region) steps that hold the exps and divisions
// (rowW), and per-(row, lane) partial sums over every QT-th region (parts) that a per-row
// step adds up (rowParts). So every thread has work in every phase.

/** NAAF: max_r s_r of one row. */
fn rowMaxSim(row: u32) -> f32 {
  var m = sAt(row, 0u);
  for (var r = 1u; r < R; r++) { m = max(m, sAt(row, r)); }
  return m;
}

/** SCAN t2i relevance logit lambda LeakyReLU(s_r) / norm_c,r (norms in capVals, regionNormsOverWords). */
fn relevanceLogit(row: u32, r: u32, lambda: f32) -> f32 {
  return lambda * leakyRelu(sAt(row, r)) / capVals[rowCap[row] * R + r];
}

/** The largest relevance logit of one row (the softmax shift). */
fn relevanceLogitMax(row: u32, lambda: f32) -> f32 {
  var m = -3.0e38;
  for (var r = 0u; r < R; r++) { m = max(m, relevanceLogit(row, r, lambda)); }
  return m;
}

/**
 * NAAF's attended weights at threshold t (spec 3.1 step 3) for every (used row, region),
 * shifted by the row max (rowM) so large lambdas cannot overflow:
 * rowW = exp(lambda (s_r - max_r s)) [s_r > t].
 */
fn attendedWeightsAll(tid: u32, t: f32, lambda: f32) {
  for (var idx = tid; idx < tileShape.y * R; idx += WG) {
    let row = idx / R;
    let s = sAt(row, idx % R);
    var e = 0.0;
    if (s - t > 0.0) { e = exp(lambda * (s - rowM[row])); }
    rowW[idx] = e;
  }
}

/** Unnormalised relevance weights rowW = exp(logit_r - max logit) (max in rowM), every (used row, region). */
fn relevanceWeightsAll(tid: u32, lambda: f32) {
  for (var idx = tid; idx < tileShape.y * R; idx += WG) {
    let row = idx / R;
    rowW[idx] = exp(relevanceLogit(row, idx % R, lambda) - rowM[row]);
  }
}

/** Selects G_n = V_n V_n^T of the image in hand, copied into workgroup memory where it fits (visible after the next barrier). */
fn stageGram(tid: u32, nLocal: u32) {
  gramBase = (params.gramBase + nLocal) * R * R;
  if (GRAM_SHARED) {
    for (var idx = tid; idx < R * R; idx += WG) { gramS[idx] = regionGram[gramBase + idx]; }
  }
}

/** G_n[r, q] of the image in hand: from workgroup memory, or from regionGram for large R. */
fn gramAt(r: u32, q: u32) -> f32 {
  if (GRAM_SHARED) { return gramS[r * R + q]; }
  return regionGram[gramBase + r * R + q];
}

/**
 * Partial sums of the weights w in rowW, per used row over the regions r = lane (mod QT):
 * (sum w, sum w s) into parts.xy and, with `quad`, w^T G_n w's rows into parts.z.
 */
fn weightPartials(tid: u32, quad: bool) {
  for (var idx = tid; idx < tileShape.y * QT; idx += WG) {
    let row = idx / QT;
    var total = 0.0;
    var weighted = 0.0;
    var form = 0.0;
    for (var r = idx % QT; r < R; r += QT) {
      let w = rowW[row * R + r];
      total += w;
      weighted += w * sAt(row, r);
      if (quad && w != 0.0) {
        var inner = 0.0;
        for (var q = 0u; q < R; q++) { inner += gramAt(r, q) * rowW[row * R + q]; }
        form += w * inner;
      }
    }
    parts[idx].x = total;
    parts[idx].y = weighted;
    if (quad) { parts[idx].z = form; }
  }
}

/** NAAF's intra-text mask of every used row, sum_v softmax(lambda U U^T)_wv (max_r s_v - t), in parts over v = lane (mod QT) into parts.z. */
fn intraMaskPartials(tid: u32, tile: vec2u) {
  for (var idx = tid; idx < tileShape.y * QT; idx += WG) {
    let row = idx / QT;
    let c = rowCap[row];
    let base = ((tile.x + c) * params.maxWords + rowWord[row]) * params.maxWords;
    var total = 0.0;
    for (var v = idx % QT; v < capLen[c]; v += QT) { total += wordGram[base + v] * rowA[capStart[c] + v]; }
    parts[idx].z = total;
  }
}

/** A row's (sum w, sum w s, third quantity) from its QT lanes' parts. */
fn rowParts(row: u32) -> vec3<f32> {
  var total = vec3<f32>(0.0);
  for (var lane = 0u; lane < QT; lane++) { total += parts[row * QT + lane]; }
  return total;
}

/**
 * NAAF's per-word branches after phase 1 (rowM = max_r s, rowA = max_r s - t, capVals =
 * region norms, gramS staged, all behind a barrier): leaves pos_f in rowB, and pos_r's parts
 * in parts.xy (pos_r = rowParts.y / rowParts.x); with `intra`, the intra-text mask's parts in
 * parts.z. Call from uniform control flow; ends with a barrier.
 */
fn naafBranches(tid: u32, t: f32, lambda: f32, intra: bool, tile: vec2u) {
  // The attended weights of every (row, region), then their sums and e^T G_n e.
  attendedWeightsAll(tid, t, lambda);
  workgroupBarrier();
  weightPartials(tid, true);
  workgroupBarrier();
  // Per row, pos_f and the relevance softmax shift (rowM is free again).
  for (var row = tid; row < tileShape.y; row += WG) {
    let sums = rowParts(row);
    rowB[row] = attendedCosine(rowA[row], sums.x, sums.y, sums.z, lambda);
    rowM[row] = relevanceLogitMax(row, lambda);
  }
  workgroupBarrier();
  // The relevance weights of every (row, region), their sums, and the intra-text mask.
  relevanceWeightsAll(tid, lambda);
  workgroupBarrier();
  weightPartials(tid, false);
  if (intra) { intraMaskPartials(tid, tile); }
  workgroupBarrier();
}

/** NAAF: each caption's score, the mean of its words' totals in rowB, into `out`. */
fn writeCaptionMeans(tid: u32, nLocal: u32, tile: vec2u) {
  for (var c = tid; c < tileShape.x; c += WG) {
    var sum = 0.0;
    for (var w = 0u; w < capLen[c]; w++) { sum += rowB[capStart[c] + w]; }
    out[outIndex(nLocal, tile, c)] = sum / f32(capLen[c]);
  }
}

/** Index of caption slot c's result in `out`. */
fn outIndex(nLocal: u32, tile: vec2u, c: u32) -> u32 {
  return params.outBase + nLocal * params.outStride + params.capChunkStart + tile.x + c;
}
