// Discriminative Mismatch Mining update (spec 3.3) after caption i was scored against every
// image (kernels/naaf_train_score.wgsl): one workgroup records the threshold caption i used,
// runs the rank test on column i of the similarities, appends the raw per-word max cosines of
// the matched and of the least similar image to the batch's samples, and, once more than
// minWords words were sampled, re-estimates both Gaussians and the thresholds; then the
// `n_pos < minWords` reset. Dispatched once per caption, in batch order.
// Constants: WG (threads, a power of two).

struct Params {
  caption: u32,  // i
  words: u32,    // L_i
  batch: u32,    // B
  maxWords: u32, // L: row stride of wordMax
  alpha: f32,
  minWords: u32,
  capacity: u32, // sample slots per distribution (B * L)
  pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> sims: array<f32>;                 // [B, B] image-major
@group(0) @binding(2) var<storage, read> wordMax: array<f32>;              // [B, L]
@group(0) @binding(3) var<storage, read_write> dmmState: array<f32>;       // [thres, thresSafe, meanPos, stdPos, meanNeg, stdNeg]
@group(0) @binding(4) var<storage, read_write> samples: array<f32>;        // [2, capacity]: matched, then mismatched
@group(0) @binding(5) var<storage, read_write> sampleCount: array<u32>;    // [1]: n_pos of this batch
@group(0) @binding(6) var<storage, read_write> thresholdsUsed: array<f32>; // [B]

const NONE: u32 = 0xffffffffu;

var<workgroup> maxVal: array<f32, WG>;
var<workgroup> maxIdx: array<u32, WG>;
var<workgroup> minVal: array<f32, WG>;
var<workgroup> minIdx: array<u32, WG>;
var<workgroup> sums: array<vec2f, WG>;
var<workgroup> decision: vec3u; // (matched, least similar image, n_pos before this caption)

// (v, i) beats (w, j) for the max: larger value, or equal value and lower index (the first
// position of a stable descending sort, which is what torch's sort(descending)[0] returns).
fn beatsMax(v: f32, i: u32, w: f32, j: u32) -> bool {
  return i != NONE && (j == NONE || v > w || (v == w && i < j));
}

fn beatsMin(v: f32, i: u32, w: f32, j: u32) -> bool {
  return i != NONE && (j == NONE || v < w || (v == w && i < j));
}

/** Sum over the workgroup of each thread's pair (a tree, so rounding grows with log2(WG)). */
fn workgroupSum(tid: u32, value: vec2f) -> vec2f {
  sums[tid] = value;
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (tid < stride) { sums[tid] += sums[tid + stride]; }
  }
  workgroupBarrier();
  let total = sums[0];
  workgroupBarrier(); // everyone has read sums[0] before the next call overwrites it
  return total;
}

/**
 * The closed-form update of spec 3.3 from the new statistics (one thread). The original
 * evaluates t = (-B + sqrt(E)) / (2A + 1e-10) with E = B^2 - 4AC; in f32 both B^2 - 4AC and
 * -B + sqrt(E) can cancel catastrophically (1e-6 errors on t for well-conditioned statistics),
 * so this uses the same root in an exactly equivalent form:
 *   E = 4 sp^2 sn^2 Dq with Dq = (mp - mn)^2 - 2 A ln(sn / (alpha sp) + 1e-8)   (no cancellation),
 *   -B/2 + sqrt(E)/2 = X + Y with X = sp^2 mn - sn^2 mp, Y = sp sn sqrt(Dq),
 *   and for X < 0, X + Y = -A C / (Y - X) (the product of the roots is C / A).
 * E > 0 exactly when sp > 0, sn > 0 and Dq > 0 (a zero std makes the original's E NaN or 0).
 */
fn updateThresholds(meanPos: f32, stdPos: f32, meanNeg: f32, stdNeg: f32) {
  let prevThres = dmmState[0];
  let prevSafe = dmmState[1];
  // Stored before the E test, as the original does.
  dmmState[2] = meanPos;
  dmmState[3] = stdPos;
  dmmState[4] = meanNeg;
  dmmState[5] = stdNeg;
  var thres = prevThres;
  var safe = prevSafe;
  if (stdPos > 0.0 && stdNeg > 0.0) {
    let logRatio = log(stdNeg / (params.alpha * stdPos) + 1e-8);
    let a = (stdPos - stdNeg) * (stdPos + stdNeg);
    let gap = meanPos - meanNeg;
    let dq = gap * gap - 2.0 * a * logRatio;
    if (dq > 0.0) {
      let x = stdPos * stdPos * meanNeg - stdNeg * stdNeg * meanPos;
      let y = stdPos * stdNeg * sqrt(dq);
      var halfNumerator = x + y;
      if (x < 0.0) {
        let spn = stdPos * stdNeg;
        let c = (meanNeg * stdPos) * (meanNeg * stdPos) - (meanPos * stdNeg) * (meanPos * stdNeg) + 2.0 * (spn * spn) * logRatio;
        halfNumerator = -(a * c) / (y - x);
      }
      thres = halfNumerator / (a + 5e-11); // = (-B + sqrt(E)) / (2A + 1e-10)
      safe = meanPos - 3.0 * stdPos;
    }
  }
  // Out of range becomes 0, not clipped.
  if (thres < 0.0 || thres > 1.0) { thres = 0.0; }
  if (safe < 0.0 || safe > 1.0) { safe = 0.0; }
  dmmState[0] = 0.7 * thres + 0.3 * prevThres;
  dmmState[1] = 0.7 * safe + 0.3 * prevSafe;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32) {
  let i = params.caption;
  let batch = params.batch;

  // Rank test and least similar image over column i; each thread scans ascending n, so a
  // strict comparison keeps its first index, and the tree keeps the lower index on ties.
  var bestV = 0.0;
  var bestI = NONE;
  var worstV = 0.0;
  var worstI = NONE;
  for (var n = tid; n < batch; n += WG) {
    let v = sims[n * batch + i];
    if (bestI == NONE || v > bestV) { bestV = v; bestI = n; }
    if (worstI == NONE || v < worstV) { worstV = v; worstI = n; }
  }
  maxVal[tid] = bestV;
  maxIdx[tid] = bestI;
  minVal[tid] = worstV;
  minIdx[tid] = worstI;
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (tid < stride) {
      let o = tid + stride;
      if (beatsMax(maxVal[o], maxIdx[o], maxVal[tid], maxIdx[tid])) { maxVal[tid] = maxVal[o]; maxIdx[tid] = maxIdx[o]; }
      if (beatsMin(minVal[o], minIdx[o], minVal[tid], minIdx[tid])) { minVal[tid] = minVal[o]; minIdx[tid] = minIdx[o]; }
    }
  }
  if (tid == 0u) {
    thresholdsUsed[i] = dmmState[0];
    decision = vec3u(select(0u, 1u, maxIdx[0] == i), minIdx[0], sampleCount[0]);
  }
  let d = workgroupUniformLoad(&decision);
  let matched = d.x == 1u;
  let before = d.z;

  var count = before;
  if (matched) {
    for (var w = tid; w < params.words; w += WG) {
      samples[before + w] = wordMax[i * params.maxWords + w];
      samples[params.capacity + before + w] = wordMax[d.y * params.maxWords + w];
    }
    count = before + params.words;
  }
  storageBarrier(); // the new samples, written by other threads, are read below

  if (matched && count > params.minWords) {
    // Mean, then the unbiased std from squared deviations (two passes: no cancellation).
    var partial = vec2f(0.0);
    for (var k = tid; k < count; k += WG) { partial += vec2f(samples[k], samples[params.capacity + k]); }
    let mean = workgroupSum(tid, partial) / f32(count);
    partial = vec2f(0.0);
    for (var k = tid; k < count; k += WG) {
      let dev = vec2f(samples[k], samples[params.capacity + k]) - mean;
      partial += dev * dev;
    }
    let spread = sqrt(workgroupSum(tid, partial) / f32(count - 1u));
    if (tid == 0u) { updateThresholds(mean.x, spread.x, mean.y, spread.y); }
  }

  if (tid == 0u) {
    sampleCount[0] = count;
    if (count < params.minWords) {
      dmmState[0] = 0.0;
      dmmState[1] = 0.0;
    }
  }
}
