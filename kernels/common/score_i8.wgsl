// The int8 inputs of the fused score kernels (with common/score_tile.wgsl and one of
// score_i8_dot4.wgsl / score_i8_mma.wgsl): per-row quantised embeddings (kernels/quantize_rows.wgsl)
// and their scales. The product accumulates exact int32 dot products into accS; sAt rescales
// them, in the same order on every path: (f32(acc) * wordScale) * regionScale. Constants:
//   RS     columns of accS per image slot (R, or 16 * ceil(R / 16) for the subgroup-matrix path)
//   ACOLS  IMGS * RS
// params.dim is DP, the padded row length in bytes (a multiple of 32); params.imgBase is the
// chunk's first packed region row; params.capBase is unused (the packed word rows are per chunk).
// Each packed buffer holds its rows' scales too (as f32 bits, from imageScaleBase and
// wordScaleBase), so the kernels bind no more than 8 storage buffers.

@group(0) @binding(1) var<storage, read> images: array<i32>;       // packed i8 rows [.., DP], then their scales
@group(0) @binding(2) var<storage, read> captions: array<i32>;     // packed i8 word rows of the chunk [words + ROWS, DP], then their scales

var<workgroup> accS: array<i32, ROWS * ACOLS>;  // exact u_row . v_r in quantised units
var<workgroup> rowScale: array<f32, ROWS>;
var<workgroup> colScale: array<f32, IMGS * R>;

fn sAt(row: u32, r: u32) -> f32 {
  return (f32(accS[row * ACOLS + imageSlot * RS + r]) * rowScale[row]) * colScale[imageSlot * R + r];
}

/** The scales of the tile's rows (the packed rows rowBase..) and of the workgroup's images. */
fn loadScales(tid: u32, rowBase: u32, firstImage: u32) {
  for (var row = tid; row < ROWS; row += WG) { rowScale[row] = bitcast<f32>(captions[params.wordScaleBase + rowBase + row]); }
  for (var idx = tid; idx < IMGS * R; idx += WG) {
    let image = firstImage + idx / R;
    var scale = 0.0;
    if (image < params.numImages) { scale = bitcast<f32>(images[params.imageScaleBase + image * R + idx % R]); }
    colScale[idx] = scale;
  }
}
