// SCAN image-to-text (spec 4, clipped_l2norm) on the CPU: the epilogue of score.h over a tile's
// S^T, as kernels/scan_i2t_split.wgsl computes it. Regions attend over the caption's words: per
// caption its S block is turned region-minor ([word][region]) so 4 regions run per vector; the
// context norm is sqrt(alpha^T W alpha) with the caption's word Gram W = U U^T; then LogSumExp
// (FLAG_LSE) or the mean over the regions.
#include "score.h"

INLINE void scan_i2t_epilogue(const Tile* t) {
  const ScoreArgs* a = t->a;
  const int R = a->R, W = t->W, L = a->L, RP = (R + 3) & ~3;
  const float lambda = a->lambda;
  const float* G = a->grams + (size_t)t->image * R * R;
  float* scaleOfWord = t->tmp;          // [W]: lambda / (1e-8 + ||LeakyReLU(s_w.)|| over regions)
  float* block = scaleOfWord + W;       // [len][RP]: the caption's S, region-minor
  float* weights = block + W * RP;      // [len][RP]
  float* regionScore = weights + W * RP; // [RP]
  for (int w = 0; w < W; w += 4) {
    f4 sq = F4(0.0f);
    for (int r = 0; r < R; r++) { f4 x = v_leaky(LOAD(t->sT + r * W + w)); sq = MADD(sq, x, x); }
    STORE(scaleOfWord + w, wasm_f32x4_div(F4(lambda), wasm_f32x4_add(wasm_f32x4_sqrt(sq), F4(EPS))));
  }
  const int lse = a->flags & FLAG_LSE;
  for (int c = 0; c < t->slots; c++) {
    const int32_t* slot = t->slot + 4 * c;
    const int w0 = slot[1], len = slot[2];
    const float* gram = a->wordGram + (size_t)slot[0] * L * L;
    for (int w = 0; w < len; w++) {
      for (int r = 0; r < R; r++) block[w * RP + r] = t->sT[r * W + w0 + w];
      for (int r = R; r < RP; r++) block[w * RP + r] = 0.0f;
    }
    for (int r = 0; r < RP; r += 4) {
      f4 best = F4(-3.0e38f);
      for (int w = 0; w < len; w++) best = wasm_f32x4_pmax(best, wasm_f32x4_mul(v_leaky(LOAD(block + w * RP + r)), F4(scaleOfWord[w0 + w])));
      f4 total = F4(0.0f), numerator = F4(0.0f);
      for (int w = 0; w < len; w++) {
        f4 s = LOAD(block + w * RP + r);
        f4 e = v_exp(wasm_f32x4_sub(wasm_f32x4_mul(v_leaky(s), F4(scaleOfWord[w0 + w])), best));
        STORE(weights + w * RP + r, e);
        total = wasm_f32x4_add(total, e);
        numerator = MADD(numerator, e, s);
      }
      // e^T W e from the word Gram's lower triangle.
      f4 quad = F4(0.0f);
      for (int w = 0; w < len; w++) {
        f4 inner = F4(0.0f);
        for (int v = 0; v < w; v++) inner = MADD(inner, F4(gram[w * L + v]), LOAD(weights + v * RP + r));
        f4 e = LOAD(weights + w * RP + r);
        quad = MADD(quad, e, MADD(wasm_f32x4_add(inner, inner), F4(gram[w * L + w]), e));
      }
      f4 contextNorm = wasm_f32x4_div(wasm_f32x4_sqrt(wasm_f32x4_pmax(quad, F4(0.0f))), total);
      float norms[4];
      for (int i = 0; i < 4; i++) norms[i] = r + i < R ? sqrts(fmaxs(2.0f * G[(r + i) * R + r + i], 0.0f)) : 0.0f; // grams hold half the diagonal
      f4 regionNorm = LOAD(norms);
      STORE(regionScore + r, wasm_f32x4_div(wasm_f32x4_div(numerator, total), wasm_f32x4_pmax(wasm_f32x4_mul(regionNorm, contextNorm), F4(EPS))));
    }
    t->out[slot[3]] = aggregate(regionScore, R, 1, lse, a->lambdaLse);
  }
}

SCORE_KERNEL(scan_i2t_score, scan_i2t_epilogue)
