// What the score kernels read besides S, made on the CPU: region Grams G_n = V_n V_n^T, word
// Grams (U U^T, or NAAF's softmax(lambdaIntra U U^T) rows), caption tiles packed into GEMM panels
// (f32, or int8 as i16 pairs with a scale per word), per-row int8 quantisation
// (q = round-half-even(127 x / max|x|), as kernels/quantize_rows.wgsl and src/ref/quantize.ts)
// and float16 rounding (to nearest, ties to even). Each kernel takes items [begin, end).
#include "score.h"

// Written by src/wasm/prep.ts, 4 bytes a field.
typedef struct {
  const void* rows;     // f32 [*][D] (or f16 bits, int8 [*][DP] with scales for region Grams)
  const float* scales;  // int8 rows: their scales
  void* out;            // the kernel's output
  float* outScales;     // int8 quantisation: a scale per row
  int32_t R, D, DP, format;
  const int32_t* lengths; // word Grams: per caption
  int32_t L;
  float lambdaIntra;
  int32_t softmax;
} PrepArgs;

INLINE float dot_f32(const float* a, const float* b, int D) {
  f4 s0 = F4(0.0f), s1 = F4(0.0f);
  int k = 0;
  for (; k + 8 <= D; k += 8) {
    s0 = MADD(s0, LOAD(a + k), LOAD(b + k));
    s1 = MADD(s1, LOAD(a + k + 4), LOAD(b + k + 4));
  }
  float sum = hsum(wasm_f32x4_add(s0, s1));
  for (; k < D; k++) sum += a[k] * b[k];
  return sum;
}

// The f32 values of image n's rows: f32 in place, f16 widened or int8 dequantised into `into`.
INLINE const float* image_values(const PrepArgs* a, int n, float* into) {
  const int R = a->R, D = a->D;
  if (a->format == FORMAT_F32) return (const float*)a->rows + (size_t)n * R * D;
  if (a->format == FORMAT_F16) {
    widen_f16((const uint16_t*)a->rows + (size_t)n * R * D, into, R * D);
    return into;
  }
  const int8_t* q = (const int8_t*)a->rows + (size_t)n * R * a->DP;
  for (int r = 0; r < R; r++) {
    float scale = a->scales[(size_t)n * R + r];
    for (int k = 0; k < D; k++) into[r * D + k] = (float)q[r * a->DP + k] * scale;
  }
  return into;
}

// H_n [R][R] of images [begin, end): G_n = V_n V_n^T's strict lower triangle and half its
// diagonal, zero above (the form score.h's gram_forms reads); scratch holds R x D floats.
EXPORT(region_grams)(const PrepArgs* a, float* scratch, int begin, int end) {
  const int R = a->R, D = a->D;
  for (int n = begin; n < end; n++) {
    const float* v = image_values(a, n, scratch);
    float* g = (float*)a->out + (size_t)n * R * R;
    for (int r = 0; r < R; r++) {
      for (int q = 0; q < r; q++) g[r * R + q] = dot_f32(v + r * D, v + q * D, D);
      g[r * R + r] = 0.5f * dot_f32(v + r * D, v + r * D, D);
      for (int q = r + 1; q < R; q++) g[r * R + q] = 0.0f;
    }
  }
}

// Word Grams [L][L] of captions [begin, end) (rows [*][L][D], zero past each caption's length);
// softmax: each row over the caption's words becomes softmax(lambdaIntra W).
EXPORT(word_grams)(const PrepArgs* a, float* scratch, int begin, int end) {
  const int L = a->L, D = a->D;
  for (int m = begin; m < end; m++) {
    const float* u = (const float*)a->rows + (size_t)m * L * D;
    float* g = (float*)a->out + (size_t)m * L * L;
    int len = a->lengths[m];
    for (int i = 0; i < L * L; i++) g[i] = 0.0f;
    for (int w = 0; w < len; w++) {
      for (int v = w; v < len; v++) {
        float sum = dot_f32(u + w * D, u + v * D, D);
        g[w * L + v] = sum;
        g[v * L + w] = sum;
      }
    }
    if (a->softmax) {
      const float lambda = a->lambdaIntra;
      for (int w = 0; w < len; w++) {
        float* row = g + w * L;
        float best = -3.0e38f;
        for (int v = 0; v < len; v++) best = fmaxs(best, lambda * row[v]);
        float total = 0.0f;
        for (int v = 0; v < len; v++) { row[v] = s_exp(lambda * row[v] - best); total += row[v]; }
        for (int v = 0; v < len; v++) row[v] = row[v] / total;
      }
    }
  }
}

// Written by src/wasm/prep.ts: the tiles of a score call to pack.
typedef struct {
  const float* captions;   // f32 rows [*][L][D] (already rounded for f16)
  const int32_t* tiles;    // as ScoreArgs
  const int32_t* slots;
  void* panels;            // f32 [..][D][8] or i16 pairs [..][DP / 2][8][2]
  float* wordScales;       // int8
  int32_t L, D, DP, format;
} PackArgs;

// One row quantised: q (DP values, zero past D) and its scale, 4 values at a time.
INLINE float quantize_row(const float* x, int D, int DP, int8_t* q) {
  f4 peak = F4(0.0f);
  int k = 0;
  for (; k + 4 <= D; k += 4) peak = wasm_f32x4_pmax(peak, wasm_f32x4_abs(LOAD(x + k)));
  float maxAbs = hmax(peak);
  for (; k < D; k++) maxAbs = fmaxs(maxAbs, x[k] < 0.0f ? -x[k] : x[k]);
  const float inv = maxAbs > 0.0f ? 127.0f / maxAbs : 0.0f;
  const f4 vinv = F4(inv), top = F4(127.0f), bottom = F4(-127.0f);
  for (k = 0; k + 4 <= D; k += 4) {
    // round half to even (f32x4.nearest), clamped to +-127, narrowed to 4 bytes.
    f4 v = wasm_f32x4_pmin(wasm_f32x4_pmax(wasm_f32x4_nearest(wasm_f32x4_mul(LOAD(x + k), vinv)), bottom), top);
    v128_t i = wasm_i32x4_trunc_sat_f32x4(v);
    v128_t h = wasm_i16x8_narrow_i32x4(i, i);
    wasm_v128_store32_lane(q + k, wasm_i8x16_narrow_i16x8(h, h), 0);
  }
  for (; k < D; k++) {
    float v = __builtin_rintf(x[k] * inv); // round half to even
    q[k] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
  }
  for (k = D; k < DP; k++) q[k] = 0;
  return maxAbs / 127.0f;
}

// Tiles [begin, end): their captions' words into panels from each tile's first packed word;
// scratch holds D floats (a quantised row, or a zero row).
EXPORT(pack_tiles)(const PackArgs* a, float* scratch, int begin, int end) {
  const int L = a->L, D = a->D, DP = a->DP;
  for (int j = begin; j < end; j++) {
    const int32_t* tile = a->tiles + 4 * j;
    int first = tile[0], W = tile[1];
    if (a->format == FORMAT_I8) {
      int16_t* panels = (int16_t*)a->panels + (size_t)first * DP;
      int8_t* q = (int8_t*)scratch;
      for (int i = 0; i < W * DP; i++) panels[i] = 0;
      for (int w = 0; w < W; w++) a->wordScales[first + w] = 0.0f;
      for (int c = 0; c < tile[3]; c++) {
        const int32_t* slot = a->slots + 4 * (tile[2] + c);
        for (int w = 0; w < slot[2]; w++) {
          int col = slot[1] + w;
          a->wordScales[first + col] = quantize_row(a->captions + ((size_t)slot[0] * L + w) * D, D, DP, q);
          int16_t* panel = panels + (col / 8) * (DP / 2) * 16 + 2 * (col % 8);
          for (int k = 0; k < DP / 2; k++) { panel[k * 16] = q[2 * k]; panel[k * 16 + 1] = q[2 * k + 1]; }
        }
      }
      continue;
    }
    // Per panel of 8 columns: the rows of its words (a zero row, in the scratch, past the tile's
    // last word), then for every k the 8 values side by side.
    const float* rows[8];
    float* zero = scratch;
    for (int k = 0; k < D; k++) zero[k] = 0.0f;
    int c = 0, w = 0; // the next word: slot c, word w of it
    for (int col0 = 0; col0 < W; col0 += 8) {
      for (int j = 0; j < 8; j++) {
        while (c < tile[3] && w >= a->slots[4 * (tile[2] + c) + 2]) { c++; w = 0; }
        if (c < tile[3]) rows[j] = a->captions + ((size_t)a->slots[4 * (tile[2] + c)] * L + w++) * D;
        else rows[j] = zero;
      }
      float* panel = (float*)a->panels + (size_t)(first + col0) * D;
      for (int k = 0; k < D; k++) {
        f4 lo = wasm_f32x4_make(rows[0][k], rows[1][k], rows[2][k], rows[3][k]);
        f4 hi = wasm_f32x4_make(rows[4][k], rows[5][k], rows[6][k], rows[7][k]);
        STORE(panel + 8 * k, lo);
        STORE(panel + 8 * k + 4, hi);
      }
    }
  }
}

// Rows [begin, end) of f32 [*][D] quantised into int8 [*][DP] with a scale each.
EXPORT(quantize_rows)(const PrepArgs* a, float* scratch, int begin, int end) {
  const int D = a->D, DP = a->DP;
  for (int i = begin; i < end; i++) {
    a->outScales[i] = quantize_row((const float*)a->rows + (size_t)i * D, D, DP, (int8_t*)a->out + (size_t)i * DP);
  }
}

// int8 rows [begin, end) back to f32 values q * scale.
EXPORT(dequantize_rows)(const PrepArgs* a, float* scratch, int begin, int end) {
  const int D = a->D, DP = a->DP;
  for (int i = begin; i < end; i++) {
    const int8_t* q = (const int8_t*)a->rows + (size_t)i * DP;
    float* out = (float*)a->out + (size_t)i * D;
    for (int k = 0; k < D; k++) out[k] = (float)q[k] * a->scales[i];
  }
}

// f32 to the nearest float16, ties to even (finite inputs; past 65504 gives infinity), 4 at a time.
INLINE v128_t half_bits(f4 x) {
  v128_t sign = wasm_v128_and(x, wasm_i32x4_splat((int32_t)0x80000000u));
  v128_t u = wasm_v128_xor(x, sign);
  // Subnormal halves: adding 2^-1 scaled lets the FPU round the mantissa where it falls.
  const v128_t magic = wasm_i32x4_splat((127 - 15 + 23 - 10 + 1) << 23);
  v128_t sub = wasm_i32x4_sub(wasm_f32x4_add(u, magic), magic);
  v128_t odd = wasm_v128_and(wasm_u32x4_shr(u, 13), wasm_i32x4_splat(1));
  v128_t normal = wasm_u32x4_shr(wasm_i32x4_add(wasm_i32x4_add(u, wasm_i32x4_splat(-(112 << 23) + 0xfff)), odd), 13);
  v128_t h = wasm_v128_bitselect(sub, normal, wasm_u32x4_lt(u, wasm_i32x4_splat(113 << 23)));
  h = wasm_v128_bitselect(wasm_i32x4_splat(0x7c00), h, wasm_u32x4_ge(u, wasm_i32x4_splat(143 << 23)));
  return wasm_v128_or(h, wasm_u32x4_shr(sign, 16));
}

// Rows [begin, end) of f32 [*][D] to f16 bits (out), or with a->format FORMAT_F32 to f32 values
// rounded to f16 (out, which may be the rows themselves).
EXPORT(to_f16)(const PrepArgs* a, float* scratch, int begin, int end) {
  const int D = a->D;
  for (int i = begin; i < end; i++) {
    const float* x = (const float*)a->rows + (size_t)i * D;
    uint16_t* bits = (uint16_t*)scratch;
    int k = 0;
    for (; k + 4 <= D; k += 4) {
      v128_t h = half_bits(LOAD(x + k));
      wasm_v128_store64_lane(bits + k, wasm_u16x8_narrow_i32x4(h, h), 0);
    }
    for (; k < D; k++) bits[k] = (uint16_t)wasm_i32x4_extract_lane(half_bits(F4(x[k])), 0);
    if (a->format == FORMAT_F32) widen_f16(bits, (float*)a->out + (size_t)i * D, D);
    else for (k = 0; k < D; k++) ((uint16_t*)a->out)[(size_t)i * D + k] = bits[k];
  }
}
