// The model's encoders on the CPU (spec 2; src/ref/encoders.ts is their float64 reference):
// linear layers y = x W^T + b on the GEMM of gemm.h (W packed once into panels), the image
// encoder's l2norm(fc(x)) fused per row block, the embedding lookup, and the bi-GRU (gate order
// r, z, n; each caption run to its own length both ways), a block of captions and one direction
// per item, so one query's two directions run on two threads; then (forward + backward) / 2,
// l2-normalised, zero at padded positions.
#include "gemm.h"
#include "simd.h"

// Written by src/wasm/encoders.ts, 4 bytes a field.
typedef struct {
  const float* x;       // [rows][K]
  const float* weight;  // panels [ceil(N / 8)][K][8]
  const float* bias;    // [N], or null
  float* y;             // [rows][N] (row stride ldy)
  int32_t rows, K, N, ldy;
  int32_t rowsPerItem;
  int32_t normalize;    // l2-normalise each output row (x / (||x|| + 1e-8))
} LinearArgs;

// Panels of rows [begin, end) (a panel is 8 rows of W [N][K]) from W into `out`.
typedef struct {
  const float* w;       // [N][K]
  float* out;
  int32_t N, K;
} PackArgs;

EXPORT(pack_weights)(const PackArgs* a, float* scratch, int begin, int end) {
  for (int p = begin; p < end; p++) {
    int rows = a->N - p * 8 < 8 ? a->N - p * 8 : 8;
    pack_panels(a->w + (size_t)p * 8 * a->K, a->K, rows, a->K, a->out + (size_t)p * a->K * 8);
  }
}

INLINE void l2normalize(float* x, int n) {
  f4 sq = F4(0.0f);
  int k = 0;
  for (; k + 4 <= n; k += 4) { f4 v = LOAD(x + k); sq = MADD(sq, v, v); }
  float total = hsum(sq);
  for (; k < n; k++) total += x[k] * x[k];
  float scale = 1.0f / (sqrts(total) + 1e-8f);
  for (k = 0; k < n; k++) x[k] *= scale;
}

// Row blocks [begin, end) of y = x W^T + b (optionally l2-normalised); scratch holds
// rowsPerItem x 8 ceil(N / 8) floats.
EXPORT(linear)(const LinearArgs* a, float* scratch, int begin, int end) {
  const int P = (a->N + 7) / 8, ldc = P * 8;
  for (int item = begin; item < end; item++) {
    int r0 = item * a->rowsPerItem;
    int rows = a->rows - r0 < a->rowsPerItem ? a->rows - r0 : a->rowsPerItem;
    gemm_f32(a->x + (size_t)r0 * a->K, a->K, a->weight, a->K, scratch, ldc, rows, P, 0);
    for (int i = 0; i < rows; i++) {
      float* out = a->y + (size_t)(r0 + i) * a->ldy;
      const float* c = scratch + i * ldc;
      for (int j = 0; j < a->N; j++) out[j] = c[j] + (a->bias ? a->bias[j] : 0.0f);
      if (a->normalize) l2normalize(out, a->N);
    }
  }
}

// Written by src/wasm/encoders.ts.
typedef struct {
  const float* table;   // [V][dim]
  const uint32_t* ids;  // [count]
  float* out;           // [count][dim]
  int32_t dim;
} GatherArgs;

EXPORT(embedding)(const GatherArgs* a, float* scratch, int begin, int end) {
  for (int i = begin; i < end; i++) {
    const float* src = a->table + (size_t)a->ids[i] * a->dim;
    float* dst = a->out + (size_t)i * a->dim;
    for (int k = 0; k < a->dim; k++) dst[k] = src[k];
  }
}

// Written by src/wasm/encoders.ts: both directions' recurrences over blocks of captions.
typedef struct {
  const float* gatesX;   // [2][M][L][3H]: W_i x + b_i of every position, each direction
  const float* weightHH; // [2] panels [ceil(3H / 8)][H][8]
  const float* biasHH;   // [2][3H]
  const int32_t* lengths;// [M]
  float* hidden;         // [2][M][L][H]: zero where never written (the caller clears it)
  int32_t M, L, H;
  int32_t captionsPerItem;
} GruArgs;

INLINE float s_sigmoid(float x) { return 1.0f / (1.0f + s_exp(-x)); }

INLINE float s_tanh(float x) {
  float e = s_exp(-2.0f * (x < 0.0f ? -x : x));
  float t = (1.0f - e) / (1.0f + e);
  return x < 0.0f ? -t : t;
}

// Item = (direction, block of captions): h runs over the block's longest caption; a caption
// past its own length keeps its state and writes nothing. Scratch: the block's h [B][H] and
// W_hh h [B][GP] (GP: 3H rounded up to 8).
EXPORT(gru)(const GruArgs* a, float* scratch, int begin, int end) {
  const int H = a->H, L = a->L, G = 3 * H, GP = (G + 7) / 8 * 8, B = a->captionsPerItem;
  const int blocks = (a->M + B - 1) / B;
  for (int item = begin; item < end; item++) {
    const int direction = item / blocks, m0 = (item % blocks) * B;
    const int count = a->M - m0 < B ? a->M - m0 : B;
    float* h = scratch;              // [B][H]
    float* gh = scratch + B * H;     // [B][GP]
    const float* weight = a->weightHH + (size_t)direction * GP * H;
    const float* biasHH = a->biasHH + (size_t)direction * G;
    int longest = 0;
    for (int i = 0; i < count; i++) longest = a->lengths[m0 + i] > longest ? a->lengths[m0 + i] : longest;
    for (int i = 0; i < count * H; i++) h[i] = 0.0f;
    for (int k = 0; k < longest; k++) {
      // gh = h W_hh^T (at step 0, h = 0: gh = 0), then + b_hh below.
      gemm_f32(h, H, weight, H, gh, GP, count, GP / 8, 0);
      for (int i = 0; i < count; i++) {
        const int m = m0 + i, len = a->lengths[m];
        if (k >= len) continue;
        const int t = direction == 0 ? k : len - 1 - k;
        const float* gx = a->gatesX + (((size_t)direction * a->M + m) * L + t) * G;
        float* hm = h + i * H;
        const float* g = gh + i * GP;
        float* out = a->hidden + (((size_t)direction * a->M + m) * L + t) * H;
        int j = 0;
        for (; j + 4 <= H; j += 4) {
          f4 r = v_sigmoid(wasm_f32x4_add(LOAD(gx + j), wasm_f32x4_add(LOAD(g + j), LOAD(biasHH + j))));
          f4 z = v_sigmoid(wasm_f32x4_add(LOAD(gx + H + j), wasm_f32x4_add(LOAD(g + H + j), LOAD(biasHH + H + j))));
          f4 n = v_tanh(MADD(LOAD(gx + 2 * H + j), r, wasm_f32x4_add(LOAD(g + 2 * H + j), LOAD(biasHH + 2 * H + j))));
          f4 hp = LOAD(hm + j);
          f4 next = MADD(wasm_f32x4_mul(wasm_f32x4_sub(F4(1.0f), z), n), z, hp); // (1 - z) n + z h
          STORE(hm + j, next);
          STORE(out + j, next);
        }
        for (; j < H; j++) {
          float r = s_sigmoid(gx[j] + (g[j] + biasHH[j]));
          float z = s_sigmoid(gx[H + j] + (g[H + j] + biasHH[H + j]));
          float n = s_tanh(gx[2 * H + j] + r * (g[2 * H + j] + biasHH[2 * H + j]));
          float next = (1.0f - z) * n + z * hm[j];
          hm[j] = next;
          out[j] = next;
        }
      }
    }
  }
}

// Written by src/wasm/encoders.ts.
typedef struct {
  const float* hidden;   // [2][M][L][H]
  const int32_t* lengths;
  float* out;            // [M][L][H]
  int32_t M, L, H;
} FinishArgs;

// Captions [begin, end): l2norm((forward + backward) / 2) per word, zero past the length.
EXPORT(gru_finish)(const FinishArgs* a, float* scratch, int begin, int end) {
  const int H = a->H, L = a->L;
  const size_t half = (size_t)a->M * L * H;
  for (int m = begin; m < end; m++) {
    for (int t = 0; t < L; t++) {
      float* out = a->out + ((size_t)m * L + t) * H;
      if (t >= a->lengths[m]) {
        for (int j = 0; j < H; j++) out[j] = 0.0f;
        continue;
      }
      const float* f = a->hidden + ((size_t)m * L + t) * H;
      for (int j = 0; j < H; j++) out[j] = 0.5f * (f[j] + f[half + j]);
      l2normalize(out, H);
    }
  }
}
