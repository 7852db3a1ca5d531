// Backward of embedding.wgsl without races or atomics: the CPU groups the positions of each
// distinct id (CSR: ids[u], starts[u]..starts[u+1] into positions), and one thread sums the
// upstream rows of one (id, column), accumulating into dTable[id, column]. Deterministic.

struct Params {
  uniqueIds: u32,
  dim: u32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> uniqueIds: array<u32>;  // [U]
@group(0) @binding(2) var<storage, read> starts: array<u32>;     // [U + 1]
@group(0) @binding(3) var<storage, read> positions: array<u32>;  // rows of dOut, grouped by id
@group(0) @binding(4) var<storage, read> dOut: array<f32>;       // [positions, dim]
@group(0) @binding(5) var<storage, read_write> dTable: array<f32>; // [vocab, dim]

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let index = gid.x + gid.y * groups.x * 64u;
  if (index >= params.uniqueIds * params.dim) { return; }
  let u = index / params.dim;
  let col = index % params.dim;
  var sum = 0.0;
  for (var p = starts[u]; p < starts[u + 1u]; p++) { sum += dOut[positions[p] * params.dim + col]; }
  let slot = uniqueIds[u] * params.dim + col;
  dTable[slot] = dTable[slot] + sum;
}
