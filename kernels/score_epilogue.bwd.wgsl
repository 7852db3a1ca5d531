// Entry point of the split score backward's epilogue: S = U V^T of one pass of images comes
// from a GEMM (src/ops/scoreBackwardSplit.ts), stored [M * L word rows, pass images * R] in
// binding 6; this kernel reads each (caption tile, image) block of it, runs the method's
// pairGradients() (the same method file as the fused backward) and writes dS over S in place,
// 0 at padding words. dU = dS V and dV = dS^T U are then GEMMs.
// One owner per Gram gradient, no atomics:
//   IMAGE_SIDE true (NAAF, SCAN t2i): workgroup (image of the pass, g) loops over caption tiles
//     (a range per group g), summing dG_n into scratch; the per-caption-row scales
//     captionRowScale (SCAN t2i) go to scratch[scaleBase + n * scaleStride + m * L + w].
//   IMAGE_SIDE false (SCAN i2t): workgroup (caption tile, g) loops over the pass's images (a
//     range per group), summing dW_m over every pass; the per-region scales regionScale go to
//     scratch[scaleBase + tile * scaleStride + n * R + r].
// SCALES (bool): the method has such a scale. Needs common/score_bwd_tile.wgsl and a method file.

/** Index in S of (packed row of the tile, region r of image n). */
fn simIndex(tile: vec2u, row: u32, n: u32, r: u32) -> u32 {
  let word = (tile.x + rowCap[row]) * params.maxWords + rowWord[row];
  return word * params.simStride + (n - params.imageStart) * R + r;
}

/** tileS = S of (tile, n); rows past the tile's words are 0. */
fn loadSims(tid: u32, tile: vec2u, n: u32) {
  let used = tileShape.y;
  for (var e = tid; e < ROWS * R; e += WG) {
    let row = e / R;
    var value = 0.0;
    if (row < used) { value = gradOut[simIndex(tile, row, n, e % R)]; }
    tileS[e] = value;
  }
  workgroupBarrier();
}

/** dS (tileX) over S; the tile's padding words get dS = 0 (S there may be anything). */
fn storeGradSims(tid: u32, tile: vec2u, n: u32) {
  let used = tileShape.y;
  for (var e = tid; e < used * R; e += WG) {
    gradOut[simIndex(tile, e / R, n, e % R)] = tileX[e];
  }
  let L = params.maxWords;
  for (var c = 0u; c < tileShape.x; c++) {
    let len = capLen[c];
    for (var e = tid; e < (L - len) * R; e += WG) {
      let word = (tile.x + c) * L + len + e / R;
      gradOut[word * params.simStride + (n - params.imageStart) * R + e % R] = 0.0;
    }
  }
}

fn imageOwner(tid: u32, local: u32, g: u32) {
  let n = params.imageStart + local;
  scratchBase = g * params.scratchFloats;
  if (REGION_GRAM_GRAD) {
    for (var e = tid; e < R * R; e += WG) { scratch[scratchBase + n * R * R + e] = 0.0; }
  }
  storageBarrier();
  let L = params.maxWords;
  let last = min(params.numTiles, (g + 1u) * params.groupSize);
  for (var tileIndex = g * params.groupSize; tileIndex < last; tileIndex++) {
    let tile = layoutTile(tid, tileIndex);
    loadSims(tid, tile, n);
    pairGradients(tid, tile, n);
    storeGradSims(tid, tile, n);
    if (SCALES) {
      // Every word of the tile's captions, padding too (0), so the column sums read no stale values.
      let rowsBase = params.scaleBase + n * params.scaleStride + tile.x * L;
      for (var e = tid; e < tileShape.x * L; e += WG) {
        let c = e / L;
        let w = e % L;
        var value = 0.0;
        if (w < capLen[c]) { value = captionRowScale(capStart[c] + w); }
        scratch[rowsBase + e] = value;
      }
    }
    workgroupBarrier();
  }
}

fn captionOwner(tid: u32, tileIndex: u32, g: u32) {
  let tile = layoutTile(tid, tileIndex);
  let L = params.maxWords;
  scratchBase = g * params.scratchFloats;
  if (WORD_GRAM_GRAD && params.firstPass == 1u) {
    for (var c = 0u; c < tile.y; c++) {
      for (var e = tid; e < L * L; e += WG) { scratch[scratchBase + (tile.x + c) * L * L + e] = 0.0; }
    }
  }
  storageBarrier();
  let first = params.imageStart + g * params.groupSize;
  let last = min(params.imageStart + params.numImages, first + params.groupSize);
  for (var n = first; n < last; n++) {
    loadSims(tid, tile, n);
    pairGradients(tid, tile, n);
    storeGradSims(tid, tile, n);
    if (SCALES) {
      for (var r = tid; r < numRegions(); r += WG) {
        scratch[params.scaleBase + tileIndex * params.scaleStride + n * R + r] = regionScale(r);
      }
    }
    workgroupBarrier();
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  if (IMAGE_SIDE) {
    imageOwner(tid, group.x, group.y);
  } else {
    captionOwner(tid, group.x, group.y);
  }
}
