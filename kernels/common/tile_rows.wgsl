// The packed caption tile that every score kernel works on (score_tile.wgsl, split_tile.wgsl,
// score_bwd_tile.wgsl): a tile is (first caption, count), its captions' word rows packed one
// after another with no padding, so a workgroup's rows are all real words. Written once here;
// the including file says where a caption's length comes from, since each reads its own table:
//   fn tileCaptionLength(tile: vec2u, c: u32) -> u32   (caption slot c of the tile)
// Needs the constants WG, ROWS (>= the tile's rows) and CAPS (>= its captions).
const NO_CAPTION: u32 = 0xffffffffu;

var<workgroup> rowCap: array<u32, ROWS>;       // caption slot of each packed row (NO_CAPTION past the used rows)
var<workgroup> rowWord: array<u32, ROWS>;      // word index of each packed row
var<workgroup> capStart: array<u32, CAPS>;     // first packed row of each caption slot
var<workgroup> capLen: array<u32, CAPS>;
var<workgroup> tileShape: vec2u;               // (captions in tile, used rows)

/** First half of the layout (one thread): each caption's first row and length. A barrier must follow. */
fn countTileRows(tid: u32, tile: vec2u) {
  if (tid == 0u) {
    var row = 0u;
    for (var c = 0u; c < tile.y; c++) {
      let len = tileCaptionLength(tile, c);
      capStart[c] = row;
      capLen[c] = len;
      row += len;
    }
    tileShape = vec2u(tile.y, row);
  }
}

/** Second half, after that barrier: each packed row's caption slot and word. A barrier must follow. */
fn fillTileRows(tid: u32, tile: vec2u) {
  for (var c = 0u; c < tile.y; c++) {
    for (var w = tid; w < capLen[c]; w += WG) {
      rowCap[capStart[c] + w] = c;
      rowWord[capStart[c] + w] = w;
    }
  }
  for (var row = tileShape.y + tid; row < ROWS; row += WG) {
    rowCap[row] = NO_CAPTION;
  }
}

/** The whole layout, barriers included (kernels with nothing to stage in between). */
fn layoutTileRows(tid: u32, tile: vec2u) {
  countTileRows(tid, tile);
  workgroupBarrier();
  fillTileRows(tid, tile);
  workgroupBarrier();
}
