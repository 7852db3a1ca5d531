// The f32 word-region product of the fused score kernels (with common/score_tile.wgsl):
// S[i, row, r] = u_row . v_r in workgroup memory, (4 RB) x 4 register blocks per thread over
// vec4-packed staged chunks. Constants:
//   RQ               region quads per image, ceil(R / 4)
//   COLQ             column quads of the product, IMGS * RQ
//   RB               row quads per thread block: each block is (4 RB rows) x (4 columns)
//   KC               depth of one staged chunk of the D loop
//   JOBS_PER_THREAD  blocks of S each thread accumulates in registers
//   UPER, VPER       caption / image staging elements per thread per chunk
//   (ROWS_R = ROWS * R, from score_tile.wgsl, is one image's share of tileS)

@group(0) @binding(1) var<storage, read> images: array<f32>;      // [N, R, D]
@group(0) @binding(2) var<storage, read> captions: array<f32>;    // [M, L, D]

var<workgroup> tileS: array<f32, IMGS * ROWS_R>;  // S [IMGS, ROWS, R]
// Staged chunks of U and V, depth-major and packed by 4 rows / 4 regions, so each step of the
// product reads one vec4 of rows and one of regions for 16 multiply-adds.
var<workgroup> uStage: array<vec4<f32>, KC * ROWS / 4u>;  // [k][row quad]
var<workgroup> vStage: array<vec4<f32>, KC * COLQ>;       // [k][column quad]
var<workgroup> rowSrc: array<u32, ROWS>;                  // element offset of each row in `captions`

fn sAt(row: u32, r: u32) -> f32 {
  return tileS[imageSlot * ROWS_R + row * R + r];
}

/**
 * Staging element idx of the caption chunk at depth d0: row idx / KC, depth d0 + idx % KC, so
 * consecutive threads read consecutive d of one row (contiguous in global memory). Zero outside.
 */
fn captionValue(idx: u32, d0: u32) -> f32 {
  let row = idx / KC;
  let d = d0 + idx % KC;
  if (idx < ROWS * KC && d < params.dim && rowCap[row] != NO_CAPTION) { return captions[rowSrc[row] + d]; }
  return 0.0;
}

/** Staging element idx of the image chunk: column idx / KC (image slot, region), depth d0 + idx % KC. */
fn imageValue(idx: u32, d0: u32, firstImage: u32) -> f32 {
  let col = idx / KC;
  let d = d0 + idx % KC;
  let image = firstImage + col / (RQ * 4u);
  let r = col % (RQ * 4u);
  if (idx < COLQ * 4u * KC && r < R && d < params.dim && image < params.numImages) {
    return images[params.imgBase + (image * R + r) * params.dim + d];
  }
  return 0.0;
}

/**
 * S[i, row, r] = u_row . v_r for the images firstImage + i (i < IMGS) of the chunk, into tileS:
 * (4 RB) x 4 register blocks per thread. Images past the chunk's end compute zeros.
 */
fn computeSims(tid: u32, tileIndex: u32, firstImage: u32) {
  let tile = tileAt(tileIndex);
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
  // Software pipelining: the next chunk's global values are loaded into registers while the
  // current chunk is multiplied out of workgroup memory, hiding the load latency.
  var uNext: array<f32, UPER>;
  var vNext: array<f32, VPER>;
  for (var i = 0u; i < UPER; i++) { uNext[i] = captionValue(tid + i * WG, 0u); }
  for (var i = 0u; i < VPER; i++) { vNext[i] = imageValue(tid + i * WG, 0u, firstImage); }
  for (var d0 = 0u; d0 < dim; d0 += KC) {
    for (var i = 0u; i < UPER; i++) {
      let idx = tid + i * WG;
      if (idx < ROWS * KC) { uStage[(idx % KC) * rowQuads + (idx / KC) / 4u][(idx / KC) % 4u] = uNext[i]; }
    }
    for (var i = 0u; i < VPER; i++) {
      let idx = tid + i * WG;
      if (idx < COLQ * 4u * KC) { vStage[(idx % KC) * COLQ + (idx / KC) / 4u][(idx / KC) % 4u] = vNext[i]; }
    }
    workgroupBarrier();
    if (d0 + KC < dim) {
      for (var i = 0u; i < UPER; i++) { uNext[i] = captionValue(tid + i * WG, d0 + KC); }
      for (var i = 0u; i < VPER; i++) { vNext[i] = imageValue(tid + i * WG, d0 + KC, firstImage); }
    }
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
            if (r < R) { tileS[(col / colsPerImage) * ROWS_R + row * R + r] = acc[4u * (j * RB + q) + i][e]; }
          }
        }
      }
    }
  }
  workgroupBarrier();
}
