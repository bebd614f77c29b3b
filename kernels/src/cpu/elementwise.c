/* Elementwise kernels and reductions. Loops are kept simple so GCC
 * vectorises them; reductions use a fixed chunking so their result does not
 * depend on how many threads ran them, except the one-pass bf16 bias
 * gradients, whose row ranges follow the thread count (the same bits for
 * the same count, as the model's determinism promises). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <stdint.h>

#include "internal.h"
#include "vmath.h"

int cpu_f32_to_bf16(cpu_state *ctx, const float *x, lpk_bf16 *y, size_t n) {
#pragma omp parallel for simd num_threads(NTW(ctx, n)) schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = lpk_to_bf16(x[i]);
    return 0;
}

/* Large fills (zeroing the gradients: 500 MB for GPT-2 124M) stream past the
 * caches: a plain store first reads each line in, so it moves twice the
 * bytes (measured 42 GB/s plain, about 100 GB/s streaming). */
#define FILL_STREAM_MIN ((size_t)1 << 20)

int cpu_fill(cpu_state *ctx, float *x, float v, size_t n) {
    if (v == 0.0f && n < ((size_t)1 << 16)) {
        memset(x, 0, n * sizeof *x);
        return 0;
    }
#ifdef __AVX512F__
    if (n >= FILL_STREAM_MIN) {
        size_t head = (size_t)((64 - ((uintptr_t)x & 63)) & 63) / sizeof *x;
        if (((uintptr_t)x & 3) == 0 && head < n) {
            for (size_t i = 0; i < head; i++) x[i] = v;
            float *a = x + head;
            size_t nv = (n - head) / 16;
            const __m512 vv = _mm512_set1_ps(v);
#pragma omp parallel num_threads(NT(ctx))
            {
#pragma omp for schedule(static)
                for (size_t i = 0; i < nv; i++) _mm512_stream_ps(a + 16 * i, vv);
                _mm_sfence();
            }
            for (size_t i = head + 16 * nv; i < n; i++) x[i] = v;
            return 0;
        }
    }
#endif
#pragma omp parallel for simd num_threads(NTW(ctx, n)) schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = v;
    return 0;
}

int cpu_scale(cpu_state *ctx, float *x, float s, size_t n) {
#pragma omp parallel for simd num_threads(NTW(ctx, n)) schedule(static)
    for (size_t i = 0; i < n; i++) x[i] *= s;
    return 0;
}

int cpu_add(cpu_state *ctx, float *y, const float *a, const float *b, size_t n) {
#pragma omp parallel for simd num_threads(NTW(ctx, n)) schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
    return 0;
}

#define SUMSQ_CHUNK ((size_t)1 << 14)

int cpu_sumsq(cpu_state *ctx, const float *x, size_t n, double *out) {
    size_t nc = (n + SUMSQ_CHUNK - 1) / SUMSQ_CHUNK;
    *out = 0.0;
    if (nc == 0) return 0;
    double *part = malloc(nc * sizeof *part);
    if (!part) { /* a serial sum would break the fixed summation order */
        cpu_error(ctx, "sumsq: out of memory");
        return -1;
    }
#pragma omp parallel for num_threads(NTW(ctx, n)) schedule(static)
    for (size_t c = 0; c < nc; c++) {
        size_t lo = c * SUMSQ_CHUNK, hi = lo + SUMSQ_CHUNK < n ? lo + SUMSQ_CHUNK : n;
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (size_t i = lo; i < hi; i++) s += (double)x[i] * x[i];
        part[c] = s;
    }
    double s = 0.0;
    for (size_t c = 0; c < nc; c++) s += part[c];
    free(part);
    *out = s;
    return 0;
}

/* 32x32 tiles: both the reads of src rows and the writes of dst rows stay
 * within a few cache lines per tile. Each dst tile row belongs to one
 * thread. */
/* Column blocks per thread: each thread owns its columns, so the sum over
 * rows runs in row order whatever the thread count. */
int cpu_bias_bwd(cpu_state *ctx, float *dbias, const float *dy, int N, int C) {
    const int BLK = 64;
    int nb = (C + BLK - 1) / BLK;
#pragma omp parallel for num_threads(NTW(ctx, (size_t)N *C)) schedule(static)
    for (int b = 0; b < nb; b++) {
        int lo = b * BLK, hi = lo + BLK < C ? lo + BLK : C;
        float acc[64];
        for (int j = lo; j < hi; j++) acc[j - lo] = 0.0f;
        for (int i = 0; i < N; i++) {
            const float *r = dy + (size_t)i * C;
#pragma omp simd
            for (int j = lo; j < hi; j++) acc[j - lo] += r[j];
        }
        for (int j = lo; j < hi; j++) dbias[j] += acc[j - lo];
    }
    return 0;
}

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

/* d gelu(v) / dv for the tanh form */
static inline float gelu_grad(float v) {
    float u = GELU_K * (v + 0.044715f * v * v * v);
    float t = lpk_tanhf(u);
    float du = GELU_K * (1.0f + 3.0f * 0.044715f * v * v);
    return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du;
}

/* The bias gradient and the bf16 rounding of dy in one read of dy, for the
 * backward of a bf16 linear layer (both GEMMs then read the bf16 copy);
 * with gelu_x, dy is first taken through GELU's backward at gelu_x (the
 * MLP expansion, whose fp32 input gradient nothing else reads). Rows are
 * walked in order, each thread over its own contiguous rows with its
 * column sums in L1; the per-thread sums are added in thread order, so a
 * fixed thread count gives the same bits every run. */
static void bias_bwd_rows(cpu_state *ctx, float *dbias, lpk_bf16 *y16, const float *dy, const float *gelu_x,
                          float *dy_rw, int N, int C) {
    const int nt = NTW(ctx, (size_t)N * C);
    const size_t per = (size_t)C;
    float *acc = cpu_scratch(ctx, per, nt);
    if (!acc) { /* no scratch: separate passes need none (GELU's in place) */
        if (gelu_x) {
            cpu_gelu_bwd(ctx, dy_rw, dy, gelu_x, (size_t)N * C);
            dy = dy_rw;
        }
        cpu_f32_to_bf16(ctx, dy, y16, (size_t)N * C);
        cpu_bias_bwd(ctx, dbias, dy, N, C);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        float *a = acc + (size_t)t * cpu_scratch_stride(per);
        int lo = (int)((long)N * t / n), hi = (int)((long)N * (t + 1) / n);
        for (int j = 0; j < C; j++) a[j] = 0.0f;
        for (int i = lo; i < hi; i++) {
            const float *r = dy + (size_t)i * C;
            lpk_bf16 *o = y16 + (size_t)i * C;
            if (gelu_x) {
                const float *xr = gelu_x + (size_t)i * C;
#pragma omp simd
                for (int j = 0; j < C; j++) {
                    float g = r[j] * gelu_grad(xr[j]);
                    a[j] += g;
                    o[j] = lpk_to_bf16(g);
                }
            } else {
#pragma omp simd
                for (int j = 0; j < C; j++) {
                    a[j] += r[j];
                    o[j] = lpk_to_bf16(r[j]);
                }
            }
        }
#pragma omp barrier
#pragma omp for schedule(static)
        for (int j = 0; j < C; j++) {
            float s = 0.0f;
            for (int k = 0; k < n; k++) s += acc[(size_t)k * cpu_scratch_stride(per) + j];
            dbias[j] += s;
        }
    }
}

int cpu_bias_bwd_bf16(cpu_state *ctx, float *dbias, lpk_bf16 *y16, const float *dy, int N, int C) {
    bias_bwd_rows(ctx, dbias, y16, dy, NULL, NULL, N, C);
    return 0;
}

int cpu_gelu_bias_bwd_bf16(cpu_state *ctx, float *dbias, lpk_bf16 *y16, float *dy, const float *x, int N,
                           int C) {
    bias_bwd_rows(ctx, dbias, y16, dy, x, dy, N, C);
    return 0;
}

int cpu_gelu_fwd(cpu_state *ctx, float *y, lpk_bf16 *y16, const float *x, size_t n) {
    if (y16) {
#pragma omp parallel for simd num_threads(NTW(ctx, n)) schedule(static)
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            float t = lpk_tanhf(GELU_K * (v + 0.044715f * v * v * v));
            float r = 0.5f * v * (1.0f + t);
            y[i] = r;
            y16[i] = lpk_to_bf16(r);
        }
        return 0;
    }
#pragma omp parallel for simd num_threads(NTW(ctx, n)) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float t = lpk_tanhf(GELU_K * (v + 0.044715f * v * v * v));
        y[i] = 0.5f * v * (1.0f + t);
    }
    return 0;
}

int cpu_gelu_bwd(cpu_state *ctx, float *dx, const float *dy, const float *x, size_t n) {
#pragma omp parallel for simd num_threads(NTW(ctx, n)) schedule(static)
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * gelu_grad(x[i]);
    return 0;
}

/* Same operation order as torch.optim.AdamW (decay first, then the Adam
 * step with denom = sqrt(v)/sqrt(bc2) + eps), so trajectories agree to
 * rounding. */
/* One element; decay first, then the Adam step. */
static inline float adamw_elem(float p, float g, float *m, float *v, float beta1, float beta2, float decay,
                               float step, float sbc2, float eps) {
    float mi = beta1 * *m + (1.0f - beta1) * g;
    float vi = beta2 * *v + (1.0f - beta2) * g * g;
    *m = mi;
    *v = vi;
    return p * decay - step * (mi / (sqrtf(vi) / sbc2 + eps));
}

/* AdamW over a [rows, cols] matrix that also leaves its bf16 transpose:
 * blocks of 16 rows are updated and then, still in cache, transposed into
 * p16t. The tied LM head is the one user: its GEMMs read wte as [C, V],
 * which a separate pass over the 38.6M-element 124M-model wte rebuilt
 * after every step (7.5 ms). Elements are updated exactly as cpu_adamw. */
int cpu_adamw_t16(cpu_state *ctx, float *p, const float *g, float *m, float *v, int rows, int cols, float lr,
                  float beta1, float beta2, float eps, float wd, float bc1, float bc2, float gscale,
                  lpk_bf16 *p16t, int ldt) {
    const float decay = 1.0f - lr * wd;
    const float step = lr / bc1;
    const float sbc2 = sqrtf(bc2);
    const int nb = (rows + 15) / 16;
#pragma omp parallel for num_threads(NTW(ctx, (size_t)rows *cols)) schedule(static)
    for (int b = 0; b < nb; b++) {
        int i0 = b * 16, ni = rows - i0 < 16 ? rows - i0 : 16;
        size_t lo = (size_t)i0 * cols, hi = lo + (size_t)ni * cols;
#pragma omp simd
        for (size_t i = lo; i < hi; i++)
            p[i] = adamw_elem(p[i], g[i] * gscale, &m[i], &v[i], beta1, beta2, decay, step, sbc2, eps);
        cpu_transpose_bf16_rows(p16t, ldt, p, cols, i0, ni, cols);
    }
    return 0;
}

int cpu_adamw(cpu_state *ctx, float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
              float beta2, float eps, float wd, float bc1, float bc2, float gscale, lpk_bf16 *p16) {
    const float decay = 1.0f - lr * wd;
    const float step = lr / bc1;
    const float sbc2 = sqrtf(bc2);
    /* two loops rather than a test per element, so both vectorise */
    if (p16) {
#pragma omp parallel for simd num_threads(NTW(ctx, n)) schedule(static)
        for (size_t i = 0; i < n; i++) {
            p[i] = adamw_elem(p[i], g[i] * gscale, &m[i], &v[i], beta1, beta2, decay, step, sbc2, eps);
            p16[i] = lpk_to_bf16(p[i]);
        }
        return 0;
    }
#pragma omp parallel for simd num_threads(NTW(ctx, n)) schedule(static)
    for (size_t i = 0; i < n; i++)
        p[i] = adamw_elem(p[i], g[i] * gscale, &m[i], &v[i], beta1, beta2, decay, step, sbc2, eps);
    return 0;
}
