// The split path's word-region product as a GEMM: S^T[j, w] = v_j . u_w for every region row j
// of an image pass (j = image * R + r) and every packed word row w of a caption chunk, written
// to a scratch buffer in global memory laid out [image, region, word row] with row stride WP
// (a multiple of 4): the epilogue (kernels/common/split_tile.wgsl), one thread per word row,
// then reads consecutive addresses. The operand format (f32, f16, int8) comes from a part that
// defines Elem (one staged depth element: a float, or a u32 of four int8), Acc, mac(), finish()
// and the loaders of a depth group (4 Elem of one row) (kernels/common/gemm_*.wgsl).
//
// With PAIRS (exact re-scoring of chosen pairs), each workgroup reads its tile from `jobs`:
// one image's regions against the word rows of the captions paired with it, into that image's
// own block of the scratch.
//
// BM x BN output tiles (regions x words), 8 x 8 results per thread as two 4 x 4 quarters
// (rows 4 tm and BM/2 + 4 tm, columns 4 tn and BN/2 + 4 tn), so every read of the staged
// operands is one vec4 of four rows; KT depth elements staged per step (KG = KT / 4 groups per
// row), with the next step's groups loaded into registers while this one is multiplied.
// Constants: BM, BN (64 or 128), KT, KG, WG = BM * BN / 64, LA = BM * KG / WG and
// LB = BN * KG / WG (groups each thread stages per step), AS = BM / 4 + 1 and BS = BN / 4 + 1
// (padded strides of the staged operands, in vec4), PAIRS (bool).

struct Params {
  rows: u32,            // J: region rows of the pass (images * R)
  words: u32,           // W: packed word rows of the chunk
  wordStride: u32,      // WP: row stride of sT, W rounded up to 4
  groups: u32,          // depth groups per row
  regionBase: u32,      // the pass's first region row in the region operand (the part's unit)
  wordBase: u32,        // the chunk's first word row in the word operand (the part's unit)
  rowLength: u32,       // one operand row in the part's unit (f32: D floats)
  regionScaleBase: u32, // int8: the pass's first region row in regionScales
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(3) var<storage, read_write> sT: array<vec4<f32>>;  // [J, WP / 4]
// PAIRS: two per workgroup: (region base, rows, first word column, words) and
// (first entry of the word list, output base, output row stride, first region row).
@group(0) @binding(7) var<storage, read> jobs: array<vec4<u32>>;

// The problem the workgroup's tile belongs to: its rows and words, where region row 0 and
// the word list start, and where S^T (row 0, word 0) goes in sT (floats; both multiples of 4).
struct Problem {
  rows: u32,
  words: u32,
  regionBase: u32,
  wordStart: u32,
  outBase: u32,
  stride: u32,
}
var<private> problem: Problem;

var<workgroup> aStage: array<vec4<Elem>, KT * AS>;  // [k][4 regions], padded
var<workgroup> bStage: array<vec4<Elem>, KT * BS>;  // [k][4 words], padded

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  var row0 = group.y * BM;
  var col0 = group.x * BN;
  problem = Problem(params.rows, params.words, params.regionBase, 0u, 0u, params.wordStride);
  if (PAIRS) {
    let a = jobs[2u * group.x];
    let b = jobs[2u * group.x + 1u];
    problem = Problem(a.y, a.w, a.x, b.x, b.y, b.z);
    row0 = b.w;
    col0 = a.z;
  }
  let tm = tid / (BN / 8u);
  let tn = tid % (BN / 8u);
  // Staging group i of this thread: row (tid + i WG) / KG, group (tid + i WG) % KG of the step,
  // so consecutive threads read consecutive groups of one row. The rows stay the same in every
  // step: the word rows' sources are looked up once.
  var aNext: array<vec4<Elem>, LA>;
  var bNext: array<vec4<Elem>, LB>;
  var wordSource: array<u32, LB>;
  for (var i = 0u; i < LB; i++) { wordSource[i] = wordRowSource(col0 + (tid + i * WG) / KG); }
  for (var i = 0u; i < LA; i++) { aNext[i] = regionGroup(row0 + (tid + i * WG) / KG, (tid + i * WG) % KG); }
  for (var i = 0u; i < LB; i++) { bNext[i] = wordGroup(wordSource[i], (tid + i * WG) % KG); }
  var acc: array<vec4<Acc>, 16>;  // [8 rows][2 column quads]
  for (var g0 = 0u; g0 < params.groups; g0 += KG) {
    for (var i = 0u; i < LA; i++) {
      let idx = tid + i * WG;
      let r = idx / KG;
      for (var e = 0u; e < 4u; e++) { aStage[(4u * (idx % KG) + e) * AS + r / 4u][r % 4u] = aNext[i][e]; }
    }
    for (var i = 0u; i < LB; i++) {
      let idx = tid + i * WG;
      let w = idx / KG;
      for (var e = 0u; e < 4u; e++) { bStage[(4u * (idx % KG) + e) * BS + w / 4u][w % 4u] = bNext[i][e]; }
    }
    workgroupBarrier();
    if (g0 + KG < params.groups) {
      for (var i = 0u; i < LA; i++) { aNext[i] = regionGroup(row0 + (tid + i * WG) / KG, g0 + KG + (tid + i * WG) % KG); }
      for (var i = 0u; i < LB; i++) { bNext[i] = wordGroup(wordSource[i], g0 + KG + (tid + i * WG) % KG); }
    }
    for (var k = 0u; k < KT; k++) {
      let a0 = aStage[k * AS + tm];
      let a1 = aStage[k * AS + BM / 8u + tm];
      let b0 = bStage[k * BS + tn];
      let b1 = bStage[k * BS + BN / 8u + tn];
      for (var i = 0u; i < 4u; i++) {
        acc[2u * i] = mac(acc[2u * i], a0[i], b0);
        acc[2u * i + 1u] = mac(acc[2u * i + 1u], a0[i], b1);
        acc[8u + 2u * i] = mac(acc[8u + 2u * i], a1[i], b0);
        acc[9u + 2u * i] = mac(acc[9u + 2u * i], a1[i], b1);
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 8u; i++) {
    let j = row0 + select(4u * tm + i, BM / 2u + 4u * tm + i - 4u, i >= 4u);
    if (j >= problem.rows) { continue; }
    for (var h = 0u; h < 2u; h++) {
      let w = col0 + h * (BN / 2u) + 4u * tn;
      if (w < problem.stride) { sT[(problem.outBase + j * problem.stride + w) / 4u] = finish(acc[2u * i + h], j, w); }
    }
  }
}
