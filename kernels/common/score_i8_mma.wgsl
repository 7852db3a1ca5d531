// Tensor-core int8 product of the fused score kernels (with common/score_i8.wgsl), through
// chromium_experimental_subgroup_matrix (i8 x i8 -> i32, M16 N16 K32): each subgroup job is
// one 16-row block of the tile against up to CPS 16-region column blocks, loading the row
// block once per depth step for all of them, straight from the packed rows in global memory;
// the results go to accS. Needs `enable chromium_experimental_subgroup_matrix;` and the device
// feature of that name. Constants: SG (subgroup size; WG = NSG * SG), NSG, CB = ceil(R / 16)
// region blocks per image (RS = 16 CB: a block past R reads the next image's or the zero
// padding rows, never used), CPS (1..3) column blocks per job, SPR = ceil(IMGS CB / CPS) jobs
// per row block; ROWS is a multiple of 16.

fn rightBlock(cbi: u32, firstImage: u32, dp: u32, k: u32) -> subgroup_matrix_right<i8, 16, 32> {
  // An image slot past the chunk's end recomputes image 0; its columns are never read.
  var image = firstImage + cbi / CB;
  if (image >= params.numImages) { image = 0u; }
  return subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>>(&images, (params.imgBase + image * R + (cbi % CB) * 16u) * dp + k, true, dp);
}

fn storeBlock(rb: u32, cbi: u32, acc: subgroup_matrix_result<i32, 16, 16>) {
  subgroupMatrixStore(&accS, rb * 16u * ACOLS + (cbi / CB) * RS + (cbi % CB) * 16u, acc, false, ACOLS);
}

// Loads and stores take byte offsets and strides for i8 (multiples of 4 here). Offsets depend
// on the subgroup index: the launcher turns off the chromium.subgroup_matrix_uniformity
// diagnostic, as every call is made by whole subgroups with subgroup-uniform operands.
fn computeSims(tid: u32, tileIndex: u32, firstImage: u32) {
  let rowBase = tables[params.tileRowBase + tileIndex];
  loadScales(tid, rowBase, firstImage);
  let dp = params.dim;
  let columns = IMGS * CB;
  for (var job = tid / SG; job < (ROWS / 16u) * SPR; job += NSG) {
    let rb = job / SPR;
    let c0 = (job % SPR) * CPS;
    let has1 = CPS > 1u && c0 + 1u < columns;
    let has2 = CPS > 2u && c0 + 2u < columns;
    let aOffset = (rowBase + rb * 16u) * dp;
    var acc0 = subgroup_matrix_result<i32, 16, 16>();
    var acc1 = subgroup_matrix_result<i32, 16, 16>();
    var acc2 = subgroup_matrix_result<i32, 16, 16>();
    for (var k = 0u; k < dp; k += 32u) {
      let a = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>>(&captions, aOffset + k, false, dp);
      acc0 = subgroupMatrixMultiplyAccumulate(a, rightBlock(c0, firstImage, dp, k), acc0);
      if (has1) { acc1 = subgroupMatrixMultiplyAccumulate(a, rightBlock(c0 + 1u, firstImage, dp, k), acc1); }
      if (has2) { acc2 = subgroupMatrixMultiplyAccumulate(a, rightBlock(c0 + 2u, firstImage, dp, k), acc2); }
    }
    storeBlock(rb, c0, acc0);
    if (has1) { storeBlock(rb, c0 + 1u, acc1); }
    if (has2) { storeBlock(rb, c0 + 2u, acc2); }
  }
  workgroupBarrier();
}
