// NAAF's inference score (spec 3.1; the training path's mask without FLAG_INTRA) on the CPU:
// the epilogue of score.h over a tile's S^T, as kernels/naaf_split.wgsl computes it. Per word,
// vectorised over 4 words: pos_f from the attended weights e_r = exp(lambda (s_r - max s)) on the
// regions above t (||c||^2 = e^T G_n e, no context vector), pos_r from SCAN's relevance weights;
// per caption: the negative term masked by the intra-propagated row max, and the mean.
#include "score.h"

// pos_f = (a . s) / max(||sum a_r v_r||, 1e-8), a = e / (sum e + 1e-8) with the 1e-8 shifted like e.
INLINE f4 attended_cosine(f4 sMaxMinusT, f4 total, f4 weighted, f4 quad, float lambda) {
  f4 denominator = wasm_f32x4_add(total, wasm_f32x4_mul(F4(EPS), v_exp(wasm_f32x4_mul(F4(-lambda), sMaxMinusT))));
  f4 contextNorm = wasm_f32x4_div(wasm_f32x4_sqrt(wasm_f32x4_pmax(quad, F4(0.0f))), denominator);
  f4 posF = wasm_f32x4_div(wasm_f32x4_div(weighted, denominator), wasm_f32x4_pmax(contextNorm, F4(EPS)));
  return wasm_v128_and(posF, wasm_f32x4_gt(total, F4(0.0f)));
}

// Attended weights of 4 words (columns w..) above t, into the weights panels; their sums.
INLINE void attended_weights(const Tile* t, int w, f4 sMax, float lambda, float* panels, f4* total, f4* weighted) {
  const int R = t->a->R, W = t->W;
  const f4 thr = F4(t->a->threshold);
  f4 sum = F4(0.0f), sumS = F4(0.0f);
  for (int r = 0; r < R; r++) {
    f4 s = LOAD(t->sT + r * W + w);
    f4 ev = wasm_v128_and(v_exp(wasm_f32x4_mul(F4(lambda), wasm_f32x4_sub(s, sMax))), wasm_f32x4_gt(wasm_f32x4_sub(s, thr), F4(0.0f)));
    STORE(panel_at(panels, R, r, w), ev);
    sum = wasm_f32x4_add(sum, ev);
    sumS = MADD(sumS, ev, s);
  }
  *total = sum;
  *weighted = sumS;
}

INLINE void naaf_epilogue(const Tile* t) {
  const ScoreArgs* a = t->a;
  const int R = a->R, W = t->W, L = a->L;
  const float lambda = a->lambda, thr = a->threshold;
  const float* G = a->grams + (size_t)t->image * R * R;
  float* scale = t->tmp;              // [R][W]
  float* panels = scale + R * W;      // [W / 8][R][8]: the attended weights
  float* y = panels + R * W;          // [R][W]: G E
  float* sMax = y + R * W;            // [W] each
  float* total = sMax + W;
  float* weighted = total + W;
  float* forms = weighted + W;
  float* posF = forms + W;
  float* posR = posF + W;
  float* ind = posR + W;              // [W][8]
  float* sums = ind + RELEVANCE_IND_FLOATS(W); // [R][8]
  word_max(t, sMax);
  for (int w = 0; w < W; w += 4) {
    f4 sums, dots;
    attended_weights(t, w, LOAD(sMax + w), lambda, panels, &sums, &dots);
    STORE(total + w, sums);
    STORE(weighted + w, dots);
  }
  gram_forms(G, R, W, panels, y, forms);
  relevance_scales(t, lambda, scale, ind, sums);
  for (int w = 0; w < W; w += 4) {
    STORE(posF + w, attended_cosine(wasm_f32x4_sub(LOAD(sMax + w), F4(thr)), LOAD(total + w), LOAD(weighted + w), LOAD(forms + w), lambda));
    f4 sums, dots;
    relevance_weights(t, w, lambda, scale, 0, &sums, &dots);
    STORE(posR + w, wasm_f32x4_div(dots, sums));
  }
  const int intra = a->flags & FLAG_INTRA;
  for (int c = 0; c < t->slots; c++) {
    const int32_t* slot = t->slot + 4 * c;
    int m = slot[0], w0 = slot[1], len = slot[2], column = slot[3];
    float sum = 0.0f;
    for (int w = 0; w < len; w++) {
      float rowMax = sMax[w0 + w] - thr;
      float maskValue = rowMax;
      if (intra) {
        // p_w = sum_v softmax(lambdaIntra U U^T)_wv (max_r s_vr - t): the mask, not the value.
        const float* A = a->wordGram + ((size_t)m * L + w) * L;
        maskValue = 0.0f;
        for (int v = 0; v < len; v++) maskValue += A[v] * (sMax[w0 + v] - thr);
      }
      float neg = maskValue < 0.0f ? rowMax : 0.0f;
      if (t->terms) {
        float* term = t->terms + ((size_t)column * L + w) * 4;
        term[0] = sMax[w0 + w]; term[1] = neg; term[2] = posF[w0 + w]; term[3] = posR[w0 + w];
      }
      sum += posF[w0 + w] + posR[w0 + w] + neg;
    }
    t->out[column] = sum / (float)len;
  }
}

SCORE_KERNEL(naaf_score, naaf_epilogue)
