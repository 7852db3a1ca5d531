// SIMD128 helpers every CPU kernel shares: the multiply-add (relaxed-SIMD FMA where the build has
// it, a separate mul and add otherwise), horizontal reductions, and float32 exp / log / tanh with
// no libm (the kernels link against nothing). exp and log are Cephes' single-precision forms
// (about 1 ulp), so scores stay within 1e-6 of the float64 references.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name))) void name
#define INLINE static inline __attribute__((always_inline))

typedef v128_t f4;

#ifdef NAAF_RELAXED
// acc + a * b, fused where the CPU has FMA (the rounding differs from mul + add by at most an ulp).
#define MADD(acc, a, b) __builtin_wasm_relaxed_madd_f32x4((a), (b), (acc))
#else
#define MADD(acc, a, b) wasm_f32x4_add((acc), wasm_f32x4_mul((a), (b)))
#endif

#define F4(x) wasm_f32x4_splat(x)
#define LOAD(p) wasm_v128_load(p)
#define STORE(p, v) wasm_v128_store((p), (v))

INLINE float hsum(f4 v) {
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_f32x4_extract_lane(v, 0);
}

INLINE float hmax(f4 v) {
  v = wasm_f32x4_pmax(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_f32x4_pmax(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_f32x4_extract_lane(v, 0);
}

INLINE float fmaxs(float a, float b) { return a > b ? a : b; }
INLINE float fmins(float a, float b) { return a < b ? a : b; }
INLINE float sqrts(float x) { return __builtin_sqrtf(x); }

// LeakyReLU(0.1), SCAN's clipped_l2norm.
INLINE f4 v_leaky(f4 x) { return wasm_v128_bitselect(x, wasm_f32x4_mul(x, F4(0.1f)), wasm_f32x4_gt(x, F4(0.0f))); }
INLINE float s_leaky(float x) { return x > 0.0f ? x : 0.1f * x; }

// e^x: x = n ln2 + r with |r| <= ln2 / 2 (n rounded to nearest by adding 1.5 * 2^23, whose low
// mantissa bits then hold n), e^r by a degree-6 polynomial, 2^n through the exponent bits. Below
// -87.3 (e^x < 2^-126) it is 0; above 88 it saturates at e^88.
INLINE f4 v_exp(f4 x) {
  const f4 hi = F4(88.0f), lo = F4(-87.3365478515625f), magic = F4(12582912.0f);
  f4 under = wasm_f32x4_lt(x, lo);
  x = wasm_f32x4_pmin(wasm_f32x4_pmax(x, lo), hi);
  f4 t = MADD(magic, x, F4(1.44269504088896341f));
  f4 n = wasm_f32x4_sub(t, magic);
  f4 r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, F4(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, F4(-2.12194440e-4f)));
  f4 p = F4(1.9875691500e-4f);
  p = MADD(F4(1.3981999507e-3f), p, r);
  p = MADD(F4(8.3334519073e-3f), p, r);
  p = MADD(F4(4.1665795894e-2f), p, r);
  p = MADD(F4(1.6666665459e-1f), p, r);
  p = MADD(F4(5.0000001201e-1f), p, r);
  p = MADD(wasm_f32x4_add(r, F4(1.0f)), p, wasm_f32x4_mul(r, r));
  v128_t bits = wasm_i32x4_shl(wasm_i32x4_add(t, wasm_i32x4_splat(127)), 23); // (n + 127) << 23
  return wasm_v128_andnot(wasm_f32x4_mul(p, bits), under);
}

INLINE float s_exp(float x) { return wasm_f32x4_extract_lane(v_exp(F4(x)), 0); }

// ln x for x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m by Cephes' polynomial in m - 1.
INLINE float s_log(float x) {
  union { float f; uint32_t u; } v = { x };
  int e = (int)((v.u >> 23) & 0xff) - 126;
  v.u = (v.u & 0x807fffffu) | 0x3f000000u; // m in [0.5, 1)
  float m = v.f;
  if (m < 0.707106781186547524f) { e -= 1; m = m + m - 1.0f; } else { m = m - 1.0f; }
  float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  float fe = (float)e;
  y += -2.12194440e-4f * fe;
  y += -0.5f * z;
  return m + y + 0.693359375f * fe;
}

INLINE f4 v_sigmoid(f4 x) { return wasm_f32x4_div(F4(1.0f), wasm_f32x4_add(F4(1.0f), v_exp(wasm_f32x4_neg(x)))); }

// tanh through e^(-2|x|), which cannot overflow.
INLINE f4 v_tanh(f4 x) {
  f4 e = v_exp(wasm_f32x4_mul(F4(-2.0f), wasm_f32x4_abs(x)));
  f4 t = wasm_f32x4_div(wasm_f32x4_sub(F4(1.0f), e), wasm_f32x4_add(F4(1.0f), e));
  return wasm_v128_or(t, wasm_v128_and(x, wasm_i32x4_splat((int32_t)0x80000000u)));
}
