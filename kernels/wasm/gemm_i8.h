// The int8 GEMM of precision 'int8': S = scale_r scale_w sum_k q_r[k] q_w[k], the integer sum
// exact in i32 (|q| <= 127). A's rows are int8 (k padded to even), widened to i16 per use
// (widen_i8); B is packed into panels of 8 rows as i16 pairs ([P][K/2][8][2]), so one
// i32x4.dot_i16x8_s multiplies a splat of (q_r[2j], q_r[2j+1]) (one 32-bit load) by four words'
// pairs: 8 products and 4 sums per instruction, twice f32's rate.
#pragma once
#include "simd.h"

// count int8 values to i16 (count a multiple of 16, or the tail one at a time).
INLINE void widen_i8(const int8_t* a, int16_t* out, int count) {
  int i = 0;
  for (; i + 16 <= count; i += 16) {
    v128_t x = LOAD(a + i);
    STORE(out + i, wasm_i16x8_extend_low_i8x16(x));
    STORE(out + i + 8, wasm_i16x8_extend_high_i8x16(x));
  }
  for (; i < count; i++) out[i] = a[i];
}

// C (8 floats at c) = f32(sum) * rowScale * wordScales[0..8), rows [0, MR) of A (i16, widened).
#define I8_MICRO(MR)                                                                            \
  INLINE void micro_i8_##MR(const int16_t* a, int lda, const int16_t* b, int K2, float* c, int ldc, \
                            const float* rowScales, const float* wordScales) {                  \
    v128_t acc[MR][2];                                                                          \
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = wasm_i32x4_splat(0);                   \
    for (int j = 0; j < K2; j++, b += 16) {                                                     \
      v128_t b0 = LOAD(b), b1 = LOAD(b + 8);                                                    \
      for (int i = 0; i < MR; i++) {                                                            \
        v128_t x = wasm_v128_load32_splat(a + i * lda + 2 * j);                                 \
        acc[i][0] = wasm_i32x4_add(acc[i][0], wasm_i32x4_dot_i16x8(x, b0));                     \
        acc[i][1] = wasm_i32x4_add(acc[i][1], wasm_i32x4_dot_i16x8(x, b1));                     \
      }                                                                                         \
    }                                                                                           \
    f4 w0 = LOAD(wordScales), w1 = LOAD(wordScales + 4);                                        \
    for (int i = 0; i < MR; i++) {                                                              \
      f4 s = F4(rowScales[i]);                                                                  \
      STORE(c + i * ldc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc[i][0]), wasm_f32x4_mul(s, w0))); \
      STORE(c + i * ldc + 4, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc[i][1]), wasm_f32x4_mul(s, w1))); \
    }                                                                                           \
  }

I8_MICRO(4)
I8_MICRO(1)

// C[M][8P] = scaled int8 products of A's rows [M][2 K2] (widened to i16, row stride lda) with B's panels.
INLINE void gemm_i8(const int16_t* A, int lda, const float* rowScales, const int16_t* B, int K2, const float* wordScales,
                    float* C, int ldc, int M, int P) {
  for (int p = 0; p < P; p++) {
    const int16_t* panel = B + p * K2 * 16;
    int i = 0;
    for (; i + 4 <= M; i += 4) micro_i8_4(A + i * lda, lda, panel, K2, C + i * ldc + p * 8, ldc, rowScales + i, wordScales + p * 8);
    for (; i < M; i++) micro_i8_1(A + i * lda, lda, panel, K2, C + i * ldc + p * 8, ldc, rowScales + i, wordScales + p * 8);
  }
}

// Rows [0, N) of int8 B (row stride ldb bytes, 2 K2 values each) into i16 pair panels; rows past N are 0.
INLINE void pack_panels_i8(const int8_t* B, int ldb, int N, int K2, int16_t* out) {
  int P = (N + 7) / 8;
  for (int p = 0; p < P; p++) {
    int16_t* panel = out + p * K2 * 16;
    for (int j = 0; j < 8; j++) {
      int row = p * 8 + j;
      for (int k = 0; k < K2; k++) {
        panel[k * 16 + 2 * j] = row < N ? B[row * ldb + 2 * k] : 0;
        panel[k * 16 + 2 * j + 1] = row < N ? B[row * ldb + 2 * k + 1] : 0;
      }
    }
  }
}
