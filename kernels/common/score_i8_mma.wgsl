// Tensor-core int8 product of the fused score kernels (with common/score_i8.wgsl), through
// chromium_experimental_subgroup_matrix (i8 x i8 -> i32, M16 N16 K32): each subgroup computes
// 16 x 16 blocks of S straight from the packed rows in global memory and stores them into accS.
// Needs `enable chromium_experimental_subgroup_matrix;` and the device feature of that name.
// Constants: SG (subgroup size; WG = NSG * SG), NSG, CB = ceil(R / 16) region blocks per image
// (RS = 16 CB: a block past R reads the next image's or the zero padding rows, never used);
// ROWS is a multiple of 16.

// Loads and stores take byte offsets and strides for i8 (multiples of 4 here). The block
// indices depend on the subgroup index: the launcher turns off the
// chromium.subgroup_matrix_uniformity diagnostic, as every call is made by whole subgroups
// with subgroup-uniform operands.
fn computeSims(tid: u32, tileIndex: u32, firstImage: u32) {
  let rowBase = tileRows[tileIndex];
  loadScales(tid, rowBase, firstImage);
  let dp = params.dim;
  let sg = tid / SG;
  let blocks = (ROWS / 16u) * IMGS * CB;
  for (var blk = sg; blk < blocks; blk += NSG) {
    let rb = blk / (IMGS * CB);
    let cbi = blk % (IMGS * CB);
    let slot = cbi / CB;
    let r0 = (cbi % CB) * 16u;
    // An image slot past the chunk's end recomputes image 0; its columns are never read.
    var image = firstImage + slot;
    if (image >= params.numImages) { image = 0u; }
    let aOffset = (rowBase + rb * 16u) * dp;
    let bOffset = (image * R + r0) * dp;
    var acc = subgroup_matrix_result<i32, 16, 16>();
    for (var k = 0u; k < dp; k += 32u) {
      let a = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>>(&captions, aOffset + k, false, dp);
      let b = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>>(&images, bOffset + k, true, dp);
      acc = subgroupMatrixMultiplyAccumulate(a, b, acc);
    }
    subgroupMatrixStore(&accS, rb * 16u * ACOLS + slot * RS + r0, acc, false, ACOLS);
  }
  workgroupBarrier();
}
