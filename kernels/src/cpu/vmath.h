/* Vectorisable exp for the hot loops (softmax over the vocabulary,
 * attention, GELU). glibc only offers SIMD expf under -ffast-math, which we
 * do not use, so this is a Cody-Waite range reduction to |r| <= ln2/2 and a
 * degree-6 polynomial fitted for least maximum relative error (Lawson
 * iteration on Chebyshev nodes), evaluated with fused multiply-adds: 16
 * vector operations a lane, where a degree-7 Taylor polynomial with separate
 * multiplies and adds took 27 (the C11 build never contracts a*b+c by
 * itself). Relative error at most 7.1e-8 over the clamped range (measured
 * against float64 at 2e5 points of the reduced range), no branches, no
 * calls. */
#ifndef LPK_CPU_VMATH_H
#define LPK_CPU_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* fmaf is one instruction where the CPU has FMA; elsewhere (the portable
 * x86-64-v2 build) it would be a libm call per element, so a*b+c instead. */
#if defined(__FMA__) || defined(__aarch64__)
#define LPK_FMA(a, b, c) fmaf((a), (b), (c))
#else
#define LPK_FMA(a, b, c) ((a) * (b) + (c))
#endif

#define LPK_EXP_C6 0.0013843653723597527f
#define LPK_EXP_C5 0.00837415549904108f
#define LPK_EXP_C4 0.04166800156235695f
#define LPK_EXP_C3 0.16666431725025177f
#define LPK_EXP_C2 0.4999999403953552f

static inline float lpk_expf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    /* round-to-nearest by the 1.5*2^23 trick: vectorises, unlike rintf */
    const float magic = 12582912.0f;
    float n = LPK_FMA(x, 1.44269504088896341f, magic) - magic;
    float r = LPK_FMA(n, -0.693145751953125f, x);
    r = LPK_FMA(n, -1.428606765330187e-06f, r);
    float p = LPK_FMA(LPK_EXP_C6, r, LPK_EXP_C5);
    p = LPK_FMA(p, r, LPK_EXP_C4);
    p = LPK_FMA(p, r, LPK_EXP_C3);
    p = LPK_FMA(p, r, LPK_EXP_C2);
    p = LPK_FMA(p, r, 1.0f);
    p = LPK_FMA(p, r, 1.0f);
    int32_t e = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &e, sizeof s);
    return p * s;
}

#ifdef __AVX512F__
#include <immintrin.h>
/* lpk_expf on 16 lanes, the same operations in the same order, so masked
 * tails give bit for bit what the vectorised loops give. */
static inline __m512 lpk_exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), magic), magic);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693145751953125f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(-1.428606765330187e-06f), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(LPK_EXP_C6), r, _mm512_set1_ps(LPK_EXP_C5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LPK_EXP_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LPK_EXP_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LPK_EXP_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}
#endif

/* tanh from exp; the absolute error stays ~1e-7, which is what GELU needs. */
static inline float lpk_tanhf(float x) { return 1.0f - 2.0f / (1.0f + lpk_expf(2.0f * x)); }

#endif
