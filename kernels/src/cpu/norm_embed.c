/* Token + position embeddings and LayerNorm. Parameter-gradient sums run over
 * rows inside a column block owned by one thread: race-free and in a fixed
 * order, hence bitwise reproducible. */
#include <math.h>

#include "internal.h"

#define COLBLK 64

int cpu_embed_fwd(cpu_state *ctx, float *out, const int32_t *tok, const int32_t *pos, int N, int T, int C,
                  const float *wte, int V, const float *wpe, int maxT) {
    for (int i = 0; i < N; i++) {
        int p = pos ? pos[i] : i % T;
        if (tok[i] < 0 || tok[i] >= V) {
            cpu_error(ctx, "embedding: token %d at index %d is outside the vocabulary 0..%d", tok[i], i,
                      V - 1);
            return -1;
        }
        if (p < 0 || p >= maxT) {
            cpu_error(ctx, "embedding: position %d at index %d is outside the context 0..%d", p, i, maxT - 1);
            return -1;
        }
    }
#pragma omp parallel for num_threads(NTW(ctx, (size_t)N *C)) schedule(static)
    for (int i = 0; i < N; i++) {
        int p = pos ? pos[i] : i % T;
        const float *a = wte + (size_t)tok[i] * C, *b = wpe + (size_t)p * C;
        float *o = out + (size_t)i * C;
#pragma omp simd
        for (int j = 0; j < C; j++) o[j] = a[j] + b[j];
    }
    return 0;
}

int cpu_embed_bwd(cpu_state *ctx, float *dwte, float *dwpe, const float *dout, const int32_t *tok,
                  const int32_t *pos, int N, int T, int C, int V, int maxT) {
    (void)V;
    (void)maxT;
    int nb = (C + COLBLK - 1) / COLBLK;
#pragma omp parallel for num_threads(NTW(ctx, (size_t)N *C)) schedule(static)
    for (int b = 0; b < nb; b++) {
        int lo = b * COLBLK, hi = lo + COLBLK < C ? lo + COLBLK : C;
        for (int i = 0; i < N; i++) {
            int p = pos ? pos[i] : i % T;
            const float *d = dout + (size_t)i * C;
            float *wt = dwte + (size_t)tok[i] * C, *wp = dwpe + (size_t)p * C;
#pragma omp simd
            for (int j = lo; j < hi; j++) {
                wt[j] += d[j];
                wp[j] += d[j];
            }
        }
    }
    return 0;
}

int cpu_layernorm_fwd(cpu_state *ctx, float *out, lpk_bf16 *out16, float *mean, float *rstd, const float *x,
                      const float *w, const float *b, int N, int C, float eps) {
#pragma omp parallel for num_threads(NTW(ctx, (size_t)N *C)) schedule(static)
    for (int i = 0; i < N; i++) {
        const float *r = x + (size_t)i * C;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < C; j++) s += r[j];
        float mu = s / (float)C;
        float q = 0.0f;
#pragma omp simd reduction(+ : q)
        for (int j = 0; j < C; j++) {
            float d = r[j] - mu;
            q += d * d;
        }
        float rs = 1.0f / sqrtf(q / (float)C + eps);
        float *o = out + (size_t)i * C;
#pragma omp simd
        for (int j = 0; j < C; j++) o[j] = (r[j] - mu) * rs * w[j] + b[j];
        if (out16) {
            lpk_bf16 *o16 = out16 + (size_t)i * C;
#pragma omp simd
            for (int j = 0; j < C; j++) o16[j] = lpk_to_bf16(o[j]);
        }
        if (mean) mean[i] = mu;
        if (rstd) rstd[i] = rs;
    }
    return 0;
}

int cpu_layernorm_bwd(cpu_state *ctx, float *dx, float *dw, float *db, const float *dout, const float *x,
                      const float *w, const float *mean, const float *rstd, int N, int C) {
#pragma omp parallel for num_threads(NTW(ctx, (size_t)N *C)) schedule(static)
    for (int i = 0; i < N; i++) {
        const float *r = x + (size_t)i * C, *d = dout + (size_t)i * C;
        float mu = mean[i], rs = rstd[i];
        float a = 0.0f, bsum = 0.0f;
#pragma omp simd reduction(+ : a, bsum)
        for (int j = 0; j < C; j++) {
            float dn = d[j] * w[j];
            a += dn;
            bsum += dn * (r[j] - mu) * rs;
        }
        a /= (float)C;
        bsum /= (float)C;
        float *o = dx + (size_t)i * C;
#pragma omp simd
        for (int j = 0; j < C; j++) {
            float xh = (r[j] - mu) * rs;
            o[j] += (d[j] * w[j] - a - xh * bsum) * rs;
        }
    }
    int nb = (C + COLBLK - 1) / COLBLK;
#pragma omp parallel for num_threads(NTW(ctx, (size_t)N *C)) schedule(static)
    for (int blk = 0; blk < nb; blk++) {
        int lo = blk * COLBLK, hi = lo + COLBLK < C ? lo + COLBLK : C;
        float aw[COLBLK], ab[COLBLK];
        for (int j = 0; j < hi - lo; j++) aw[j] = ab[j] = 0.0f;
        for (int i = 0; i < N; i++) {
            const float *r = x + (size_t)i * C, *d = dout + (size_t)i * C;
            float mu = mean[i], rs = rstd[i];
#pragma omp simd
            for (int j = lo; j < hi; j++) {
                aw[j - lo] += d[j] * (r[j] - mu) * rs;
                ab[j - lo] += d[j];
            }
        }
        for (int j = lo; j < hi; j++) {
            dw[j] += aw[j - lo];
            db[j] += ab[j - lo];
        }
    }
    return 0;
}
