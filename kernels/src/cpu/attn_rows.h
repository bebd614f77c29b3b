/* The per-row softmax pieces of blocked causal attention, shared by the
 * fp32 (attention.c) and bf16-product (attention_bf16.c) kernels so both
 * compute probabilities and score gradients identically. */
#ifndef LPK_CPU_ATTN_ROWS_H
#define LPK_CPU_ATTN_ROWS_H

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "vmath.h"

/* Scores s[0..n) of a query that sees n keys become its probabilities,
 * s[n..nk) zeros; returns the row's log-sum-exp of scale * s. */
static inline float attn_softmax_row(float *s, int n, int nk, float scale) {
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
    return mx + logf(sum);
}

/* Backward of one row: p holds the recomputed scores and becomes the
 * probabilities exp(scale * p - lse); dp holds dO . V^T and becomes the
 * score gradient p * (dp - D) * scale, D = dO . O; zeros from n to nk. */
static inline void attn_dscore_row(float *p, float *dp, int n, int nk, float scale,
                                   float lse, float D) {
#pragma omp simd
    for (int j = 0; j < n; j++) {
        float pj = lpk_expf(p[j] * scale - lse);
        p[j] = pj;
        dp[j] = pj * (dp[j] - D) * scale;
    }
    for (int j = n; j < nk; j++) p[j] = dp[j] = 0.0f;
}

/* Zeroes R rows of P and dP (nk wide, row stride ld) and sets each row's
 * D = dO_r . O_r (hs wide, row stride C). */
static inline void attn_block_prep(float *P, float *dP, size_t ld, int R, int nk,
                                   const float *go, const float *o, size_t C, int hs,
                                   float *Dr) {
    for (int r = 0; r < R; r++) {
        memset(P + r * ld, 0, sizeof(float) * nk);
        memset(dP + r * ld, 0, sizeof(float) * nk);
        const float *g = go + r * C, *y = o + r * C;
        float D = 0.0f;
#pragma omp simd reduction(+ : D)
        for (int d = 0; d < hs; d++) D += g[d] * y[d];
        Dr[r] = D;
    }
}

/* Zeroes one head's dq, dk, dv (hs wide at offsets 0, C, 2C) in T rows of
 * the [T, 3C] gradient: the block products then accumulate into them. */
static inline void attn_zero_head_grads(float *d, int T, ptrdiff_t ld, int C, int hs) {
    for (int j = 0; j < T; j++) {
        float *dj = d + j * ld;
        memset(dj, 0, sizeof(float) * hs);
        memset(dj + C, 0, sizeof(float) * hs);
        memset(dj + 2 * C, 0, sizeof(float) * hs);
    }
}

#endif
