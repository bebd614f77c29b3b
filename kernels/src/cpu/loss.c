/* Softmax-based heads over the vocabulary: cross-entropy with per-token
 * weights, log-probabilities of chosen tokens with entropy (PPO), and the
 * scalar head. Each row is independent; sums over rows are done serially in
 * double from per-row values so the total is reproducible. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vmath.h"

/* max and log-sum-exp of s*z over a row */
static float row_lse(const float *z, int V, float s, float *maxout) {
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < V; j++) mx = z[j] * s > mx ? z[j] * s : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < V; j++) sum += lpk_expf(z[j] * s - mx);
    *maxout = mx;
    return mx + logf(sum);
}

/* Softmax statistics of a row in one pass over memory: exponentials of the
 * unshifted logits with the max tracked alongside, so the exp work overlaps
 * the read from memory (a separate max pass was a quarter of this kernel,
 * waiting on memory). Without the shift this is exact as long as the row
 * max stays in [-XENT_SAFE, XENT_SAFE]: exp(60) times ten million terms is
 * 1e33, far from fp32 overflow, and exp(-60) far from underflow; rows
 * outside (rare: trained logits stay within a few tens) are redone
 * shifted by their max. ex receives the exponentials; returns the
 * log-sum-exp and *sum the sum of ex. */
#define XENT_SAFE 60.0f

static float row_lse_once(const float *z, int V, float *ex, float *sum) {
    float m = -INFINITY, s = 0.0f;
#pragma omp simd reduction(max : m) reduction(+ : s)
    for (int j = 0; j < V; j++) {
        float v = z[j];
        m = v > m ? v : m;
        ex[j] = lpk_expf(v);
        s += ex[j];
    }
    float shift = 0.0f;
    if (!(m >= -XENT_SAFE && m <= XENT_SAFE)) { /* also catches NaN */
        shift = m;
        s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < V; j++) {
            ex[j] = lpk_expf(z[j] - m);
            s += ex[j];
        }
    }
    *sum = s;
    return shift + logf(s);
}

/* Exactly one of dlogits (fp32, row stride ld) and d16 (bf16, ld16) or
 * neither receives the gradient; the bf16 values are the rounding of the
 * fp32 ones. Each thread keeps a row of exponentials (V floats, in L2) so
 * each logit is exponentiated once: exp dominated this kernel (two per
 * logit measured 60 ms for 2048 x 50257, one 40 ms, and with the max found
 * in the same pass 37 ms; 30 ms with the FMA exp of vmath.h). */
static int xent(cpu_state *ctx, const float *logits, int ld, const int32_t *target, const float *weight,
                int N, int V, double norm, float *nll, float *dlogits, lpk_bf16 *d16, int ld16, float dscale,
                double *loss) {
    int nt = NTW(ctx, (size_t)N * V);
    /* per thread a row of exponentials, then the per-row losses (doubles) */
    const size_t per = (size_t)(V > 0 ? V : 1);
    const size_t rows_at = cpu_scratch_stride(per) * (size_t)nt;
    float *ws = cpu_scratch(ctx, rows_at + 2 * (size_t)(N > 0 ? N : 1) + 16, 1);
    if (!ws) {
        cpu_error(ctx, "cross-entropy: out of memory");
        return -1;
    }
    double *row = (double *)(void *)(ws + rows_at);
    const float g = (float)(dscale / norm);
#pragma omp parallel num_threads(nt)
    {
        float *e = ws + (size_t)omp_get_thread_num() * cpu_scratch_stride(per);
#pragma omp for schedule(static)
        for (int i = 0; i < N; i++) {
            const float *z = logits + (size_t)i * ld;
            int t = target[i];
            float w = weight ? weight[i] : 1.0f;
            if (t < 0 || t >= V) w = 0.0f;
            float c = w * g;
            float sum, lse = row_lse_once(z, V, e, &sum);
            float l = (t >= 0 && t < V) ? lse - z[t] : 0.0f;
            if (nll) nll[i] = l;
            row[i] = (double)w * l;
            float s = c / sum;
            if (dlogits) {
                float *d = dlogits + (size_t)i * ld;
                if (c == 0.0f) {
                    for (int j = 0; j < V; j++) d[j] = 0.0f;
                } else {
#pragma omp simd
                    for (int j = 0; j < V; j++) d[j] = e[j] * s;
                    d[t] -= c;
                }
            } else if (d16) {
                lpk_bf16 *d = d16 + (size_t)i * ld16;
                if (c == 0.0f) {
                    memset(d, 0, (size_t)V * sizeof *d);
                } else {
                    float dt = e[t] * s - c;
#pragma omp simd
                    for (int j = 0; j < V; j++) d[j] = lpk_to_bf16(e[j] * s);
                    d[t] = lpk_to_bf16(dt);
                }
            }
        }
    }
    double total = 0.0;
    for (int i = 0; i < N; i++) total += row[i];
    *loss = total / norm;
    return 0;
}

int cpu_xent(cpu_state *ctx, const float *logits, int ld, const int32_t *target, const float *weight, int N,
             int V, double norm, float *nll, float *dlogits, float dscale, double *loss) {
    return xent(ctx, logits, ld, target, weight, N, V, norm, nll, dlogits, NULL, 0, dscale, loss);
}

int cpu_xent_bf16(cpu_state *ctx, const float *logits, int ld, const int32_t *target, const float *weight,
                  int N, int V, double norm, float *nll, lpk_bf16 *d16, int ld16, float dscale,
                  double *loss) {
    return xent(ctx, logits, ld, target, weight, N, V, norm, nll, NULL, d16, ld16, dscale, loss);
}

int cpu_logprob_fwd(cpu_state *ctx, const float *logits, int ld, const int32_t *tok, int N, int V, float temp,
                    float *logp, float *entropy) {
    const float s = 1.0f / temp;
#pragma omp parallel for num_threads(NTW(ctx, (size_t)N *V)) schedule(static)
    for (int i = 0; i < N; i++) {
        const float *z = logits + (size_t)i * ld;
        float mx;
        float lse = row_lse(z, V, s, &mx);
        int t = tok[i];
        if (logp) logp[i] = (t >= 0 && t < V) ? z[t] * s - lse : 0.0f;
        if (entropy) {
            float ez = 0.0f;
#pragma omp simd reduction(+ : ez)
            for (int j = 0; j < V; j++) ez += lpk_expf(z[j] * s - lse) * (z[j] * s);
            entropy[i] = lse - ez;
        }
    }
    return 0;
}

int cpu_logprob_bwd(cpu_state *ctx, float *dlogits, const float *logits, int ld, const int32_t *tok, int N,
                    int V, float temp, const float *dlogp, const float *dentropy) {
    const float s = 1.0f / temp;
#pragma omp parallel for num_threads(NTW(ctx, (size_t)N *V)) schedule(static)
    for (int i = 0; i < N; i++) {
        const float *z = logits + (size_t)i * ld;
        float *d = dlogits + (size_t)i * ld;
        float mx;
        float lse = row_lse(z, V, s, &mx);
        float gl = dlogp ? dlogp[i] : 0.0f;
        float ge = dentropy ? dentropy[i] : 0.0f;
        float H = 0.0f;
        if (ge != 0.0f) {
            float ez = 0.0f;
#pragma omp simd reduction(+ : ez)
            for (int j = 0; j < V; j++) ez += lpk_expf(z[j] * s - lse) * (z[j] * s);
            H = lse - ez;
        }
        int t = tok[i];
        if (t < 0 || t >= V) gl = 0.0f;
        float zt = (t >= 0 && t < V) ? z[t] : 0.0f;
        /* d logp / dz'_j = [j==t] - p_j ; d H / dz'_j = -p_j (log p_j + H);
         * z' = z / temp. d may alias z, so z[t] was read first. */
#pragma omp simd
        for (int j = 0; j < V; j++) {
            float zs = z[j] * s;
            float p = lpk_expf(zs - lse);
            d[j] = (-gl * p - ge * p * (zs - lse + H)) * s;
        }
        (void)zt;
        if (gl != 0.0f) d[t] += gl * s;
    }
    return 0;
}

int cpu_rowdot_fwd(cpu_state *ctx, float *out, const float *x, const float *w, float b, int N, int C) {
#pragma omp parallel for num_threads(NTW(ctx, (size_t)N *C)) schedule(static)
    for (int i = 0; i < N; i++) {
        const float *r = x + (size_t)i * C;
        float a = 0.0f;
#pragma omp simd reduction(+ : a)
        for (int j = 0; j < C; j++) a += r[j] * w[j];
        out[i] = a + b;
    }
    return 0;
}

int cpu_rowdot_bwd(cpu_state *ctx, float *dx, float *dw, float *db, const float *dout, const float *x,
                   const float *w, int N, int C) {
    if (dx) {
#pragma omp parallel for num_threads(NTW(ctx, (size_t)N *C)) schedule(static)
        for (int i = 0; i < N; i++) {
            float g = dout[i];
            if (g == 0.0f) continue;
            float *r = dx + (size_t)i * C;
#pragma omp simd
            for (int j = 0; j < C; j++) r[j] += g * w[j];
        }
    }
    if (dw) {
        for (int i = 0; i < N; i++) {
            float g = dout[i];
            if (g == 0.0f) continue;
            const float *r = x + (size_t)i * C;
#pragma omp simd
            for (int j = 0; j < C; j++) dw[j] += g * r[j];
        }
    }
    if (db) {
        float s = 0.0f;
        for (int i = 0; i < N; i++) s += dout[i];
        *db += s;
    }
    return 0;
}
