// The split path's int8 product on tensor cores (chromium_experimental_subgroup_matrix,
// i8 x i8 -> i32, M16 N16 K32): the same S^T [J, WP] as score_gemm.wgsl with gemm_i8.wgsl, bit
// for bit (exact int32 sums, then (f32(acc) * wordScale) * regionScale).
// A workgroup of 4 subgroups computes 64 region rows x 128 word rows; each subgroup a 32 x 64
// block: 2 left fragments x 4 right fragments = 8 accumulators, each right fragment reused by
// both left ones. Both operands are staged in workgroup memory KB bytes deep with a padded row
// stride (SA bytes), so fragment loads never touch global memory; the results go out through a
// per-subgroup 16 x 16 slot, rescaled and written as vec4s. Written in the flag spelling of the
// builtins (subgroupMatrixLoad<T>(p, offset, colMajor, stride)); src/gpu/shader.ts rewrites it
// for runtimes that want the template spelling. Offsets and strides of i8 matrices are in bytes.
// Constants: SG (subgroup size), WG = 4 SG.

struct Params {
  rows: u32,            // J: region rows of the pass
  words: u32,           // W: packed word rows
  wordStride: u32,      // WP: row stride of sT
  groups: u32,          // unused (16-byte depth groups of score_gemm.wgsl)
  regionBase: u32,      // the pass's first region row in `regions`
  wordBase: u32,        // the chunk's first word row in `words`
  rowLength: u32,       // u32 per packed row (DP / 4)
  regionScaleBase: u32, // the pass's first region row in regionScales
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> regions: array<u32>;       // packed int8 region rows
@group(0) @binding(2) var<storage, read> words: array<u32>;         // packed int8 word rows (>= WP of them)
@group(0) @binding(3) var<storage, read_write> sT: array<vec4<f32>>; // [J, WP / 4]
@group(0) @binding(5) var<storage, read> regionScales: array<f32>;
@group(0) @binding(6) var<storage, read> wordScales: array<f32>;

const TM: u32 = 64u;   // region rows per workgroup
const TN: u32 = 128u;  // word rows per workgroup
const KB: u32 = 64u;   // bytes of depth staged per step (two K32 fragments)
const SA: u32 = 80u;   // padded row stride of the staged operands, bytes
var<workgroup> aTile: array<i32, TM * SA / 4u>;
var<workgroup> bTile: array<i32, TN * SA / 4u>;
var<workgroup> cTile: array<i32, 4u * 256u>;  // one 16 x 16 result slot per subgroup

fn left(offset: u32) -> subgroup_matrix_left<i8, 32, 16> {
  return subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>>(&aTile, offset, false, SA);
}

// Word rows are the columns of the right operand: K x N stored column by column.
fn right(offset: u32) -> subgroup_matrix_right<i8, 16, 32> {
  return subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>>(&bTile, offset, true, SA);
}

/** Writes one 16 x 16 block (rows j0.., words w0..) of S^T through the subgroup's slot. */
fn emit(acc: subgroup_matrix_result<i32, 16, 16>, slot: u32, lane: u32, j0: u32, w0: u32) {
  subgroupMatrixStore(&cTile, slot * 256u, acc, false, 16u);
  workgroupBarrier();
  // The block's 64 quads of 4 words, spread over the subgroup's lanes.
  for (var q = lane; q < 64u; q += SG) {
    let r = q / 4u;
    let c = 4u * (q % 4u);
    let j = j0 + r;
    let w = w0 + c;
    if (j < params.rows && w < params.wordStride) {
      let base = slot * 256u + r * 16u + c;
      let acc4 = vec4<f32>(f32(cTile[base]), f32(cTile[base + 1u]), f32(cTile[base + 2u]), f32(cTile[base + 3u]));
      let scaleBase = params.wordBase + w;
      let wordScale = vec4<f32>(wordScales[scaleBase], wordScales[scaleBase + 1u], wordScales[scaleBase + 2u], wordScales[scaleBase + 3u]);
      sT[(j * params.wordStride + w) / 4u] = (acc4 * wordScale) * regionScales[params.regionScaleBase + j];
    }
  }
  workgroupBarrier();
}

// Fragment offsets depend on the subgroup index, which Tint's uniformity analysis cannot prove
// subgroup-uniform; the launcher turns the chromium.subgroup_matrix_uniformity diagnostic off,
// as every call is made by whole subgroups.
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  let row0 = group.y * TM;
  let col0 = group.x * TN;
  let sg = tid / SG;
  let lane = tid % SG;
  let aRow = (sg / 2u) * 32u;  // the subgroup's first row in the tile
  let bCol = (sg % 2u) * 64u;  // and first word
  var acc00 = subgroup_matrix_result<i32, 16, 16>();
  var acc01 = subgroup_matrix_result<i32, 16, 16>();
  var acc02 = subgroup_matrix_result<i32, 16, 16>();
  var acc03 = subgroup_matrix_result<i32, 16, 16>();
  var acc10 = subgroup_matrix_result<i32, 16, 16>();
  var acc11 = subgroup_matrix_result<i32, 16, 16>();
  var acc12 = subgroup_matrix_result<i32, 16, 16>();
  var acc13 = subgroup_matrix_result<i32, 16, 16>();
  let rowWords = params.rowLength;
  for (var k0 = 0u; k0 < rowWords; k0 += KB / 4u) {
    // Stage KB bytes of each operand row: consecutive threads read consecutive words of a row.
    for (var idx = tid; idx < TM * KB / 4u; idx += WG) {
      let r = idx / (KB / 4u);
      let k = k0 + idx % (KB / 4u);
      var value = 0u;
      if (row0 + r < params.rows && k < rowWords) { value = regions[(params.regionBase + row0 + r) * rowWords + k]; }
      aTile[r * (SA / 4u) + idx % (KB / 4u)] = bitcast<i32>(value);
    }
    for (var idx = tid; idx < TN * KB / 4u; idx += WG) {
      let w = idx / (KB / 4u);
      let k = k0 + idx % (KB / 4u);
      var value = 0u;
      if (col0 + w < params.words && k < rowWords) { value = words[(params.wordBase + col0 + w) * rowWords + k]; }
      bTile[w * (SA / 4u) + idx % (KB / 4u)] = bitcast<i32>(value);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < KB; kk += 32u) {
      let a0 = left(aRow * SA + kk);
      let a1 = left((aRow + 16u) * SA + kk);
      let b0 = right(bCol * SA + kk);
      acc00 = subgroupMatrixMultiplyAccumulate(a0, b0, acc00);
      acc10 = subgroupMatrixMultiplyAccumulate(a1, b0, acc10);
      let b1 = right((bCol + 16u) * SA + kk);
      acc01 = subgroupMatrixMultiplyAccumulate(a0, b1, acc01);
      acc11 = subgroupMatrixMultiplyAccumulate(a1, b1, acc11);
      let b2 = right((bCol + 32u) * SA + kk);
      acc02 = subgroupMatrixMultiplyAccumulate(a0, b2, acc02);
      acc12 = subgroupMatrixMultiplyAccumulate(a1, b2, acc12);
      let b3 = right((bCol + 48u) * SA + kk);
      acc03 = subgroupMatrixMultiplyAccumulate(a0, b3, acc03);
      acc13 = subgroupMatrixMultiplyAccumulate(a1, b3, acc13);
    }
    workgroupBarrier();
  }
  let j0 = row0 + aRow;
  let w0 = col0 + bCol;
  emit(acc00, sg, lane, j0, w0);
  emit(acc01, sg, lane, j0, w0 + 16u);
  emit(acc02, sg, lane, j0, w0 + 32u);
  emit(acc03, sg, lane, j0, w0 + 48u);
  emit(acc10, sg, lane, j0 + 16u, w0);
  emit(acc11, sg, lane, j0 + 16u, w0 + 16u);
  emit(acc12, sg, lane, j0 + 16u, w0 + 32u);
  emit(acc13, sg, lane, j0 + 16u, w0 + 48u);
}
