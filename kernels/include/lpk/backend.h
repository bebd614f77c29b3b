/* The interface between the dispatch code (kernels/src/ctx.c, linked into
 * every program and plugin) and a kernel backend, which is always a shared
 * library loaded at run time: liblpk_cpu_<build>.so, liblpk_cuda.so. It
 * exports
 *     const lpk_backend *lpk_backend_entry(void);
 * and optionally
 *     int lpk_backend_score(char *why, size_t whylen);
 * which says whether this machine can run the library: 0 = no (a one-line
 * reason in why), > 0 = yes, higher = preferred when several builds of one
 * backend are present. The score function must be safe to call on any CPU
 * the family targets (compiled at the baseline ISA).
 *
 * A backend needs no symbol from the code that loads it: the loader may be a
 * plugin whose symbols are hidden and which was itself loaded RTLD_LOCAL.
 * Everything comes through init's lpk_backend_services (settings and the
 * error callback); init returns the backend's own state, which every entry
 * then receives first. The backend defines struct lpk_backend_state.
 *
 * Both structs start with their size and a version, and are append only: a
 * new member goes at the end, and a reader checks the size before touching
 * a member past the first release's (LPK_BACKEND_HAS); LPK_API_MINOR counts
 * such additions. A change that moves or retypes a member bumps
 * LPK_API_VERSION, and the loader rejects other versions.
 * Every entry returns 0 on success and < 0 on failure, after reporting a
 * one-line message through services->error. An entry may be NULL (the
 * dispatch code then fails the call as not implemented). Each entry has the
 * signature of the public lpk_* call it implements (value results through
 * a trailing out-parameter); the dispatch code checks shapes and adds
 * profiling. */
#ifndef LPK_BACKEND_H
#define LPK_BACKEND_H

#include <lpk/kernels.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lpk_backend_state lpk_backend_state;

typedef struct lpk_backend_services {
    uint32_t size;    /* sizeof(lpk_backend_services) as compiled by the loader */
    uint32_t version; /* LPK_API_VERSION */
    /* Reports a one-line error (no newline) for the call in progress. */
    void (*error)(void *host, const char *msg);
    void *host;  /* first argument of error() */
    int threads; /* > 0 */
    lpk_precision precision;
    lpk_fp32_gemm fp32_gemm;
} lpk_backend_services;

typedef struct lpk_backend {
    uint32_t api_version; /* LPK_API_VERSION */
    uint32_t size;        /* sizeof(lpk_backend) as compiled by the backend */
    const char *name;

    /* services stays valid until fini; err gets the reason init failed */
    int (*init)(const lpk_backend_services *services, lpk_backend_state **state, char *err, size_t errlen);
    int (*fini)(lpk_backend_state *st);
    /* 1 when bf16 products run on native hardware (AVX512-BF16, AMX, GPU) */
    int (*has_native_bf16)(lpk_backend_state *st);

    void *(*alloc)(lpk_backend_state *st, size_t bytes);
    int (*free)(lpk_backend_state *st, void *p);

    int (*gemm)(lpk_backend_state *st, lpk_trans ta, lpk_trans tb, int M, int N, int K, float alpha,
                lpk_dtype dt, const void *A, int lda, const void *B, int ldb, const float *bias, float beta,
                float *C, int ldc);
    int (*f32_to_bf16)(lpk_backend_state *st, const float *x, lpk_bf16 *y, size_t n);

    int (*fill)(lpk_backend_state *st, float *x, float v, size_t n);
    int (*scale)(lpk_backend_state *st, float *x, float s, size_t n);
    int (*add)(lpk_backend_state *st, float *y, const float *a, const float *b, size_t n);
    int (*sumsq)(lpk_backend_state *st, const float *x, size_t n, double *out);
    int (*transpose_add)(lpk_backend_state *st, float *dst, int ldd, const float *src, int lds, int rows,
                         int cols);
    int (*bias_bwd)(lpk_backend_state *st, float *dbias, const float *dy, int N, int C);

    int (*embed_fwd)(lpk_backend_state *st, float *out, const int32_t *tok, const int32_t *pos, int N, int T,
                     int C, const float *wte, int V, const float *wpe, int maxT);
    int (*embed_bwd)(lpk_backend_state *st, float *dwte, float *dwpe, const float *dout, const int32_t *tok,
                     const int32_t *pos, int N, int T, int C, int V, int maxT);
    int (*layernorm_fwd)(lpk_backend_state *st, float *out, lpk_bf16 *out16, float *mean, float *rstd,
                         const float *x, const float *w, const float *b, int N, int C, float eps);
    int (*layernorm_bwd)(lpk_backend_state *st, float *dx, float *dw, float *db, const float *dout,
                         const float *x, const float *w, const float *mean, const float *rstd, int N, int C);
    int (*gelu_fwd)(lpk_backend_state *st, float *y, lpk_bf16 *y16, const float *x, size_t n);
    int (*gelu_bwd)(lpk_backend_state *st, float *dx, const float *dy, const float *x, size_t n);
    int (*attn_fwd)(lpk_backend_state *st, float *out, float *lse, const float *qkv, int B, int T, int C,
                    int H);
    int (*attn_bwd)(lpk_backend_state *st, float *dqkv, const float *dout, const float *qkv, const float *out,
                    const float *lse, int B, int T, int C, int H);
    int (*attn_decode)(lpk_backend_state *st, float *out, const float *q, int ldq, const float *kcache,
                       const float *vcache, const int32_t *len, int B, int maxT, int C, int H);
    int (*xent)(lpk_backend_state *st, const float *logits, int ld, const int32_t *target,
                const float *weight, int N, int V, double norm, float *nll, float *dlogits, float dscale,
                double *loss);
    int (*logprob_fwd)(lpk_backend_state *st, const float *logits, int ld, const int32_t *tok, int N, int V,
                       float temp, float *logp, float *entropy);
    int (*logprob_bwd)(lpk_backend_state *st, float *dlogits, const float *logits, int ld, const int32_t *tok,
                       int N, int V, float temp, const float *dlogp, const float *dentropy);
    int (*rowdot_fwd)(lpk_backend_state *st, float *out, const float *x, const float *w, float b, int N,
                      int C);
    int (*rowdot_bwd)(lpk_backend_state *st, float *dx, float *dw, float *db, const float *dout,
                      const float *x, const float *w, int N, int C);
    int (*adamw)(lpk_backend_state *st, float *p, const float *g, float *m, float *v, size_t n, float lr,
                 float beta1, float beta2, float eps, float wd, float bc1, float bc2, float gscale,
                 lpk_bf16 *p16);
    int (*xent_bf16)(lpk_backend_state *st, const float *logits, int ld, const int32_t *target,
                     const float *weight, int N, int V, double norm, float *nll, lpk_bf16 *d16, int ld16,
                     float dscale, double *loss);
    int (*transpose_bf16)(lpk_backend_state *st, lpk_bf16 *dst, int ldd, const float *src, int lds, int rows,
                          int cols);
    int (*transpose_copy)(lpk_backend_state *st, float *dst, int ldd, const float *src, int lds, int rows,
                          int cols);
    int (*bias_bwd_bf16)(lpk_backend_state *st, float *dbias, lpk_bf16 *y16, const float *dy, int N, int C);
    int (*adamw_t16)(lpk_backend_state *st, float *p, const float *g, float *m, float *v, int rows, int cols,
                     float lr, float beta1, float beta2, float eps, float wd, float bc1, float bc2,
                     float gscale, lpk_bf16 *p16t, int ldt);
    int (*gelu_bias_bwd_bf16)(lpk_backend_state *st, float *dbias, lpk_bf16 *y16, float *dy, const float *x,
                              int N, int C);
    /* the host/device boundary (lpk_copy_in ... lpk_sync) */
    int (*copy_in)(lpk_backend_state *st, void *dst, const void *src, size_t bytes);
    int (*copy_out)(lpk_backend_state *st, void *dst, const void *src, size_t bytes);
    int (*copy)(lpk_backend_state *st, void *dst, const void *src, size_t bytes);
    int (*memset)(lpk_backend_state *st, void *dst, int value, size_t bytes);
    int (*sync)(lpk_backend_state *st);
    /* API version 2 ends here; new entries go below this line */

    /* 2.1: causal attention within segments (lpk_attn_fwd_seg); start is
     * never NULL here (the dispatch code sends NULL to attn_fwd/attn_bwd) */
    int (*attn_fwd_seg)(lpk_backend_state *st, float *out, float *lse, const float *qkv, const int32_t *start,
                        int B, int T, int C, int H);
    int (*attn_bwd_seg)(lpk_backend_state *st, float *dqkv, const float *dout, const float *qkv,
                        const float *out, const float *lse, const int32_t *start, int B, int T, int C, int H);
    /* 2.2: the same with a shared prefix per row (lpk_attn_fwd_prefix);
     * start and prefix are never NULL here (the dispatch code sends NULL
     * prefix to attn_fwd_seg). Appended rather than changing the 2.1
     * entries, so 2.1 tables (and test backends) stay valid. */
    int (*attn_fwd_prefix)(lpk_backend_state *st, float *out, float *lse, const float *qkv,
                           const int32_t *start, const int32_t *prefix, int B, int T, int C, int H);
    int (*attn_bwd_prefix)(lpk_backend_state *st, float *dqkv, const float *dout, const float *qkv,
                           const float *out, const float *lse, const int32_t *start, const int32_t *prefix,
                           int B, int T, int C, int H);
} lpk_backend;

/* The size of a table of API version 2.0, the smallest the loader takes: a
 * library built against the 2.0 header has no members past sync. */
#define LPK_BACKEND_MIN_SIZE offsetof(lpk_backend, attn_fwd_seg)
/* Whether table be has a non-NULL entry `member`: never reads a member
 * past the size the backend was compiled with. */
#define LPK_BACKEND_HAS(be, member) \
    ((be)->size >= offsetof(lpk_backend, member) + sizeof(((lpk_backend *)0)->member) && (be)->member)

/* What a backend library exports (see the top of this file). */
const lpk_backend *lpk_backend_entry(void);
int lpk_backend_score(char *why, size_t whylen);

#ifdef __cplusplus
}
#endif
#endif
