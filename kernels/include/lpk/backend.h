/* The table a kernel backend fills. The CPU backend is built in; another
 * backend (CUDA) is a shared library exporting
 *     const lpk_backend *lpk_backend_entry(void);
 * whose table starts with the API version and its own size, so entries can
 * only be appended. Each entry has the signature of the public lpk_* call
 * it implements; the dispatch layer (ctx.c) adds profiling and checks. */
#ifndef LPK_BACKEND_H
#define LPK_BACKEND_H

#include <lpk/kernels.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lpk_backend {
    uint32_t api_version; /* LPK_API_VERSION */
    uint32_t size;        /* sizeof(lpk_backend) as compiled by the backend */
    const char *name;

    int (*init)(lpk_ctx *ctx, void **state, char *err, size_t errlen);
    int (*fini)(lpk_ctx *ctx, void *state);
    int (*has_native_bf16)(lpk_ctx *ctx);

    void *(*alloc)(lpk_ctx *ctx, size_t bytes);
    int (*free)(lpk_ctx *ctx, void *p);

    int (*gemm)(lpk_ctx *ctx, lpk_trans ta, lpk_trans tb, int M, int N, int K,
                float alpha, lpk_dtype dt, const void *A, int lda,
                const void *B, int ldb, const float *bias, float beta,
                float *C, int ldc);
    int (*f32_to_bf16)(lpk_ctx *ctx, const float *x, lpk_bf16 *y, size_t n);

    int (*fill)(lpk_ctx *ctx, float *x, float v, size_t n);
    int (*scale)(lpk_ctx *ctx, float *x, float s, size_t n);
    int (*add)(lpk_ctx *ctx, float *y, const float *a, const float *b,
                size_t n);
    int (*sumsq)(lpk_ctx *ctx, const float *x, size_t n, double *out);
    int (*transpose_add)(lpk_ctx *ctx, float *dst, int ldd, const float *src,
                          int lds, int rows, int cols);
    int (*bias_bwd)(lpk_ctx *ctx, float *dbias, const float *dy, int N,
                     int C);

    int (*embed_fwd)(lpk_ctx *ctx, float *out, const int32_t *tok,
                     const int32_t *pos, int N, int T, int C, const float *wte,
                     int V, const float *wpe, int maxT);
    int (*embed_bwd)(lpk_ctx *ctx, float *dwte, float *dwpe,
                      const float *dout, const int32_t *tok,
                      const int32_t *pos, int N, int T, int C, int V,
                      int maxT);
    int (*layernorm_fwd)(lpk_ctx *ctx, float *out, lpk_bf16 *out16,
                          float *mean, float *rstd,
                          const float *x, const float *w, const float *b,
                          int N, int C, float eps);
    int (*layernorm_bwd)(lpk_ctx *ctx, float *dx, float *dw, float *db,
                          const float *dout, const float *x, const float *w,
                          const float *mean, const float *rstd, int N, int C);
    int (*gelu_fwd)(lpk_ctx *ctx, float *y, lpk_bf16 *y16, const float *x,
                     size_t n);
    int (*gelu_bwd)(lpk_ctx *ctx, float *dx, const float *dy, const float *x,
                     size_t n);
    int (*attn_fwd)(lpk_ctx *ctx, float *out, float *lse, const float *qkv,
                    int B, int T, int C, int H);
    int (*attn_bwd)(lpk_ctx *ctx, float *dqkv, const float *dout,
                    const float *qkv, const float *out, const float *lse,
                    int B, int T, int C, int H);
    int (*attn_decode)(lpk_ctx *ctx, float *out, const float *q, int ldq,
                       const float *kcache, const float *vcache,
                       const int32_t *len, int B, int maxT, int C, int H);
    int (*xent)(lpk_ctx *ctx, const float *logits, int ld,
                const int32_t *target, const float *weight, int N, int V,
                double norm, float *nll, float *dlogits, float dscale,
                double *loss);
    int (*logprob_fwd)(lpk_ctx *ctx, const float *logits, int ld,
                        const int32_t *tok, int N, int V, float temp,
                        float *logp, float *entropy);
    int (*logprob_bwd)(lpk_ctx *ctx, float *dlogits, const float *logits,
                        int ld, const int32_t *tok, int N, int V, float temp,
                        const float *dlogp, const float *dentropy);
    int (*rowdot_fwd)(lpk_ctx *ctx, float *out, const float *x,
                       const float *w, float b, int N, int C);
    int (*rowdot_bwd)(lpk_ctx *ctx, float *dx, float *dw, float *db,
                       const float *dout, const float *x, const float *w,
                       int N, int C);
    int (*adamw)(lpk_ctx *ctx, float *p, const float *g, float *m, float *v,
                  size_t n, float lr, float beta1, float beta2, float eps,
                  float wd, float bc1, float bc2, float gscale,
                  lpk_bf16 *p16);
    /* appended after API version 1's first release */
    int (*xent_bf16)(lpk_ctx *ctx, const float *logits, int ld,
                     const int32_t *target, const float *weight, int N,
                     int V, double norm, float *nll, lpk_bf16 *d16,
                     int ld16, float dscale, double *loss);
    int (*transpose_bf16)(lpk_ctx *ctx, lpk_bf16 *dst, int ldd,
                           const float *src, int lds, int rows, int cols);
    int (*transpose_copy)(lpk_ctx *ctx, float *dst, int ldd, const float *src,
                           int lds, int rows, int cols);
    int (*bias_bwd_bf16)(lpk_ctx *ctx, float *dbias, lpk_bf16 *y16,
                          const float *dy, int N, int C);
    int (*adamw_t16)(lpk_ctx *ctx, float *p, const float *g, float *m, float *v,
                      int rows, int cols, float lr, float beta1, float beta2,
                      float eps, float wd, float bc1, float bc2, float gscale,
                      lpk_bf16 *p16t, int ldt);
    int (*gelu_bias_bwd_bf16)(lpk_ctx *ctx, float *dbias, lpk_bf16 *y16, float *dy,
                               const float *x, int N, int C);
    /* the host/device boundary (lpk_copy_in ... lpk_sync) */
    int (*copy_in)(lpk_ctx *ctx, void *dst, const void *src, size_t bytes);
    int (*copy_out)(lpk_ctx *ctx, void *dst, const void *src, size_t bytes);
    int (*copy)(lpk_ctx *ctx, void *dst, const void *src, size_t bytes);
    int (*memset)(lpk_ctx *ctx, void *dst, int value, size_t bytes);
    int (*sync)(lpk_ctx *ctx);
} lpk_backend;

/* For backends: their private state and the context's settings. */
void *lpk_ctx_backend_state(const lpk_ctx *ctx);
void lpk_ctx_set_error(lpk_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The built-in CPU backend. */
const lpk_backend *lpk_cpu_backend(void);

#ifdef __cplusplus
}
#endif
#endif
