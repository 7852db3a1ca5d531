// Shared part of the split path's epilogue kernels (after common/score_math.wgsl, before one of
// naaf_split.wgsl, scan_t2i_split.wgsl, scan_i2t_split.wgsl): S^T comes from the GEMM
// (kernels/score_gemm.wgsl) in global memory, [image, region, packed word row].
//
// One workgroup scores one tile of whole captions (packed word rows rowBase.., no padding)
// against one image. With PAIRS (exact re-scoring of chosen pairs) a workgroup reads its tile
// from a job table: captions from a list (each paired with the tile's image), S^T from that
// image's block of the scratch, one result per list entry. Work is one thread per word row wherever it can be: a row's max, softmaxes
// and Gram form run in a thread, with S^T and the weights in workgroup memory laid out
// [region][row], so neighbouring threads touch neighbouring words (no bank conflicts on a GPU,
// contiguous vector loads on a CPU driver). Per-caption steps (norms over words, the intra-text
// mask, the mean) come after barriers. Constants (src/ops/splitEpilogue.ts):
//   WG               threads (<= ROWS; a thread takes rows tid, tid + WG, ...)
//   R                regions per image
//   ROWS             word rows per tile (>= the longest caption)
//   CAPS, CAPS_R     captions per tile at most, and CAPS * R
//   S_SHARED         stage the tile's S^T in workgroup memory (S_SIZE = R * ROWS, else 1)
//   WT_SIZE          R * ROWS where the method keeps per (region, row) weights (scan-i2t), else 1
//   PAIRS            tiles from a job table (bool)
//   RQ               ceil(R / 4): region quads
//   GRAM_SHARED      stage the image's R x R Gram in workgroup memory, zero-padded to 4 RQ x 4 RQ
//                    (GRAM_SIZE = 4 RQ * RQ quads, else 1)
struct Params {
  wordStride: u32,    // WP: row stride of sT
  capChunkStart: u32, // global index of the chunk's first caption (lengths)
  outBase: u32,       // element offset of (pass image 0, chunk caption 0) in `out`
  outStride: u32,     // row stride of the result: all captions, M
  maxWords: u32,      // L, the padded caption length (word Gram stride)
  numImages: u32,     // images of the pass
  imageStart: u32,    // global index of the pass's first image
  gramBase: u32,      // the pass's first image in regionGram
  threshold: f32,
  lambdaSoftmax: f32,
  lambdaLse: f32,
  tileBase: u32,      // the tile table in `tables`: (first caption, count) per tile; PAIRS: 8 u32 per job
  rowBase: u32,       // each tile's first packed word row; PAIRS: the caption of each list entry
  resultBase: u32,    // PAIRS: the result index of each list entry
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> sT: array<f32>;           // [pass N, R, WP]
// The caption lengths [M] (from 0) and the tables at tileBase, rowBase and resultBase, in one
// buffer (a kernel gets 8 storage bindings by default). PAIRS jobs: (first list entry, count,
// image, first packed row of the image's words, sT offset of the image's block, its row stride, 0, 0).
@group(0) @binding(2) var<storage, read> tables: array<u32>;
@group(0) @binding(5) var<storage, read> regionGram: array<f32>;   // [chunk N, R, R]
@group(0) @binding(6) var<storage, read> wordGram: array<f32>;     // [chunk M, L, L]
@group(0) @binding(7) var<storage, read_write> out: array<f32>;    // [N, M] window (PAIRS: one per pair)

var<workgroup> sS: array<f32, S_SIZE>;         // S^T of the tile [R][ROWS] (S_SHARED)
var<workgroup> wT: array<f32, WT_SIZE>;        // per (region, row) weights [R][ROWS] (scan-i2t; else 1)
var<workgroup> gramS: array<vec4<f32>, GRAM_SIZE>;  // G_n [4 RQ][RQ] in quads, zero past R (GRAM_SHARED)
var<workgroup> capVals: array<f32, CAPS_R>;    // per (caption, region) values
var<workgroup> rowA: array<f32, ROWS>;
var<workgroup> rowB: array<f32, ROWS>;

var<private> image: u32;     // the tile's image in the pass
var<private> sBase: u32;     // element offset of the tile's (region 0, row 0) in sT
var<private> sStride: u32;   // row stride of sT
var<private> gramBase: u32;  // element offset of the image's G_n in regionGram

fn sAt(row: u32, r: u32) -> f32 {
  if (S_SHARED) { return sS[r * ROWS + row]; }
  return sT[sBase + r * sStride + row];
}

/** Caption slot c's length (common/tile_rows.wgsl). */
fn tileCaptionLength(tile: vec2u, c: u32) -> u32 {
  return tables[params.capChunkStart + captionOf(tile, c)];
}

/** Caption slot c of the tile as an index of the chunk's captions (wordGram, lengths). */
fn captionOf(tile: vec2u, c: u32) -> u32 {
  if (PAIRS) { return tables[params.rowBase + tile.x + c]; }
  return tile.x + c;
}

fn gramAt(r: u32, q: u32) -> f32 {
  if (GRAM_SHARED) { return gramS[r * RQ + q / 4u][q % 4u]; }
  return regionGram[gramBase + r * R + q];
}

/** G_n[r, 4k .. 4k + 3], zero past R (also for rows r >= R, up to 4 RQ). */
fn gramQuad(r: u32, k: u32) -> vec4<f32> {
  if (GRAM_SHARED) { return gramS[r * RQ + k]; }
  var quad = vec4<f32>(0.0);
  for (var e = 0u; e < 4u; e++) {
    if (r < R && 4u * k + e < R) { quad[e] = regionGram[gramBase + r * R + 4u * k + e]; }
  }
  return quad;
}

/**
 * Lays out the workgroup's tile, sets its image, and stages its S^T and G_n; every thread
 * returns the tile's (first caption, count). Ends with a barrier.
 */
fn prepareTile(tid: u32, group: vec3u) -> vec2u {
  var tile: vec2u;
  if (PAIRS) {
    let job = params.tileBase + 8u * group.x;
    tile = vec2u(tables[job], tables[job + 1u]);
    image = tables[job + 2u];
    sStride = tables[job + 5u];
    sBase = tables[job + 4u] + tables[job + 3u];
  } else {
    tile = vec2u(tables[params.tileBase + 2u * group.x], tables[params.tileBase + 2u * group.x + 1u]);
    image = group.y;
    sStride = params.wordStride;
    sBase = image * R * sStride + tables[params.rowBase + group.x];
  }
  countTileRows(tid, tile);
  gramBase = (params.gramBase + image) * R * R;
  if (GRAM_SHARED) {
    for (var idx = tid; idx < 16u * RQ * RQ; idx += WG) {
      let r = idx / (4u * RQ);
      let q = idx % (4u * RQ);
      var value = 0.0;
      if (r < R && q < R) { value = regionGram[gramBase + r * R + q]; }
      gramS[idx / 4u][idx % 4u] = value;
    }
  }
  workgroupBarrier();
  let used = tileShape.y;
  fillTileRows(tid, tile);
  if (S_SHARED) {
    for (var idx = tid; idx < R * used; idx += WG) {
      let r = idx / used;
      let row = idx % used;
      sS[r * ROWS + row] = sT[sBase + r * sStride + row];
    }
  }
  workgroupBarrier();
  return tile;
}

// A word row's R values held by its thread: RQ quads, zero past R. Every index into one is a
// loop counter, so a CPU driver (lavapipe) reads whole vectors across threads instead of lane
// by lane, and a GPU compiler may keep the quads in registers.
alias RowQuads = array<vec4<f32>, RQ>;

/** S of `row` against every region. */
fn loadRow(row: u32) -> RowQuads {
  var s: RowQuads;
  for (var r = 0u; r < R; r++) { s[r / 4u][r % 4u] = sAt(row, r); }
  return s;
}

/** e^T G_n e: R x RQ vec4 dot products. */
fn gramForm(e: ptr<function, RowQuads>) -> f32 {
  var form = 0.0;
  for (var r = 0u; r < R; r++) {
    var inner = 0.0;
    for (var k = 0u; k < RQ; k++) { inner += dot(gramQuad(r, k), (*e)[k]); }
    form += (*e)[r / 4u][r % 4u] * inner;
  }
  return form;
}

/**
 * SCAN's relevance weights of `row` (s its values): e_r = exp(lambda LeakyReLU(s_r) / norm_c,r
 * - max), norms in capVals, into `e`, unnormalised; returns (sum e, sum e s).
 */
fn relevanceWeights(row: u32, s: ptr<function, RowQuads>, e: ptr<function, RowQuads>, lambda: f32) -> vec2<f32> {
  let capBase = rowCap[row] * R;
  var best = -3.0e38;
  for (var r = 0u; r < R; r++) { best = max(best, lambda * leakyRelu((*s)[r / 4u][r % 4u]) / capVals[capBase + r]); }
  var sums = vec2<f32>(0.0);
  for (var r = 0u; r < R; r++) {
    let value = (*s)[r / 4u][r % 4u];
    let weight = exp(lambda * leakyRelu(value) / capVals[capBase + r] - best);
    (*e)[r / 4u][r % 4u] = weight;
    sums += vec2<f32>(weight, weight * value);
  }
  return sums;
}

/** Index of caption slot c's result in `out` (for the tile's image). */
fn outIndex(tile: vec2u, c: u32) -> u32 {
  if (PAIRS) { return tables[params.resultBase + tile.x + c]; }
  return params.outBase + image * params.outStride + params.capChunkStart + tile.x + c;
}

/** Offset of row w of caption slot c's L x L word Gram in wordGram. */
fn wordGramRow(tile: vec2u, c: u32, w: u32) -> u32 {
  return (captionOf(tile, c) * params.maxWords + w) * params.maxWords;
}
