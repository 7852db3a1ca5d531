// CHAN (CVPR 2023) on the CPU: the epilogue of score.h over a tile's S^T, as
// kernels/chan_split.wgsl computes it: each word's best region c_w = max_r s, then per caption
// log sum_w exp(c_w / belta) (FLAG_LSE; lambda carries 1 / belta), max-shifted, or the mean.
#include "score.h"

INLINE void chan_epilogue(const Tile* t) {
  const ScoreArgs* a = t->a;
  float* best = t->tmp; // [W]
  word_max(t, best);
  const float scale = a->lambda;
  for (int c = 0; c < t->slots; c++) {
    const int32_t* slot = t->slot + 4 * c;
    const float* x = best + slot[1];
    int len = slot[2];
    float result = 0.0f;
    if (a->flags & FLAG_LSE) {
      float top = -3.0e38f;
      for (int w = 0; w < len; w++) top = fmaxs(top, x[w] * scale);
      float total = 0.0f;
      for (int w = 0; w < len; w++) total += s_exp(x[w] * scale - top);
      result = top + s_log(total);
    } else {
      for (int w = 0; w < len; w++) result += x[w];
      result = result / (float)len;
    }
    t->out[slot[3]] = result;
  }
}

SCORE_KERNEL(chan_score, chan_epilogue)
