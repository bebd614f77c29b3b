/* The per-row softmax pieces of blocked causal attention, shared by the
 * fp32 (attention.c) and bf16-product (attention_bf16.c) kernels so both
 * compute probabilities and score gradients identically. */
#ifndef LPK_CPU_ATTN_ROWS_H
#define LPK_CPU_ATTN_ROWS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vmath.h"

#ifdef __AVX512F__
static inline __mmask16 attn_mask16(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}
#endif

/* Scores s[0..n) of a query that sees n keys become its probabilities,
 * s[n..nk) zeros; returns the row's log-sum-exp of scale * s. Rows are
 * short (n < T), so the AVX-512 version masks the ragged end instead of
 * leaving it to scalar remainder loops, which had made this 12 % of the
 * attention time at T = 256. */
static inline float attn_softmax_row(float *s, int n, int nk, float scale) {
#ifdef __AVX512F__
    __m512 vmx = _mm512_set1_ps(-INFINITY);
    for (int j = 0; j < n; j += 16)
        vmx = _mm512_max_ps(vmx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), attn_mask16(n - j), s + j));
    float mx = _mm512_reduce_max_ps(vmx) * scale;
    __m512 vs = _mm512_set1_ps(scale), vm = _mm512_set1_ps(mx), vsum = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = attn_mask16(n - j);
        __m512 e = lpk_exp16(_mm512_sub_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + j), vs), vm));
        e = _mm512_maskz_mov_ps(m, e);
        _mm512_mask_storeu_ps(s + j, attn_mask16(nk - j), e); /* zeros past n */
        vsum = _mm512_add_ps(vsum, e);
    }
    float sum = _mm512_reduce_add_ps(vsum);
    __m512 inv = _mm512_set1_ps(1.0f / sum);
    int j = 0;
    for (; j < n; j += 16) {
        __mmask16 m = attn_mask16(nk - j);
        _mm512_mask_storeu_ps(s + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + j), inv));
    }
    for (; j < nk; j++) s[j] = 0.0f;
#else
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < n; j++) mx = s[j] > mx ? s[j] : mx;
    mx *= scale;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < n; j++) {
        float e = lpk_expf(s[j] * scale - mx);
        s[j] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int j = 0; j < n; j++) s[j] *= inv;
    for (int j = n; j < nk; j++) s[j] = 0.0f;
#endif
    return mx + logf(sum);
}

/* Backward of one row: p holds the recomputed scores and becomes the
 * probabilities exp(scale * p - lse); dp holds dO . V^T and becomes the
 * score gradient p * (dp - D) * scale, D = dO . O; zeros from n to nk. */
static inline void attn_dscore_row(float *p, float *dp, int n, int nk, float scale, float lse, float D) {
#ifdef __AVX512F__
    __m512 vs = _mm512_set1_ps(scale), vl = _mm512_set1_ps(lse), vd = _mm512_set1_ps(D);
    int j = 0;
    for (; j < n; j += 16) {
        __mmask16 m = attn_mask16(n - j), w = attn_mask16(nk - j);
        __m512 pj = _mm512_maskz_mov_ps(
            m, lpk_exp16(_mm512_sub_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + j), vs), vl)));
        __m512 g = _mm512_mul_ps(_mm512_mul_ps(pj, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, dp + j), vd)), vs);
        _mm512_mask_storeu_ps(p + j, w, pj);
        _mm512_mask_storeu_ps(dp + j, w, _mm512_maskz_mov_ps(m, g));
    }
    for (; j < nk; j++) p[j] = dp[j] = 0.0f;
#else
#pragma omp simd
    for (int j = 0; j < n; j++) {
        float pj = lpk_expf(p[j] * scale - lse);
        p[j] = pj;
        dp[j] = pj * (dp[j] - D) * scale;
    }
    for (int j = n; j < nk; j++) p[j] = dp[j] = 0.0f;
#endif
}

/* Zeroes columns [k0, nk) of R rows of P and dP (row stride ld; skipped
 * when NULL, for products that store rather than add) and sets each row's
 * D = dO_r . O_r (hs wide, row stride C). */
static inline void attn_block_prep(float *P, float *dP, size_t ld, int k0, int R, int nk, const float *go,
                                   const float *o, size_t C, int hs, float *Dr) {
    for (int r = 0; r < R; r++) {
        if (P) {
            memset(P + r * ld + k0, 0, sizeof(float) * (nk - k0));
            memset(dP + r * ld + k0, 0, sizeof(float) * (nk - k0));
        }
        const float *g = go + r * C, *y = o + r * C;
        float D = 0.0f;
#pragma omp simd reduction(+ : D)
        for (int d = 0; d < hs; d++) D += g[d] * y[d];
        Dr[r] = D;
    }
}

/* ---- segments (packed sequences) -------------------------------------
 * st[t] (NULL: 0) is the first key query t sees. Products start at the
 * first key a strip or block of rows needs, rounded down to what the
 * product's layout wants (whole register tiles, bf16 pairs), so keys
 * before every row's start cost nothing; the row functions below zero the
 * columns from the block's first key (rounded the most) up to the row's
 * own start, which the products then read as exact zeros. With st NULL
 * every offset is 0 and the plain causal path runs unchanged. */

/* ---- shared prefix: with pre > 0 (the row's first pre tokens are a
 * prefix every later query sees too) query t sees keys [0, min(pre, t+1))
 * and [st[t], t]. Such rows run their products from key 0 (the keys in
 * the gap between the prefix and a query's start are zeros, as before a
 * start without prefix): simple, and a packed row with a prefix still
 * costs at most a plain causal one. */

/* first key any of the rows [a, a + n) sees, rounded down to a multiple
 * of align (a power of two) */
static inline int attn_first_key(const int32_t *st, int pre, int a, int n, int align) {
    if (!st || pre > 0) return 0;
    int s = st[a];
    for (int i = 1; i < n; i++) s = st[a + i] < s ? st[a + i] : s;
    return s & -align;
}

/* rows of the block [i0, i0 + R) that may see a key of [j0, j]: all but
 * the tail whose starts lie past j (for packed rows, the later examples');
 * every row sees a prefix key; the key-side products stop there */
static inline int attn_rows_seeing(const int32_t *st, int pre, int i0, int R, int j0, int j) {
    if (!st || j0 < pre) return R;
    while (R > 0 && st[i0 + R - 1] > j) R--;
    return R;
}

/* a query seeing the prefix [0, pre) and then [lo, n), pre < lo: one
 * softmax over both ranges, zeros in the gap and from n to nk */
static inline float attn_softmax_two(float *s, int pre, int lo, int n, int nk, float scale) {
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < pre; j++) mx = s[j] > mx ? s[j] : mx;
#pragma omp simd reduction(max : mx)
    for (int j = lo; j < n; j++) mx = s[j] > mx ? s[j] : mx;
    mx *= scale;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < pre; j++) {
        float e = lpk_expf(s[j] * scale - mx);
        s[j] = e;
        sum += e;
    }
#pragma omp simd reduction(+ : sum)
    for (int j = lo; j < n; j++) {
        float e = lpk_expf(s[j] * scale - mx);
        s[j] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int j = 0; j < pre; j++) s[j] *= inv;
#pragma omp simd
    for (int j = lo; j < n; j++) s[j] *= inv;
    memset(s + pre, 0, sizeof(float) * (lo - pre));
    if (nk > n) memset(s + n, 0, sizeof(float) * (nk - n));
    return mx + logf(sum);
}

/* attn_softmax_row for a query seeing keys [lo, n) (and the prefix
 * [0, pre) when pre > 0) of a row whose columns [k0, nk) the products read
 * (k0 <= lo < n <= nk; k0 = 0 when pre > 0) */
static inline float attn_softmax_seg(float *s, int k0, int pre, int lo, int n, int nk, float scale) {
    if (pre > 0 && lo > pre) return attn_softmax_two(s, pre, lo, n, nk, scale);
    if (pre > 0) lo = 0;
    if (lo > k0) memset(s + k0, 0, sizeof(float) * (lo - k0));
    return attn_softmax_row(s + lo, n - lo, nk - lo, scale);
}

/* attn_dscore_row for the same row */
static inline void attn_dscore_seg(float *p, float *dp, int k0, int pre, int lo, int n, int nk, float scale,
                                   float lse, float D) {
    if (pre > 0 && lo > pre) {
        attn_dscore_row(p, dp, pre, lo, scale, lse, D); /* zeros the gap */
    } else {
        if (pre > 0) lo = 0;
        if (lo > k0) {
            memset(p + k0, 0, sizeof(float) * (lo - k0));
            memset(dp + k0, 0, sizeof(float) * (lo - k0));
        }
    }
    attn_dscore_row(p + lo, dp + lo, n - lo, nk - lo, scale, lse, D);
}

#endif
