// Portable int8 product of the fused score kernels (with common/score_i8.wgsl): exact int32
// dot products with dot4I8Packed over staged chunks of packed rows, 4x4 blocks per thread.
// Gives bit-identical S to score_i8_mma.wgsl, so it also checks that path. Constants:
//   RQ, COLQ         region quads per image, IMGS * RQ
//   KCW              packed words (4 bytes each) per staged chunk
//   JOBS_PER_THREAD  4x4 blocks per thread

var<workgroup> uStage8: array<vec4<u32>, KCW * ROWS / 4u>;  // [k][row quad]
var<workgroup> vStage8: array<vec4<u32>, KCW * COLQ>;       // [k][column quad]

fn computeSims(tid: u32, tileIndex: u32, firstImage: u32) {
  let rowBase = tileRows[tileIndex];
  loadScales(tid, rowBase, firstImage);
  let words = params.dim / 4u;
  let rowQuads = ROWS / 4u;
  let colsPerImage = RQ * 4u;
  let jobs = rowQuads * COLQ;
  var acc: array<vec4<i32>, 4u * JOBS_PER_THREAD>;
  for (var i = 0u; i < 4u * JOBS_PER_THREAD; i++) { acc[i] = vec4<i32>(0); }
  for (var w0 = 0u; w0 < words; w0 += KCW) {
    for (var idx = tid; idx < ROWS * KCW; idx += WG) {
      let row = idx / KCW;
      let k = idx % KCW;
      var value = 0u;
      if (row < tileShape.y && w0 + k < words) { value = bitcast<u32>(captions[(rowBase + row) * words + w0 + k]); }
      uStage8[k * rowQuads + row / 4u][row % 4u] = value;
    }
    for (var idx = tid; idx < COLQ * 4u * KCW; idx += WG) {
      let col = idx / KCW;
      let k = idx % KCW;
      let image = firstImage + col / colsPerImage;
      let r = col % colsPerImage;
      var value = 0u;
      if (r < R && image < params.numImages && w0 + k < words) { value = bitcast<u32>(images[(image * R + r) * words + w0 + k]); }
      vStage8[k * COLQ + col / 4u][col % 4u] = value;
    }
    workgroupBarrier();
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
