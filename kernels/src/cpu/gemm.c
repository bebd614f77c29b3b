/* GEMM: oneDNN matmul for bf16 inputs (fp32 accumulation and output; widened
 * to fp32 where oneDNN has no bf16 matmul, see gemm_widened) and,
 * by default, for fp32 too; OpenBLAS for fp32 on request. oneDNN runs on the
 * same OpenMP pool as the fused kernels, whereas OpenBLAS's own pthreads
 * keep spinning after each call and steal the 2 cores from the OpenMP
 * loops that follow (measured: LayerNorm 60x slower between sgemm calls). oneDNN primitives are costly to create, so each context keeps
 * a small cache keyed by everything that shapes the primitive. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "internal.h"

#define CACHE_SLOTS 64

typedef struct {
    int used;
    int dt, ta, tb, M, N, K, lda, ldb, ldc, bias;
    float alpha, beta;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t a_md, b_md, c_md, bias_md;
} gemm_slot;

struct cpu_gemm_cache {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    gemm_slot slot[CACHE_SLOTS];
    int next;    /* round-robin eviction */
    int bf16_ok; /* oneDNN makes bf16 matmuls on this CPU */
    float *wide; /* bf16 operands widened to fp32 (see gemm_widened) */
    size_t wide_cap;
};

/* oneDNN 2.6 implements bf16 matmul only with AVX512-BF16/AMX (or AVX-512
 * emulation); elsewhere primitive creation fails. One probe at init decides
 * whether bf16 products go to oneDNN or through the fp32 fallback. */
static int probe_bf16(dnnl_engine_t eng) {
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t dims = {16, 16};
    dnnl_memory_desc_init_by_tag(&a, 2, dims, dnnl_bf16, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&b, 2, dims, dnnl_bf16, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&c, 2, dims, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t desc;
    dnnl_primitive_desc_t pd = NULL;
    int ok = dnnl_matmul_desc_init(&desc, &a, &b, NULL, &c) == dnnl_success &&
             dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL) == dnnl_success;
    if (pd) dnnl_primitive_desc_destroy(pd);
    return ok;
}

int cpu_gemm_init(cpu_state *s, char *err, size_t errlen) {
    cpu_gemm_cache *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "cpu backend: out of memory");
        return -1;
    }
    if (dnnl_engine_create(&g->eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&g->stream, g->eng, dnnl_stream_default_flags) != dnnl_success) {
        snprintf(err, errlen, "cpu backend: oneDNN engine/stream creation failed");
        if (g->eng) dnnl_engine_destroy(g->eng);
        free(g);
        return -1;
    }
    g->bf16_ok = probe_bf16(g->eng);
    s->gemm = g;
    return 0;
}

int cpu_gemm_native_bf16(const cpu_state *s) { return s->gemm->bf16_ok; }

void cpu_gemm_fini(cpu_state *s) {
    cpu_gemm_cache *g = s->gemm;
    if (!g) return;
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (g->slot[i].used) dnnl_primitive_destroy(g->slot[i].prim);
    dnnl_stream_destroy(g->stream);
    dnnl_engine_destroy(g->eng);
    free(g->wide);
    free(g);
    s->gemm = NULL;
}

/* A stored [M,K] (or [K,M] when transposed): describe op(A) by strides so
 * no copy is ever made on our side. */
static void md_2d(dnnl_memory_desc_t *md, int rows, int cols, int ld, int trans, dnnl_data_type_t dt) {
    dnnl_dims_t dims = {rows, cols};
    dnnl_dims_t strides = {trans ? 1 : ld, trans ? ld : 1};
    dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides);
}

static gemm_slot *get_prim(cpu_state *ctx, cpu_gemm_cache *g, int dt, int ta, int tb, int M, int N, int K,
                           int lda, int ldb, int ldc, int bias, float alpha, float beta) {
    for (int i = 0; i < CACHE_SLOTS; i++) {
        gemm_slot *s = &g->slot[i];
        if (s->used && s->dt == dt && s->ta == ta && s->tb == tb && s->M == M && s->N == N && s->K == K &&
            s->bias == bias && s->lda == lda && s->ldb == ldb && s->ldc == ldc && s->alpha == alpha &&
            s->beta == beta)
            return s;
    }
    gemm_slot *s = &g->slot[g->next];
    g->next = (g->next + 1) % CACHE_SLOTS;
    if (s->used) {
        dnnl_primitive_destroy(s->prim);
        s->used = 0;
    }

    dnnl_data_type_t in = dt == LPK_BF16 ? dnnl_bf16 : dnnl_f32;
    md_2d(&s->a_md, M, K, lda, ta, in);
    md_2d(&s->b_md, K, N, ldb, tb, in);
    md_2d(&s->c_md, M, N, ldc, 0, dnnl_f32);
    md_2d(&s->bias_md, 1, N, N, 0, dnnl_f32);
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int ok = dnnl_matmul_desc_init(&desc, &s->a_md, &s->b_md, bias ? &s->bias_md : NULL, &s->c_md) ==
                 dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success;
    if (ok && alpha != 1.0f) ok = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha) == dnnl_success;
    if (ok && beta != 0.0f) {
        ok = dnnl_post_ops_create(&po) == dnnl_success &&
             dnnl_post_ops_append_sum(po, beta) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    }
    if (ok) ok = dnnl_primitive_desc_create(&pd, &desc, attr, g->eng, NULL) == dnnl_success;
    if (ok) ok = dnnl_primitive_create(&s->prim, pd) == dnnl_success;
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) {
        cpu_error(ctx, "gemm: oneDNN has no %s matmul for M=%d N=%d K=%d", dt == LPK_BF16 ? "bf16" : "fp32",
                  M, N, K);
        return NULL;
    }
    s->used = 1;
    s->bias = bias;
    s->dt = dt;
    s->ta = ta;
    s->tb = tb;
    s->M = M;
    s->N = N;
    s->K = K;
    s->lda = lda;
    s->ldb = ldb;
    s->ldc = ldc;
    s->alpha = alpha;
    s->beta = beta;
    return s;
}

static int gemm_dnnl(cpu_state *ctx, int dt, int ta, int tb, int M, int N, int K, float alpha, const void *A,
                     int lda, const void *B, int ldb, const float *bias, float beta, float *C, int ldc) {
    cpu_gemm_cache *g = ctx->gemm;
    if (omp_get_max_threads() != ctx->threads) omp_set_num_threads(ctx->threads);
    gemm_slot *s = get_prim(ctx, g, dt, ta, tb, M, N, K, lda, ldb, ldc, bias != NULL, alpha, beta);
    if (!s) return -1;
    dnnl_memory_t ma = NULL, mb = NULL, mc = NULL, mbias = NULL;
    int ok = dnnl_memory_create(&ma, &s->a_md, g->eng, (void *)A) == dnnl_success &&
             dnnl_memory_create(&mb, &s->b_md, g->eng, (void *)B) == dnnl_success &&
             dnnl_memory_create(&mc, &s->c_md, g->eng, C) == dnnl_success &&
             (!bias || dnnl_memory_create(&mbias, &s->bias_md, g->eng, (void *)bias) == dnnl_success);
    if (ok) {
        dnnl_exec_arg_t args[4] = {
            {DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}, {DNNL_ARG_BIAS, mbias}};
        ok = dnnl_primitive_execute(s->prim, g->stream, bias ? 4 : 3, args) == dnnl_success &&
             dnnl_stream_wait(g->stream) == dnnl_success;
    }
    if (ma) dnnl_memory_destroy(ma);
    if (mb) dnnl_memory_destroy(mb);
    if (mc) dnnl_memory_destroy(mc);
    if (mbias) dnnl_memory_destroy(mbias);
    if (!ok) {
        cpu_error(ctx, "gemm: oneDNN matmul failed for M=%d N=%d K=%d", M, N, K);
        return -1;
    }
    return 0;
}

/* oneDNN 2.6 blocks very wide products (the LM head: N = 50257 vocabulary
 * columns) less well than slices of about 7200 columns: measured bf16,
 * 2 threads, 2048 tokens, width 384: logits 200 -> 180 ms, transposed
 * weight gradient 207 -> 195 ms. Column slices of C are independent
 * products, so the split is exact. */
#define GEMM_MAX_N 8192

static int gemm_dnnl_split(cpu_state *ctx, int dt, int ta, int tb, int M, int N, int K, float alpha,
                           const void *A, int lda, const void *B, int ldb, const float *bias, float beta,
                           float *C, int ldc) {
    if (N <= GEMM_MAX_N)
        return gemm_dnnl(ctx, dt, ta, tb, M, N, K, alpha, A, lda, B, ldb, bias, beta, C, ldc);
    int parts = (N + GEMM_MAX_N - 1) / GEMM_MAX_N;
    int width = ((N + parts - 1) / parts + 63) / 64 * 64;
    size_t esz = dt == LPK_BF16 ? 2 : 4;
    for (int n0 = 0; n0 < N; n0 += width) {
        int n = N - n0 < width ? N - n0 : width;
        /* B is [K x N] (column offset) or, transposed, [N x K] (row offset). */
        const char *b = (const char *)B + esz * (size_t)n0 * (tb ? (size_t)ldb : 1);
        if (gemm_dnnl(ctx, dt, ta, tb, M, n, K, alpha, A, lda, b, ldb, bias ? bias + n0 : NULL, beta, C + n0,
                      ldc) != 0)
            return -1;
    }
    return 0;
}

static int gemm_f32(cpu_state *ctx, lpk_trans ta, lpk_trans tb, int M, int N, int K, float alpha,
                    const float *A, int lda, const float *B, int ldb, const float *bias, float beta, float *C,
                    int ldc) {
    if (ctx->fp32_gemm == LPK_GEMM_ONEDNN)
        return gemm_dnnl_split(ctx, LPK_F32, ta, tb, M, N, K, alpha, A, lda, B, ldb, bias, beta, C, ldc);
    if (bias) { /* OpenBLAS has no epilogue: start C from bias (+ beta C) */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float *c = &C[(size_t)i * ldc + j];
                *c = bias[j] + (beta == 0.0f ? 0.0f : beta * *c);
            }
        beta = 1.0f;
    }
    if (K == 0) { /* BLAS leaves C untouched only when beta == 1 */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return 0;
    }
    openblas_set_num_threads(ctx->threads);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha,
                A, lda, B, ldb, beta, C, ldc);
    return 0;
}

/* rows x cols of a bf16 matrix (stride ld) into a dense fp32 one. */
static void widen(cpu_state *ctx, float *dst, const lpk_bf16 *src, int ld, int rows, int cols) {
#pragma omp parallel for num_threads(NTW(ctx, (size_t)rows *cols)) schedule(static)
    for (int i = 0; i < rows; i++) {
        const lpk_bf16 *s = src + (size_t)i * ld;
        float *d = dst + (size_t)i * cols;
#pragma omp simd
        for (int j = 0; j < cols; j++) {
            uint32_t u = (uint32_t)s[j] << 16;
            memcpy(&d[j], &u, 4);
        }
    }
}

/* bf16 product without a bf16 GEMM: a bf16 value widens to fp32 exactly, and
 * the product of two bf16 values is exact in fp32, so the fp32 GEMM computes
 * the same sums with fp32 accumulation (only the order of additions may
 * differ from a native bf16 kernel). Column slices bound the widened copy of
 * B (the LM head's 50257 columns would need 150 MB at once). */
static int gemm_widened(cpu_state *ctx, lpk_trans ta, lpk_trans tb, int M, int N, int K, float alpha,
                        const lpk_bf16 *A, int lda, const lpk_bf16 *B, int ldb, const float *bias, float beta,
                        float *C, int ldc) {
    cpu_gemm_cache *g = ctx->gemm;
    int width = N < GEMM_MAX_N ? N : GEMM_MAX_N;
    size_t na = (size_t)M * K, need = na + (size_t)K * width;
    if (need > g->wide_cap) {
        void *p = NULL;
        if (posix_memalign(&p, 64, need * sizeof(float)) != 0) {
            cpu_error(ctx, "gemm: out of memory widening bf16 operands (%zu bytes)", need * sizeof(float));
            return -1;
        }
        free(g->wide);
        g->wide = p;
        g->wide_cap = need;
    }
    float *a = g->wide, *b = g->wide + na;
    /* dense copies keep the stored orientation; only the strides change */
    if (ta)
        widen(ctx, a, A, lda, K, M);
    else
        widen(ctx, a, A, lda, M, K);
    for (int n0 = 0; n0 < N; n0 += width) {
        int n = N - n0 < width ? N - n0 : width;
        if (tb)
            widen(ctx, b, B + (size_t)n0 * ldb, ldb, n, K);
        else
            widen(ctx, b, B + n0, ldb, K, n);
        if (gemm_f32(ctx, ta, tb, M, n, K, alpha, a, ta ? M : K, b, tb ? K : n, bias ? bias + n0 : NULL, beta,
                     C + n0, ldc) != 0)
            return -1;
    }
    return 0;
}

int cpu_gemm(cpu_state *ctx, lpk_trans ta, lpk_trans tb, int M, int N, int K, float alpha, lpk_dtype dt,
             const void *A, int lda, const void *B, int ldb, const float *bias, float beta, float *C,
             int ldc) {
    if (dt == LPK_BF16) {
        if (ctx->gemm->bf16_ok)
            return gemm_dnnl_split(ctx, dt, ta, tb, M, N, K, alpha, A, lda, B, ldb, bias, beta, C, ldc);
        return gemm_widened(ctx, ta, tb, M, N, K, alpha, A, lda, B, ldb, bias, beta, C, ldc);
    }
    return gemm_f32(ctx, ta, tb, M, N, K, alpha, A, lda, B, ldb, bias, beta, C, ldc);
}
