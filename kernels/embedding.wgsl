// Embedding lookup: out[i, :] = table[ids[i], :]. Ids are checked on the CPU before upload.

struct Params {
  count: u32,
  dim: u32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let index = gid.x + gid.y * groups.x * 64u;
  if (index >= params.count * params.dim) { return; }
  let i = index / params.dim;
  out[index] = table[ids[i] * params.dim + index % params.dim];
}
