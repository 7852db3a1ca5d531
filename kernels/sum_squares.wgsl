// Sum of squares over several buffers, in two passes: pass 1 (FINAL false, once per buffer)
// writes one partial sum per workgroup at sums[outBase + group], pass 2 (FINAL true, one
// workgroup) adds the `count` partials. For gradient clipping by the total L2 norm of all
// parameters' gradients. Constants: WG, FINAL.

struct Params {
  count: u32,
  outBase: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> sums: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u) {
  var total = 0.0;
  if (FINAL) {
    for (var i = tid; i < params.count; i += WG) { total += values[i]; }
  } else {
    let stride = WG * groups.x;
    for (var i = group.x * WG + tid; i < params.count; i += stride) {
      let v = values[i];
      total += v * v;
    }
  }
  partial[tid] = total;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (tid < s) { partial[tid] += partial[tid + s]; }
    workgroupBarrier();
  }
  if (tid == 0u) { sums[params.outBase + group.x] = partial[0]; }
}
