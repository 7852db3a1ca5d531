// The f32 word-region product of the fused score kernels (with common/score_tile.wgsl):
// S[i, row, r] = u_row . v_r in workgroup memory, (4 RB) x 4 register blocks per thread over
// vec4-packed staged chunks. Constants:
//   RQ               region quads per image, ceil(R / 4)
//   COLQ             column quads of the product, IMGS * RQ
//   RB               row quads per thread block: each block is (4 RB rows) x (4 columns)
//   KC               depth of one staged chunk of the D loop
//   JOBS_PER_THREAD  blocks of S each thread accumulates in registers
//   S_SIZE           ROWS * R, one image's share of tileS

@group(0) @binding(1) var<storage, read> images: array<f32>;      // [N, R, D]
@group(0) @binding(2) var<storage, read> captions: array<f32>;    // [M, L, D]

var<workgroup> tileS: array<f32, IMGS * S_SIZE>;  // S [IMGS, ROWS, R]
// Staged chunks of U and V, depth-major and packed by 4 rows / 4 regions, so each step of the
// product reads one vec4 of rows and one of regions for 16 multiply-adds.
var<workgroup> uStage: array<vec4<f32>, KC * ROWS / 4u>;  // [k][row quad]
var<workgroup> vStage: array<vec4<f32>, KC * COLQ>;       // [k][column quad]
var<workgroup> rowSrc: array<u32, ROWS>;                  // element offset of each row in `captions`

fn sAt(row: u32, r: u32) -> f32 {
  return tileS[imageSlot * S_SIZE + row * R + r];
}

/**
 * S[i, row, r] = u_row . v_r for the images firstImage + i (i < IMGS) of the chunk, into tileS:
 * (4 RB) x 4 register blocks per thread. Images past the chunk's end compute zeros.
 */
fn computeSims(tid: u32, tileIndex: u32, firstImage: u32) {
  let tile = tiles[tileIndex];
  for (var row = tid; row < ROWS; row += WG) {
    let c = rowCap[row];
    if (c != NO_CAPTION) { rowSrc[row] = params.capBase + ((tile.x + c) * params.maxWords + rowWord[row]) * params.dim; }
  }
  workgroupBarrier();
  let dim = params.dim;
  let rowQuads = ROWS / 4u;
  let colsPerImage = RQ * 4u;
  let jobs = (rowQuads / RB) * COLQ;
  var acc: array<vec4<f32>, 4u * RB * JOBS_PER_THREAD>;
  for (var i = 0u; i < 4u * RB * JOBS_PER_THREAD; i++) { acc[i] = vec4<f32>(0.0); }
  for (var d0 = 0u; d0 < dim; d0 += KC) {
    // Consecutive threads read consecutive d of one row (contiguous in global memory).
    for (var idx = tid; idx < ROWS * KC; idx += WG) {
      let row = idx / KC;
      let k = idx % KC;
      let d = d0 + k;
      var value = 0.0;
      if (rowCap[row] != NO_CAPTION && d < dim) { value = captions[rowSrc[row] + d]; }
      uStage[k * rowQuads + row / 4u][row % 4u] = value;
    }
    for (var idx = tid; idx < COLQ * 4u * KC; idx += WG) {
      let col = idx / KC;
      let k = idx % KC;
      let d = d0 + k;
      let image = firstImage + col / colsPerImage;
      let r = col % colsPerImage;
      var value = 0.0;
      if (r < R && d < dim && image < params.numImages) {
        value = images[params.imgBase + (image * R + r) * dim + d];
      }
      vStage[k * COLQ + col / 4u][col % 4u] = value;
    }
    workgroupBarrier();
    for (var j = 0u; j < JOBS_PER_THREAD; j++) {
      let job = tid + j * WG;
      if (job < jobs) {
        let rb = job / COLQ;
        let cq = job % COLQ;
        for (var k = 0u; k < KC; k++) {
          let b = vStage[k * COLQ + cq];
          for (var q = 0u; q < RB; q++) {
            let a = uStage[k * rowQuads + rb * RB + q];
            let base = 4u * (j * RB + q);
            acc[base] += a.x * b;
            acc[base + 1u] += a.y * b;
            acc[base + 2u] += a.z * b;
            acc[base + 3u] += a.w * b;
          }
        }
      }
    }
    workgroupBarrier();
  }
  for (var j = 0u; j < JOBS_PER_THREAD; j++) {
    let job = tid + j * WG;
    if (job < jobs) {
      let rb = job / COLQ;
      let cq = job % COLQ;
      for (var q = 0u; q < RB; q++) {
        for (var i = 0u; i < 4u; i++) {
          let row = (rb * RB + q) * 4u + i;
          for (var e = 0u; e < 4u; e++) {
            let col = cq * 4u + e;
            let r = col % colsPerImage;
            if (r < R) { tileS[(col / colsPerImage) * S_SIZE + row * R + r] = acc[4u * (j * RB + q) + i][e]; }
          }
        }
      }
    }
  }
  workgroupBarrier();
}
