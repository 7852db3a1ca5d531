// Portable int8 product of the fused score kernels (with common/score_i8.wgsl): exact int32
// dot products with dot4I8Packed over staged chunks of packed rows, 4x4 blocks per thread.
// Gives bit-identical S to score_i8_mma.wgsl, so it also checks that path. Constants:
//   RQ, COLQ         region quads per image, IMGS * RQ
//   KCW              packed words (4 bytes each) per staged chunk
//   JOBS_PER_THREAD  4x4 blocks per thread
//   UPER, VPER       word / region staging elements per thread per chunk

var<workgroup> uStage8: array<vec4<u32>, KCW * ROWS / 4u>;  // [k][row quad]
var<workgroup> vStage8: array<vec4<u32>, KCW * COLQ>;       // [k][column quad]

/** Staging element idx of the tile's packed word rows at packed depth w0: row idx / KCW. */
fn wordValue(idx: u32, w0: u32, rowBase: u32, words: u32) -> u32 {
  let row = idx / KCW;
  let k = w0 + idx % KCW;
  if (idx < ROWS * KCW && row < tileShape.y && k < words) { return bitcast<u32>(captions[(rowBase + row) * words + k]); }
  return 0u;
}

/** Staging element idx of the workgroup's packed region rows: column idx / KCW (image slot, region). */
fn regionValue(idx: u32, w0: u32, firstImage: u32, words: u32) -> u32 {
  let col = idx / KCW;
  let k = w0 + idx % KCW;
  let image = firstImage + col / (RQ * 4u);
  let r = col % (RQ * 4u);
  if (idx < COLQ * 4u * KCW && r < R && image < params.numImages && k < words) { return bitcast<u32>(images[(params.imgBase + image * R + r) * words + k]); }
  return 0u;
}

fn computeSims(tid: u32, tileIndex: u32, firstImage: u32) {
  let rowBase = tables[params.tileRowBase + tileIndex];
  loadScales(tid, rowBase, firstImage);
  let words = params.dim / 4u;
  let rowQuads = ROWS / 4u;
  let colsPerImage = RQ * 4u;
  let jobs = rowQuads * COLQ;
  var acc: array<vec4<i32>, 4u * JOBS_PER_THREAD>;
  for (var i = 0u; i < 4u * JOBS_PER_THREAD; i++) { acc[i] = vec4<i32>(0); }
  // Software pipelining as in score_f32.wgsl: the next chunk is loaded while this one is used.
  var uNext: array<u32, UPER>;
  var vNext: array<u32, VPER>;
  for (var i = 0u; i < UPER; i++) { uNext[i] = wordValue(tid + i * WG, 0u, rowBase, words); }
  for (var i = 0u; i < VPER; i++) { vNext[i] = regionValue(tid + i * WG, 0u, firstImage, words); }
  for (var w0 = 0u; w0 < words; w0 += KCW) {
    for (var i = 0u; i < UPER; i++) {
      let idx = tid + i * WG;
      if (idx < ROWS * KCW) { uStage8[(idx % KCW) * rowQuads + (idx / KCW) / 4u][(idx / KCW) % 4u] = uNext[i]; }
    }
    for (var i = 0u; i < VPER; i++) {
      let idx = tid + i * WG;
      if (idx < COLQ * 4u * KCW) { vStage8[(idx % KCW) * COLQ + (idx / KCW) / 4u][(idx / KCW) % 4u] = vNext[i]; }
    }
    workgroupBarrier();
    if (w0 + KCW < words) {
      for (var i = 0u; i < UPER; i++) { uNext[i] = wordValue(tid + i * WG, w0 + KCW, rowBase, words); }
      for (var i = 0u; i < VPER; i++) { vNext[i] = regionValue(tid + i * WG, w0 + KCW, firstImage, words); }
    }
    for (var j = 0u; j < JOBS_PER_THREAD; j++) {
      let job = tid + j * WG;
      if (job < jobs) {
        let rq = job / COLQ;
        let cq = job % COLQ;
        for (var k = 0u; k < KCW; k++) {
          let a = uStage8[k * rowQuads + rq];
          let b = vStage8[k * COLQ + cq];
          for (var i = 0u; i < 4u; i++) {
            acc[4u * j + i] += vec4<i32>(dot4I8Packed(a[i], b.x), dot4I8Packed(a[i], b.y), dot4I8Packed(a[i], b.z), dot4I8Packed(a[i], b.w));
          }
        }
      }
    }
    workgroupBarrier();
  }
  for (var j = 0u; j < JOBS_PER_THREAD; j++) {
    let job = tid + j * WG;
    if (job < jobs) {
      let rq = job / COLQ;
      let cq = job % COLQ;
      for (var i = 0u; i < 4u; i++) {
        for (var e = 0u; e < 4u; e++) {
          let col = cq * 4u + e;
          let r = col % colsPerImage;
          if (r < R) { accS[(rq * 4u + i) * ACOLS + (col / colsPerImage) * RS + r] = acc[4u * j + i][e]; }
        }
      }
    }
  }
  workgroupBarrier();
}
