// The f32 GEMM every CPU op runs on (the score's S^T = V U^T, the encoders' linear layers):
// C[M][8P] = A[M][K] . B^T, with A row-major (its values splat-loaded: a row per register-tile
// row) and B packed once into panels of 8 rows interleaved by k ([P][K][8], as XNNPACK packs its
// weights). Register blocking: a 4 x 8 tile (8 accumulators, 2 panel vectors, 1 splat: what fits
// V8's 15 usable xmm registers with mul + add), then 2 x 8 and 1 x 8 for the last rows. Cache
// blocking: K in blocks of KC so a panel's slice stays in L1 while the rows of A pass over it;
// each C element still sums its k in order, so results do not depend on KC (or on threads).
#pragma once
#include "simd.h"

#define NR 8
#define KC 512

// C (8 wide at c) = (accumulate ? C : 0) + A[0..MR) . panel, over k in [0, K).
#define MICRO_BEGIN(MR)                                                   \
  f4 c0a = F4(0.0f), c0b = c0a, c1a = c0a, c1b = c0a, c2a = c0a, c2b = c0a, c3a = c0a, c3b = c0a; \
  if (accumulate) {                                                       \
    c0a = LOAD(c); c0b = LOAD(c + 4);                                     \
    if (MR > 1) { c1a = LOAD(c + ldc); c1b = LOAD(c + ldc + 4); }         \
    if (MR > 2) { c2a = LOAD(c + 2 * ldc); c2b = LOAD(c + 2 * ldc + 4); } \
    if (MR > 3) { c3a = LOAD(c + 3 * ldc); c3b = LOAD(c + 3 * ldc + 4); } \
  }

#define MICRO_END(MR)                                                     \
  STORE(c, c0a); STORE(c + 4, c0b);                                       \
  if (MR > 1) { STORE(c + ldc, c1a); STORE(c + ldc + 4, c1b); }           \
  if (MR > 2) { STORE(c + 2 * ldc, c2a); STORE(c + 2 * ldc + 4, c2b); }   \
  if (MR > 3) { STORE(c + 3 * ldc, c3a); STORE(c + 3 * ldc + 4, c3b); }

INLINE void micro4(const float* a, int lda, const float* b, int K, float* c, int ldc, int accumulate) {
  MICRO_BEGIN(4)
  const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda;
  for (int k = 0; k < K; k++, b += NR) {
    f4 b0 = LOAD(b), b1 = LOAD(b + 4);
    f4 x = wasm_v128_load32_splat(a0 + k);
    c0a = MADD(c0a, x, b0); c0b = MADD(c0b, x, b1);
    x = wasm_v128_load32_splat(a1 + k);
    c1a = MADD(c1a, x, b0); c1b = MADD(c1b, x, b1);
    x = wasm_v128_load32_splat(a2 + k);
    c2a = MADD(c2a, x, b0); c2b = MADD(c2b, x, b1);
    x = wasm_v128_load32_splat(a3 + k);
    c3a = MADD(c3a, x, b0); c3b = MADD(c3b, x, b1);
  }
  MICRO_END(4)
}

INLINE void micro2(const float* a, int lda, const float* b, int K, float* c, int ldc, int accumulate) {
  MICRO_BEGIN(2)
  const float *a0 = a, *a1 = a + lda;
  for (int k = 0; k < K; k++, b += NR) {
    f4 b0 = LOAD(b), b1 = LOAD(b + 4);
    f4 x = wasm_v128_load32_splat(a0 + k);
    c0a = MADD(c0a, x, b0); c0b = MADD(c0b, x, b1);
    x = wasm_v128_load32_splat(a1 + k);
    c1a = MADD(c1a, x, b0); c1b = MADD(c1b, x, b1);
  }
  MICRO_END(2)
}

INLINE void micro1(const float* a, int lda, const float* b, int K, float* c, int ldc, int accumulate) {
  MICRO_BEGIN(1)
  for (int k = 0; k < K; k++, b += NR) {
    f4 x = wasm_v128_load32_splat(a + k);
    c0a = MADD(c0a, x, LOAD(b)); c0b = MADD(c0b, x, LOAD(b + 4));
  }
  MICRO_END(1)
}

// Rows [0, M) of A against panels [0, P) of B (packed with K per panel), k in [k0, k0 + kc):
// C[i][8p..8p+8) for every row i and panel p.
INLINE void gemm_block(const float* A, int lda, const float* B, int K, int k0, int kc, float* C, int ldc, int M, int P, int accumulate) {
  for (int p = 0; p < P; p++) {
    const float* panel = B + (p * K + k0) * NR;
    float* cp = C + p * NR;
    int i = 0;
    for (; i + 4 <= M; i += 4) micro4(A + i * lda + k0, lda, panel, kc, cp + i * ldc, ldc, accumulate);
    for (; i + 2 <= M; i += 2) micro2(A + i * lda + k0, lda, panel, kc, cp + i * ldc, ldc, accumulate);
    for (; i < M; i++) micro1(A + i * lda + k0, lda, panel, kc, cp + i * ldc, ldc, accumulate);
  }
}

// C[M][8P] (row stride ldc) = (accumulate ? C : 0) + A[M][K] . B^T; B packed by pack_panels.
INLINE void gemm_f32(const float* A, int lda, const float* B, int K, float* C, int ldc, int M, int P, int accumulate) {
  for (int k0 = 0; k0 < K; k0 += KC) {
    int kc = K - k0 < KC ? K - k0 : KC;
    gemm_block(A, lda, B, K, k0, kc, C, ldc, M, P, accumulate || k0 > 0);
  }
  if (K == 0 && !accumulate) {
    for (int i = 0; i < M; i++) for (int j = 0; j < 8 * P; j++) C[i * ldc + j] = 0.0f;
  }
}

// Rows [0, N) of B (row stride ldb, K values each) into panels [ceil(N / 8)][K][8]; rows past N are 0.
INLINE void pack_panels(const float* B, int ldb, int N, int K, float* out) {
  int P = (N + NR - 1) / NR;
  for (int p = 0; p < P; p++) {
    float* panel = out + p * K * NR;
    for (int j = 0; j < NR; j++) {
      int row = p * NR + j;
      if (row < N) {
        const float* src = B + row * ldb;
        for (int k = 0; k < K; k++) panel[k * NR + j] = src[k];
      } else {
        for (int k = 0; k < K; k++) panel[k * NR + j] = 0.0f;
      }
    }
  }
}
