// Gradient clipping by the total L2 norm (torch.nn.utils.clip_grad_norm_) fused into Adam
// (torch.optim.Adam, no weight decay): g *= min(1, maxNorm / (||g|| + 1e-6)), then
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps).
// The squared norm comes from sum_squares.wgsl on the GPU: no readback between the two.

struct Params {
  count: u32,
  clip: u32,        // 1: clip by maxNorm
  maxNorm: f32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  biasCorrection1: f32, // 1 - b1^t
  biasCorrection2: f32, // 1 - b2^t
  pad0: f32,
  pad1: f32,
  pad2: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> normSq: array<f32>; // [1]
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> weights: array<f32>;
@group(0) @binding(4) var<storage, read_write> moment1: array<f32>;
@group(0) @binding(5) var<storage, read_write> moment2: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * 64u;
  if (i >= params.count) { return; }
  var scale = 1.0;
  if (params.clip == 1u) { scale = min(1.0, params.maxNorm / (sqrt(normSq[0]) + 1e-6)); }
  let g = grads[i] * scale;
  let m = params.beta1 * moment1[i] + (1.0 - params.beta1) * g;
  let v = params.beta2 * moment2[i] + (1.0 - params.beta2) * g * g;
  moment1[i] = m;
  moment2[i] = v;
  let denominator = sqrt(v) / sqrt(params.biasCorrection2) + params.eps;
  weights[i] = weights[i] - (params.lr / params.biasCorrection1) * m / denominator;
}
