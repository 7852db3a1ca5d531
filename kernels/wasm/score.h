// The score driver every method's CPU kernel shares. A job is (images, a caption tile): for each
// image, S^T = V_n U_tile^T ([R][W], W the tile's words padded to 8) is computed into the
// thread's scratch by the GEMM (f32, f16 rows widened first, or int8), and the method's epilogue
// runs on it there, so S never leaves the cache. A tile is whole captions packed side by side
// (prep.c); a slot is one caption of a tile, with where its score goes. Every per-word and
// per-caption step reads only that word's or caption's values in a fixed order, so a score does
// not depend on the tile it sits in, on the job list or on the thread that ran it: the dense
// scores, pair scores and every thread count agree bit for bit.
#pragma once
#include "gemm.h"
#include "gemm_i8.h"

#define EPS 1e-8f

enum { FORMAT_F32 = 0, FORMAT_F16 = 1, FORMAT_I8 = 2 };
enum { FLAG_INTRA = 1, FLAG_LSE = 2 };

// Written by src/wasm/score.ts (scoreArgs), field by field in this order: 4 bytes each.
typedef struct {
  const void* images;        // f32 [*][R][D], f16 bits [*][R][D], or int8 [*][R][DP]
  const float* imageScales;  // int8: [*][R]
  const float* grams;        // [*][R][R], G_n = V_n V_n^T
  int32_t R, D, DP, format;  // DP: int8 row length (D rounded up to 16)
  const void* panels;        // packed words: f32 [..][D][8], int8 as i16 pairs [..][DP / 2][8][2]
  const float* wordScales;   // int8: one per packed word
  const int32_t* tiles;      // [tiles][4]: first packed word (a multiple of 8), words (padded to 8), first slot, slots
  const int32_t* slots;      // [slots][4]: caption (row of wordGram, lengths), first word in the tile, length, output column
  const float* wordGram;     // [captions][L][L]: NAAF softmax(lambdaIntra U U^T) rows, SCAN U U^T; or null
  int32_t L;
  const int32_t* jobs;       // [jobs][4]: first image, images, tile, column offset (added to its slots' columns)
  float* out;                // out[(n - outImage0) * outStride + slot column + job column offset]
  int32_t outStride, outImage0;
  float* wordTerms;          // NAAF: 4 floats per (out row, column, word), or null
  float threshold, lambda, lambdaLse, lambdaIntra;
  int32_t flags;
  int32_t maxWords;          // the widest tile's padded words (scratch layout)
} ScoreArgs;

typedef struct {
  const ScoreArgs* a;
  const int32_t* slot;   // this tile's first slot
  int slots;
  int image;             // n
  int W;                 // padded words of the tile
  float* sT;             // [R][W]
  float* tmp;            // method scratch
  float* out;            // row of this image: out[slot column]
  float* terms;          // NAAF word terms of this image's row, or null
} Tile;

// f16 bits to f32, 4 at a time: normal and subnormal halves by rebiasing the exponent (a multiply
// by 2^112), infinities and NaNs by their exponent of all ones.
INLINE void widen_f16(const uint16_t* h, float* out, int count) {
  int i = 0;
  for (; i + 4 <= count; i += 4) {
    v128_t x = wasm_u32x4_load16x4(h + i);
    v128_t sign = wasm_i32x4_shl(wasm_v128_and(x, wasm_i32x4_splat(0x8000)), 16);
    v128_t mag = wasm_i32x4_shl(wasm_v128_and(x, wasm_i32x4_splat(0x7fff)), 13);
    f4 value = wasm_f32x4_mul(mag, F4(5.192296858534828e33f)); // 2^112
    v128_t special = wasm_i32x4_eq(wasm_v128_and(x, wasm_i32x4_splat(0x7c00)), wasm_i32x4_splat(0x7c00));
    value = wasm_v128_bitselect(wasm_v128_or(mag, wasm_i32x4_splat(0x7f800000)), value, special);
    STORE(out + i, wasm_v128_or(value, sign));
  }
  for (; i < count; i++) {
    uint32_t x = h[i];
    union { uint32_t u; float f; } mag = { (x & 0x7fffu) << 13 };
    union { float f; uint32_t u; } value = { mag.f * 5.192296858534828e33f };
    if ((x & 0x7c00u) == 0x7c00u) value.u = mag.u | 0x7f800000u;
    value.u |= (x & 0x8000u) << 16;
    out[i] = value.f;
  }
}

// Bytes of thread scratch a score job needs (src/wasm/score.ts sizes it the same way).
#define SCORE_SCRATCH_FLOATS(R, D, W) ((R) * (W) * 4 + 16 * (W) + 64 * (R) + (R) * ((D) + 8) + 256)
// (sT; three [R][W] arrays, 8 [W] and an [8][W] indicator for the epilogue; the image's rows
// widened (f16 to f32, int8 to i16); slack.)

// S^T of image n against the W packed words from `first` (a tile's) into sT [R][W].
INLINE void tile_products(const ScoreArgs* a, int n, int first, int W, float* sT, float* widened) {
  const int R = a->R, D = a->D;
  if (a->format == FORMAT_I8) {
    int16_t* rows = (int16_t*)widened;
    widen_i8((const int8_t*)a->images + (size_t)n * R * a->DP, rows, R * a->DP);
    gemm_i8(rows, a->DP, a->imageScales + (size_t)n * R, (const int16_t*)a->panels + (size_t)first * a->DP, a->DP / 2, a->wordScales + first,
            sT, W, R, W / 8);
    return;
  }
  const float* rows;
  if (a->format == FORMAT_F16) {
    widen_f16((const uint16_t*)a->images + (size_t)n * R * D, widened, R * D);
    rows = widened;
  } else {
    rows = (const float*)a->images + (size_t)n * R * D;
  }
  gemm_f32(rows, D, (const float*)a->panels + (size_t)first * D, D, sT, W, R, W / 8, 0);
}

// Runs jobs [begin, end) with EPILOGUE(Tile*) after each image's products.
#define SCORE_KERNEL(name, EPILOGUE)                                                              \
  EXPORT(name)(const ScoreArgs* a, float* scratch, int begin, int end) {                         \
    const int R = a->R;                                                                           \
    float* sT = scratch;                                                                          \
    float* widened = sT + R * a->maxWords;                                                        \
    float* tmp = widened + (a->format != FORMAT_F32 ? R * (a->D + 8) : 0); /* f16 rows, or int8 as i16 */ \
    for (int j = begin; j < end; j++) {                                                           \
      const int32_t* job = a->jobs + 4 * j;                                                       \
      const int32_t* tile = a->tiles + 4 * job[2];                                                \
      Tile t = { a, a->slots + 4 * tile[2], tile[3], 0, tile[1], sT, tmp, 0, 0 };                 \
      for (int n = job[0]; n < job[0] + job[1]; n++) {                                            \
        tile_products(a, n, tile[0], t.W, sT, widened);                                           \
        t.image = n;                                                                              \
        t.out = a->out + (size_t)(n - a->outImage0) * a->outStride + job[3];                      \
        t.terms = a->wordTerms ? a->wordTerms + ((size_t)(n - a->outImage0) * a->outStride + job[3]) * a->L * 4 : 0; \
        EPILOGUE(&t);                                                                             \
      }                                                                                           \
    }                                                                                             \
  }

// Per word (vectorised over the tile's words): max over the regions.
INLINE void word_max(const Tile* t, float* sMax) {
  const int R = t->a->R, W = t->W;
  for (int w = 0; w < W; w += 4) {
    f4 m = LOAD(t->sT + w);
    for (int r = 1; r < R; r++) m = wasm_f32x4_pmax(m, LOAD(t->sT + r * W + w));
    STORE(sMax + w, m);
  }
}

// SCAN t2i's relevance scale per (word, region): lambda / (1e-8 + sqrt(sum over the word's
// caption of LeakyReLU(s_vr)^2)), the norm across the caption's words, into scale [R][W]. The
// squares' sums per (region, caption) are a GEMM: the squares [R][W] times an indicator [W][8]
// of 8 captions' words (in ind, RELEVANCE_IND_FLOATS), giving sums [R][8] (in sums, 8 R), whose
// scales then fill those captions' columns.
#define RELEVANCE_IND_FLOATS(W) (8 * (W))
INLINE void relevance_scales(const Tile* t, float lambda, float* scale, float* ind, float* sums) {
  const int R = t->a->R, W = t->W;
  for (int i = 0; i < R * W; i += 4) { f4 x = v_leaky(LOAD(t->sT + i)); STORE(scale + i, wasm_f32x4_mul(x, x)); }
  for (int c0 = 0; c0 < t->slots; c0 += 8) {
    const int n = t->slots - c0 < 8 ? t->slots - c0 : 8;
    const int32_t* first = t->slot + 4 * c0;
    const int32_t* last = t->slot + 4 * (c0 + n - 1);
    const int k0 = first[1], span = last[1] + last[2] - k0;
    for (int i = 0; i < span * 8; i += 4) STORE(ind + i, F4(0.0f));
    for (int j = 0; j < n; j++) {
      const int32_t* slot = first + 4 * j;
      for (int w = 0; w < slot[2]; w++) ind[(slot[1] - k0 + w) * 8 + j] = 1.0f;
    }
    gemm_block(scale + k0, W, ind, span, 0, span, sums, 8, R, 1, 0);
    const f4 l = F4(lambda);
    for (int r = 0; r < R; r++) {
      STORE(sums + 8 * r, wasm_f32x4_div(l, wasm_f32x4_add(wasm_f32x4_sqrt(LOAD(sums + 8 * r)), F4(EPS))));
      STORE(sums + 8 * r + 4, wasm_f32x4_div(l, wasm_f32x4_add(wasm_f32x4_sqrt(LOAD(sums + 8 * r + 4)), F4(EPS))));
    }
    // Each caption's columns, exactly (the next captions' squares are still to be summed).
    for (int r = 0; r < R; r++) {
      float* row = scale + r * W;
      for (int j = 0; j < n; j++) {
        const int32_t* slot = first + 4 * j;
        const float v = sums[8 * r + j];
        const f4 vv = F4(v);
        int w = 0;
        for (; w + 4 <= slot[2]; w += 4) STORE(row + slot[1] + w, vv);
        for (; w < slot[2]; w++) row[slot[1] + w] = v;
      }
    }
  }
}

// Where weight (region r, word w) goes in a weights panel set ([W / 8][R][8], the layout the
// GEMM reads as B): 4 words from w (w % 4 == 0) are contiguous.
INLINE float* panel_at(float* panels, int R, int r, int w) { return panels + (w / 8) * R * 8 + r * 8 + (w % 8); }

// Relevance weights of 4 words (columns w..w+3): e_r = exp(scale_r LeakyReLU(s_r) - shift),
// into the weights panels (when given); returns sum e in *total and sum e s in *weighted. The
// logits lie in [-lambda, lambda] (|LeakyReLU(s)| is at most its norm over the words), so for
// lambda <= 40 the shift is lambda itself (no overflow, no underflow of the largest weight) and
// the pass for the max is skipped; past that it is the max, as torch's softmax.
INLINE void relevance_weights(const Tile* t, int w, float lambda, const float* scale, float* panels, f4* total, f4* weighted) {
  const int R = t->a->R, W = t->W;
  f4 best = F4(lambda);
  if (lambda > 40.0f) {
    best = F4(-3.0e38f);
    for (int r = 0; r < R; r++) best = wasm_f32x4_pmax(best, wasm_f32x4_mul(v_leaky(LOAD(t->sT + r * W + w)), LOAD(scale + r * W + w)));
  }
  f4 sum = F4(0.0f), sumS = F4(0.0f);
  for (int r = 0; r < R; r++) {
    f4 s = LOAD(t->sT + r * W + w);
    f4 ev = v_exp(wasm_f32x4_sub(wasm_f32x4_mul(v_leaky(s), LOAD(scale + r * W + w)), best));
    if (panels) STORE(panel_at(panels, R, r, w), ev);
    sum = wasm_f32x4_add(sum, ev);
    sumS = MADD(sumS, ev, s);
  }
  *total = sum;
  *weighted = sumS;
}

// e_w^T G e_w for every word w of the tile from its weights panels, with grams holding
// H = G's strict lower triangle and half its diagonal (prep.c region_grams): e^T G e = 2 e^T H e.
// Y = H E by the micro-kernels, row block i (4 regions from i) over k < i + 4 only (H is zero
// past that): half the products of G E. Then the column dots, into forms [W].
INLINE void gram_forms(const float* H, int R, int W, const float* panels, float* y, float* forms) {
  for (int p = 0; p < W / 8; p++) {
    const float* panel = panels + p * R * 8;
    float* yp = y + p * 8;
    int i = 0;
    for (; i + 4 <= R; i += 4) micro4(H + i * R, R, panel, i + 4, yp + i * W, W, 0);
    for (; i + 2 <= R; i += 2) micro2(H + i * R, R, panel, i + 2, yp + i * W, W, 0);
    for (; i < R; i++) micro1(H + i * R, R, panel, i + 1, yp + i * W, W, 0);
  }
  for (int w = 0; w < W; w += 4) {
    f4 form = F4(0.0f);
    const float* e = panels + (w / 8) * R * 8 + (w % 8);
    for (int r = 0; r < R; r++) form = MADD(form, LOAD(e + r * 8), LOAD(y + r * W + w));
    STORE(forms + w, wasm_f32x4_add(form, form));
  }
}

// (1/lambda) log sum exp(lambda x), max-shifted, of count values, or their mean.
INLINE float aggregate(const float* x, int count, int stride, int lse, float lambda) {
  if (lse) {
    float best = -3.0e38f;
    for (int i = 0; i < count; i++) best = fmaxs(best, x[i * stride]);
    float sum = 0.0f;
    for (int i = 0; i < count; i++) sum += s_exp(lambda * (x[i * stride] - best));
    return best + s_log(sum) / lambda;
  }
  float total = 0.0f;
  for (int i = 0; i < count; i++) total += x[i * stride];
  return total / (float)count;
}
