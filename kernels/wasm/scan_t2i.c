// SCAN text-to-image (spec 4, clipped_l2norm) on the CPU: the epilogue of score.h over a tile's
// S^T, as kernels/scan_t2i_split.wgsl computes it. Per word, vectorised over 4 words: the
// relevance weights over the regions, R_w = alpha . s / (||u_w|| sqrt(alpha^T G_n alpha)) with
// ||u_w||^2 the word Gram's diagonal; per caption: LogSumExp (FLAG_LSE) or the mean over words.
#include "score.h"

INLINE void scan_t2i_epilogue(const Tile* t) {
  const ScoreArgs* a = t->a;
  const int R = a->R, W = t->W, L = a->L;
  const float* G = a->grams + (size_t)t->image * R * R;
  float* scale = t->tmp;              // [R][W]
  float* panels = scale + R * W;      // [W / 8][R][8]: the relevance weights
  float* y = panels + R * W;          // [R][W]
  float* wordNorm = y + R * W;        // [W] each
  float* total = wordNorm + W;
  float* weighted = total + W;
  float* forms = weighted + W;
  float* score = forms + W;
  float* ind = score + W;             // [W][8]
  float* sums = ind + RELEVANCE_IND_FLOATS(W); // [R][8]
  relevance_scales(t, a->lambda, scale, ind, sums);
  for (int c = 0; c < t->slots; c++) {
    const int32_t* slot = t->slot + 4 * c;
    const float* gram = a->wordGram + (size_t)slot[0] * L * L;
    for (int w = 0; w < slot[2]; w++) wordNorm[slot[1] + w] = sqrts(fmaxs(gram[w * L + w], 0.0f));
  }
  for (int w = 0; w < W; w += 4) {
    f4 sums, dots;
    relevance_weights(t, w, a->lambda, scale, panels, &sums, &dots);
    STORE(total + w, sums);
    STORE(weighted + w, dots);
  }
  gram_forms(G, R, W, panels, y, forms);
  for (int w = 0; w < W; w += 4) {
    f4 sums = LOAD(total + w);
    f4 contextNorm = wasm_f32x4_div(wasm_f32x4_sqrt(wasm_f32x4_pmax(LOAD(forms + w), F4(0.0f))), sums);
    f4 norm = LOAD(wordNorm + w); // padding columns hold no norm: their scores are never read
    STORE(score + w, wasm_f32x4_div(wasm_f32x4_div(LOAD(weighted + w), sums), wasm_f32x4_pmax(wasm_f32x4_mul(norm, contextNorm), F4(EPS))));
  }
  const int lse = a->flags & FLAG_LSE;
  for (int c = 0; c < t->slots; c++) {
    const int32_t* slot = t->slot + 4 * c;
    t->out[slot[3]] = aggregate(score + slot[1], slot[2], 1, lse, a->lambdaLse);
  }
}

SCORE_KERNEL(scan_t2i_score, scan_t2i_epilogue)
