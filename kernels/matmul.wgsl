// C = op(A) op(B) (+ bias over columns) (+ C when ACCUMULATE): a 64x64 output tile per
// workgroup, 4x4 outputs per thread, K staged 16 at a time in workgroup memory.
// op(A) is [M, K]: A stored [M, K], or [K, M] when TRANS_A. op(B) is [K, N]: B stored [K, N],
// or [N, K] when TRANS_B (a linear layer's weight [out, in]).
// Both operands are staged depth-major ([k][row], [k][col]) in vec4s of 4 rows / 4 columns, so
// each step of the product reads one vec4 of each for 16 multiply-adds; the global reads walk
// the operand's contiguous axis across neighbouring threads whatever the layout.
// Workgroup z takes product z of a batch: every operand's base moves by its batch stride (the
// two directions of the bi-GRU in one dispatch). The layout flags are read at run time (bits
// of params.flags: 1 A transposed, 2 B transposed, 4 bias, 8 accumulate), so every use is one
// pipeline: on a CPU driver each variant was a compile of about a second, cold, and a training
// step used seven of them.

struct Params {
  M: u32, N: u32, K: u32,
  aBase: u32, bBase: u32, cBase: u32, biasBase: u32,
  flags: u32,
  aBatch: u32, bBatch: u32, cBatch: u32, biasBatch: u32, // element strides between the batch's products
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const TILE: u32 = 64u;
const KT: u32 = 16u;
var<workgroup> aTile: array<vec4<f32>, 256>; // [KT][TILE / 4 row quads]
var<workgroup> bTile: array<vec4<f32>, 256>; // [KT][TILE / 4 column quads]

var<private> aBase: u32;
var<private> bBase: u32;
var<private> TRANS_A: bool;
var<private> TRANS_B: bool;

fn loadA(row: u32, k: u32) -> f32 {
  if (row >= params.M || k >= params.K) { return 0.0; }
  if (TRANS_A) { return a[aBase + k * params.M + row]; }
  return a[aBase + row * params.K + k];
}

fn loadB(k: u32, col: u32) -> f32 {
  if (col >= params.N || k >= params.K) { return 0.0; }
  if (TRANS_B) { return b[bBase + col * params.K + k]; }
  return b[bBase + k * params.N + col];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) group: vec3u) {
  let tid = lid.y * 16u + lid.x;
  TRANS_A = (params.flags & 1u) != 0u;
  TRANS_B = (params.flags & 2u) != 0u;
  let BIAS = (params.flags & 4u) != 0u;
  let ACCUMULATE = (params.flags & 8u) != 0u;
  aBase = params.aBase + group.z * params.aBatch;
  bBase = params.bBase + group.z * params.bBatch;
  let rowBase = group.y * TILE;
  let colBase = group.x * TILE;
  var acc: array<vec4<f32>, 4>; // [4 rows] x 4 columns
  for (var k0 = 0u; k0 < params.K; k0 += KT) {
    for (var idx = tid; idx < TILE * KT; idx += 256u) {
      // Element (row, k) of op(A): k fastest across threads when A is [M, K], row when [K, M].
      var row = idx / KT;
      var k = idx % KT;
      if (TRANS_A) { row = idx % TILE; k = idx / TILE; }
      aTile[k * 16u + row / 4u][row % 4u] = loadA(rowBase + row, k0 + k);
      // Element (k, col) of op(B): col fastest when B is [K, N], k when [N, K].
      var col = idx % TILE;
      var kb = idx / TILE;
      if (TRANS_B) { col = idx / KT; kb = idx % KT; }
      bTile[kb * 16u + col / 4u][col % 4u] = loadB(k0 + kb, colBase + col);
    }
    workgroupBarrier();
    for (var k = 0u; k < KT; k++) {
      let rows = aTile[k * 16u + lid.y];
      let cols = bTile[k * 16u + lid.x];
      for (var i = 0u; i < 4u; i++) { acc[i] = fma(vec4<f32>(rows[i]), cols, acc[i]); }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let row = rowBase + lid.y * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let col = colBase + lid.x * 4u + j;
      if (row < params.M && col < params.N) {
        var value = acc[i][j];
        if (BIAS) { value += bias[params.biasBase + group.z * params.biasBatch + col]; }
        let index = params.cBase + group.z * params.cBatch + row * params.N + col;
        if (ACCUMULATE) { value += c[index]; }
        c[index] = value;
      }
    }
  }
}
