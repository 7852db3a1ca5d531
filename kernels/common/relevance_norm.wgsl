// What the forward epilogues (score_math.wgsl) and the backward tile (score_bwd_tile.wgsl)
// share, once. Every tile defines what these read and write: sAt(row, r), capStart, capLen,
// tileShape, capVals [CAPS * R], WG, R.

const EPS: f32 = 1e-8;

fn leakyRelu(x: f32) -> f32 {
  return select(0.1 * x, x, x > 0.0);
}

/** SCAN t2i's relevance norm of region r for caption slot c: 1e-8 + sqrt(sum over its words of LeakyReLU(s_wr)^2). */
fn regionNormOverWords(c: u32, r: u32) -> f32 {
  var sq = 0.0;
  for (var w = 0u; w < capLen[c]; w++) {
    let x = leakyRelu(sAt(capStart[c] + w, r));
    sq += x * x;
  }
  return sqrt(sq) + EPS;
}

/** regionNormOverWords of every (caption, region) of the tile, into capVals. */
fn regionNormsOverWords(tid: u32) {
  for (var idx = tid; idx < tileShape.x * R; idx += WG) {
    capVals[idx] = regionNormOverWords(idx / R, idx % R);
  }
}
