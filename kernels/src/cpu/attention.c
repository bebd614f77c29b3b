/* Causal self-attention, one query row at a time (the flash-attention idea
 * without tiles): scores for row i live in a length-T buffer, the forward
 * keeps only the row's log-sum-exp, and the backward recomputes the
 * probabilities from it. Memory is O(B*H*T) instead of O(B*H*T*T).
 * Work is split over (batch, head) pairs: each pair's dK/dV sums stay in one
 * thread, so results do not depend on scheduling. K (and V in the backward)
 * are transposed per pair so the score loop runs over contiguous keys. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vmath.h"

int cpu_attn_fwd(lpk_ctx *ctx, float *out, float *lse, const float *qkv, int B,
                 int T, int C, int H) {
    const int hs = C / H;
    const float scale = 1.0f / sqrtf((float)hs);
    const size_t ld = (size_t)3 * C;
    int fail = 0;
#pragma omp parallel num_threads(NT(ctx)) reduction(| : fail)
    {
        float *kt = malloc(sizeof(float) * ((size_t)hs * T + T));
        float *s = kt ? kt + (size_t)hs * T : NULL;
        if (!kt) fail = 1;
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            if (!kt) continue;
            int b = bh / H, h = bh % H;
            const float *base = qkv + (size_t)b * T * ld;
            for (int j = 0; j < T; j++) {
                const float *k = base + j * ld + C + h * hs;
                for (int d = 0; d < hs; d++) kt[(size_t)d * T + j] = k[d];
            }
            for (int i = 0; i < T; i++) {
                const float *q = base + i * ld + h * hs;
                int n = i + 1;
                for (int j = 0; j < n; j++) s[j] = 0.0f;
                for (int d = 0; d < hs; d++) {
                    float qd = q[d] * scale;
                    const float *kr = kt + (size_t)d * T;
#pragma omp simd
                    for (int j = 0; j < n; j++) s[j] += qd * kr[j];
                }
                float mx = -INFINITY;
                for (int j = 0; j < n; j++) mx = s[j] > mx ? s[j] : mx;
                float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
                for (int j = 0; j < n; j++) {
                    float e = lpk_expf(s[j] - mx);
                    s[j] = e;
                    sum += e;
                }
                float inv = 1.0f / sum;
                float *o = out + ((size_t)b * T + i) * C + h * hs;
                for (int d = 0; d < hs; d++) o[d] = 0.0f;
                for (int j = 0; j < n; j++) {
                    const float *v = base + j * ld + 2 * C + h * hs;
                    float p = s[j] * inv;
#pragma omp simd
                    for (int d = 0; d < hs; d++) o[d] += p * v[d];
                }
                lse[(size_t)bh * T + i] = mx + logf(sum);
            }
        }
        free(kt);
    }
    if (fail) { lpk_ctx_set_error(ctx, "attention: out of memory"); return -1; }
    return 0;
}

int cpu_attn_bwd(lpk_ctx *ctx, float *dqkv, const float *dout,
                 const float *qkv, const float *out, const float *lse, int B,
                 int T, int C, int H) {
    const int hs = C / H;
    const float scale = 1.0f / sqrtf((float)hs);
    const size_t ld = (size_t)3 * C;
    int fail = 0;
#pragma omp parallel num_threads(NT(ctx)) reduction(| : fail)
    {
        /* kt, vt: [hs][T]; p, dp: [T] */
        float *kt = malloc(sizeof(float) * ((size_t)2 * hs * T + 2 * (size_t)T));
        if (!kt) fail = 1;
        float *vt = kt ? kt + (size_t)hs * T : NULL;
        float *p = kt ? vt + (size_t)hs * T : NULL;
        float *dp = kt ? p + T : NULL;
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            if (!kt) continue;
            int b = bh / H, h = bh % H;
            const float *base = qkv + (size_t)b * T * ld;
            float *dbase = dqkv + (size_t)b * T * ld;
            for (int j = 0; j < T; j++) {
                const float *k = base + j * ld + C + h * hs;
                const float *v = base + j * ld + 2 * C + h * hs;
                for (int d = 0; d < hs; d++) {
                    kt[(size_t)d * T + j] = k[d];
                    vt[(size_t)d * T + j] = v[d];
                }
                float *dk = dbase + j * ld + C + h * hs;
                float *dv = dbase + j * ld + 2 * C + h * hs;
                for (int d = 0; d < hs; d++) dk[d] = dv[d] = 0.0f;
            }
            for (int i = 0; i < T; i++) {
                const float *q = base + i * ld + h * hs;
                const float *go = dout + ((size_t)b * T + i) * C + h * hs;
                const float *o = out + ((size_t)b * T + i) * C + h * hs;
                int n = i + 1;
                float l = lse[(size_t)bh * T + i];
                for (int j = 0; j < n; j++) { p[j] = 0.0f; dp[j] = 0.0f; }
                for (int d = 0; d < hs; d++) {
                    float qd = q[d] * scale, gd = go[d];
                    const float *kr = kt + (size_t)d * T, *vr = vt + (size_t)d * T;
#pragma omp simd
                    for (int j = 0; j < n; j++) {
                        p[j] += qd * kr[j];
                        dp[j] += gd * vr[j];
                    }
                }
                float D = 0.0f;
#pragma omp simd reduction(+ : D)
                for (int d = 0; d < hs; d++) D += go[d] * o[d];
#pragma omp simd
                for (int j = 0; j < n; j++) {
                    float pj = lpk_expf(p[j] - l);
                    p[j] = pj;
                    dp[j] = pj * (dp[j] - D) * scale; /* dscore, pre-scaled */
                }
                float *dq = dbase + i * ld + h * hs;
                for (int d = 0; d < hs; d++) dq[d] = 0.0f;
                for (int j = 0; j < n; j++) {
                    const float *k = base + j * ld + C + h * hs;
                    float *dk = dbase + j * ld + C + h * hs;
                    float *dv = dbase + j * ld + 2 * C + h * hs;
                    float ds = dp[j], pj = p[j];
#pragma omp simd
                    for (int d = 0; d < hs; d++) {
                        dq[d] += ds * k[d];
                        dk[d] += ds * q[d];
                        dv[d] += pj * go[d];
                    }
                }
            }
        }
        free(kt);
    }
    if (fail) { lpk_ctx_set_error(ctx, "attention backward: out of memory"); return -1; }
    return 0;
}

int cpu_attn_decode(lpk_ctx *ctx, float *out, const float *q, int ldq,
                    const float *kcache, const float *vcache, const int32_t *len,
                    int B, int maxT, int C, int H) {
    const int hs = C / H;
    const float scale = 1.0f / sqrtf((float)hs);
    int fail = 0;
#pragma omp parallel num_threads(NT(ctx)) reduction(| : fail)
    {
        float *s = malloc(sizeof(float) * (size_t)maxT);
        if (!s) fail = 1;
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            if (!s) continue;
            int b = bh / H, h = bh % H, n = len[b];
            const float *qr = q + (size_t)b * ldq + h * hs;
            const float *K = kcache + (size_t)b * maxT * C + h * hs;
            const float *Vc = vcache + (size_t)b * maxT * C + h * hs;
            float mx = -INFINITY;
            for (int j = 0; j < n; j++) {
                float a = 0.0f;
#pragma omp simd reduction(+ : a)
                for (int d = 0; d < hs; d++) a += qr[d] * scale * K[(size_t)j * C + d];
                s[j] = a;
                mx = a > mx ? a : mx;
            }
            float sum = 0.0f;
            for (int j = 0; j < n; j++) { s[j] = lpk_expf(s[j] - mx); sum += s[j]; }
            float inv = 1.0f / sum;
            float *o = out + (size_t)b * C + h * hs;
            for (int d = 0; d < hs; d++) o[d] = 0.0f;
            for (int j = 0; j < n; j++) {
                float pj = s[j] * inv;
#pragma omp simd
                for (int d = 0; d < hs; d++) o[d] += pj * Vc[(size_t)j * C + d];
            }
        }
        free(s);
    }
    if (fail) { lpk_ctx_set_error(ctx, "attention decode: out of memory"); return -1; }
    return 0;
}
