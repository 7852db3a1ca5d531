// C = op(A) op(B) (+ bias over columns) (+ C when ACCUMULATE): a 64x64 output tile per
// workgroup, 4x4 outputs per thread, K staged 16 at a time in workgroup memory.
// op(A) is [M, K]: A stored [M, K], or [K, M] when TRANS_A. op(B) is [K, N]: B stored [K, N],
// or [N, K] when TRANS_B (a linear layer's weight [out, in]).
// Constants: TRANS_A, TRANS_B, BIAS, ACCUMULATE (bool).

struct Params {
  M: u32, N: u32, K: u32,
  aBase: u32, bBase: u32, cBase: u32, biasBase: u32,
  pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const TILE: u32 = 64u;
const KT: u32 = 16u;
var<workgroup> aTile: array<f32, 1024>; // [TILE rows][KT]
var<workgroup> bTile: array<f32, 1024>; // [KT][TILE cols]

fn loadA(row: u32, k: u32) -> f32 {
  if (row >= params.M || k >= params.K) { return 0.0; }
  if (TRANS_A) { return a[params.aBase + k * params.M + row]; }
  return a[params.aBase + row * params.K + k];
}

fn loadB(k: u32, col: u32) -> f32 {
  if (col >= params.N || k >= params.K) { return 0.0; }
  if (TRANS_B) { return b[params.bBase + col * params.K + k]; }
  return b[params.bBase + k * params.N + col];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) group: vec3u) {
  let tid = lid.y * 16u + lid.x;
  let rowBase = group.y * TILE;
  let colBase = group.x * TILE;
  var acc: array<f32, 16>;
  for (var i = 0u; i < 16u; i++) { acc[i] = 0.0; }
  for (var k0 = 0u; k0 < params.K; k0 += KT) {
    for (var idx = tid; idx < TILE * KT; idx += 256u) {
      aTile[idx] = loadA(rowBase + idx / KT, k0 + idx % KT);
      bTile[idx] = loadB(k0 + idx / TILE, colBase + idx % TILE);
    }
    workgroupBarrier();
    for (var k = 0u; k < KT; k++) {
      var aVals: array<f32, 4>;
      var bVals: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        aVals[i] = aTile[(lid.y * 4u + i) * KT + k];
        bVals[i] = bTile[k * TILE + lid.x * 4u + i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] += aVals[i] * bVals[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let row = rowBase + lid.y * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let col = colBase + lid.x * 4u + j;
      if (row < params.M && col < params.N) {
        var value = acc[i * 4u + j];
        if (BIAS) { value += bias[params.biasBase + col]; }
        let index = params.cBase + row * params.N + col;
        if (ACCUMULATE) { value += c[index]; }
        c[index] = value;
      }
    }
  }
}
