/* Context and dispatch: every public lpk_* call goes through the backend
 * table here, which is also where optional per-kernel timing lives (so each
 * backend gets profiling for free). */
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lpk/backend.h>

#include "loader.h"

enum {
    P_GEMM,
    P_CVT,
    P_ELEM,
    P_BIAS,
    P_EMBED,
    P_LN,
    P_GELU,
    P_ATTN,
    P_XENT,
    P_LOGPROB,
    P_ROWDOT,
    P_ADAMW,
    P_COUNT
};
static const char *const prof_names[P_COUNT] = {"gemm",         "bf16_convert", "elementwise", "bias",
                                                "embedding",    "layernorm",    "gelu",        "attention",
                                                "softmax_xent", "logprob",      "scalar_head", "adamw"};

struct lpk_ctx {
    const lpk_backend *be;
    lpk_backend_state *state;
    lpk_backend_services sv; /* what the backend got at init */
    int threads;
    lpk_precision prec;
    lpk_fp32_gemm fp32_gemm;
    int profiling;
    double prof_s[P_COUNT];
    long prof_n[P_COUNT];
    char err[256];
};

static void set_error(lpk_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define PROF_BEGIN(ctx) double t0_ = (ctx)->profiling ? now_s() : 0.0
#define PROF_END(ctx, k)                       \
    do {                                       \
        if ((ctx)->profiling) {                \
            (ctx)->prof_s[k] += now_s() - t0_; \
            (ctx)->prof_n[k]++;                \
        }                                      \
    } while (0)

/* The argument every backend entry receives first. */
#define BE_ARG(c) ((c)->state)

static int unsupported(lpk_ctx *c, const char *what) {
    set_error(c, "%s: not implemented by kernel backend '%s'", what, c->be->name);
    return -1;
}

/* Calls entry fn of the backend with profiling under kernel class k and
 * returns its status; a backend may leave an entry NULL (not implemented). */
#define DISPATCH(c, k, fn, ...)                       \
    do {                                              \
        if (!(c)->be->fn) return unsupported(c, #fn); \
        PROF_BEGIN(c);                                \
        int r_ = (c)->be->fn(BE_ARG(c), __VA_ARGS__); \
        PROF_END(c, k);                               \
        return r_;                                    \
    } while (0)

/* The value-returning calls: NaN on failure, with the error set (cleared on
 * entry, so an error message after a NaN is this call's). */
#define DISPATCH_VALUE(c, k, fn, ...)                      \
    do {                                                   \
        (c)->err[0] = 0;                                   \
        double v_ = NAN;                                   \
        if (!(c)->be->fn) {                                \
            unsupported(c, #fn);                           \
            return NAN;                                    \
        }                                                  \
        PROF_BEGIN(c);                                     \
        int r_ = (c)->be->fn(BE_ARG(c), __VA_ARGS__, &v_); \
        PROF_END(c, k);                                    \
        return r_ == 0 ? v_ : NAN;                         \
    } while (0)

/* The services' error callback: the message of the call in progress. */
static void backend_error(void *host, const char *msg) {
    lpk_ctx *c = host;
    snprintf(c->err, sizeof c->err, "%s", msg);
}

lpk_ctx *lpk_ctx_create(const lpk_ctx_opts *opts, char *err, size_t errlen) {
    lpk_ctx_opts o = {0};
    if (opts) o = *opts;
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (o.precision != LPK_PREC_FP32 && o.precision != LPK_PREC_BF16) {
        snprintf(err, errlen, "kernel context: precision %d is not fp32 (0) or bf16 (1)", (int)o.precision);
        return NULL;
    }
    lpk_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "kernel context: out of memory");
        return NULL;
    }
    c->prec = o.precision;
    c->fp32_gemm = o.fp32_gemm;
    c->threads = o.num_threads;
    if (c->threads <= 0) {
        const char *e = getenv("OMP_NUM_THREADS");
        c->threads = e ? atoi(e) : 0;
        cpu_set_t set;
        if (c->threads <= 0 && sched_getaffinity(0, sizeof set, &set) == 0) c->threads = CPU_COUNT(&set);
        if (c->threads <= 0) c->threads = 1;
    }
    c->be = lpk_load_backend(o.backend, err, errlen);
    if (!c->be) {
        free(c);
        return NULL;
    }
    c->sv = (lpk_backend_services){.size = sizeof c->sv,
                                   .version = LPK_API_VERSION,
                                   .error = backend_error,
                                   .host = c,
                                   .threads = c->threads,
                                   .precision = c->prec,
                                   .fp32_gemm = c->fp32_gemm};
    if (!c->be->init || c->be->init(&c->sv, &c->state, err, errlen) != 0) {
        if (!c->be->init) snprintf(err, errlen, "kernel backend %s: no init", c->be->name);
        free(c);
        return NULL;
    }
    return c;
}

void lpk_ctx_destroy(lpk_ctx *c) {
    if (!c) return;
    if (c->be->fini) c->be->fini(c->state);
    free(c);
}

int lpk_ctx_threads(const lpk_ctx *c) { return c->threads; }
lpk_precision lpk_ctx_precision(const lpk_ctx *c) { return c->prec; }
lpk_fp32_gemm lpk_ctx_fp32_gemm(const lpk_ctx *c) { return c->fp32_gemm; }
const char *lpk_ctx_backend_name(const lpk_ctx *c) { return c->be->name; }
int lpk_ctx_has_native_bf16(const lpk_ctx *c) {
    return c->be->has_native_bf16 ? c->be->has_native_bf16(c->state) : 0;
}
const char *lpk_ctx_error(const lpk_ctx *c) { return c->err; }
void lpk_ctx_clear_error(lpk_ctx *c) { c->err[0] = 0; }
static void set_error(lpk_ctx *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

void lpk_profile_enable(lpk_ctx *c, int on) { c->profiling = on; }
void lpk_profile_reset(lpk_ctx *c) {
    memset(c->prof_s, 0, sizeof c->prof_s);
    memset(c->prof_n, 0, sizeof c->prof_n);
}
int lpk_profile_get(const lpk_ctx *c, const char **names, double *seconds, long *calls, int n) {
    int k = 0;
    for (int i = 0; i < P_COUNT; i++) {
        if (!c->prof_n[i]) continue;
        if (k < n) {
            if (names) names[k] = prof_names[i];
            if (seconds) seconds[k] = c->prof_s[i];
            if (calls) calls[k] = c->prof_n[i];
        }
        k++;
    }
    return k;
}

void *lpk_alloc(lpk_ctx *c, size_t bytes) {
    void *p = c->be->alloc(BE_ARG(c), bytes);
    if (!p) set_error(c, "alloc: out of memory for %zu bytes", bytes);
    return p;
}
int lpk_free(lpk_ctx *c, void *p) { return p ? c->be->free(BE_ARG(c), p) : 0; }

typedef int (*copy_fn)(lpk_backend_state *, void *, const void *, size_t);
static int checked_copy(lpk_ctx *c, const char *what, copy_fn fn, void *dst, const void *src, size_t bytes) {
    if (!bytes) return 0;
    if (!dst || !src) {
        set_error(c, "%s: NULL buffer", what);
        return -1;
    }
    return fn(BE_ARG(c), dst, src, bytes);
}
int lpk_copy_in(lpk_ctx *c, void *dst, const void *src, size_t bytes) {
    return checked_copy(c, "copy_in", c->be->copy_in, dst, src, bytes);
}
int lpk_copy_out(lpk_ctx *c, void *dst, const void *src, size_t bytes) {
    return checked_copy(c, "copy_out", c->be->copy_out, dst, src, bytes);
}
int lpk_copy(lpk_ctx *c, void *dst, const void *src, size_t bytes) {
    return checked_copy(c, "copy", c->be->copy, dst, src, bytes);
}
int lpk_memset(lpk_ctx *c, void *dst, int value, size_t bytes) {
    if (!bytes) return 0;
    if (!dst) {
        set_error(c, "memset: NULL buffer");
        return -1;
    }
    return c->be->memset(BE_ARG(c), dst, value, bytes);
}
int lpk_sync(lpk_ctx *c) { return c->be->sync ? c->be->sync(BE_ARG(c)) : 0; }

static int gemm_any(lpk_ctx *c, lpk_trans ta, lpk_trans tb, int M, int N, int K, float alpha, lpk_dtype dt,
                    const void *A, int lda, const void *B, int ldb, const float *bias, float beta, float *C,
                    int ldc) {
    if (M < 0 || N < 0 || K < 0 || ldc < N || lda < (ta ? M : K) || ldb < (tb ? K : N) ||
        (dt != LPK_F32 && dt != LPK_BF16)) {
        set_error(c, "gemm: bad shape M=%d N=%d K=%d lda=%d ldb=%d ldc=%d", M, N, K, lda, ldb, ldc);
        return -1;
    }
    if (M == 0 || N == 0) return 0;
    DISPATCH(c, P_GEMM, gemm, ta, tb, M, N, K, alpha, dt, A, lda, B, ldb, bias, beta, C, ldc);
}

int lpk_gemm(lpk_ctx *c, lpk_trans ta, lpk_trans tb, int M, int N, int K, float alpha, lpk_dtype dt,
             const void *A, int lda, const void *B, int ldb, float beta, float *C, int ldc) {
    return gemm_any(c, ta, tb, M, N, K, alpha, dt, A, lda, B, ldb, NULL, beta, C, ldc);
}

int lpk_gemm_bias(lpk_ctx *c, lpk_trans ta, lpk_trans tb, int M, int N, int K, lpk_dtype dt, const void *A,
                  int lda, const void *B, int ldb, const float *bias, float beta, float *C, int ldc) {
    return gemm_any(c, ta, tb, M, N, K, 1.0f, dt, A, lda, B, ldb, bias, beta, C, ldc);
}

int lpk_f32_to_bf16(lpk_ctx *c, const float *x, lpk_bf16 *y, size_t n) {
    DISPATCH(c, P_CVT, f32_to_bf16, x, y, n);
}
int lpk_fill(lpk_ctx *c, float *x, float v, size_t n) { DISPATCH(c, P_ELEM, fill, x, v, n); }
int lpk_scale(lpk_ctx *c, float *x, float s, size_t n) { DISPATCH(c, P_ELEM, scale, x, s, n); }
int lpk_add(lpk_ctx *c, float *y, const float *a, const float *b, size_t n) {
    DISPATCH(c, P_ELEM, add, y, a, b, n);
}
double lpk_sumsq(lpk_ctx *c, const float *x, size_t n) { DISPATCH_VALUE(c, P_ELEM, sumsq, x, n); }
int lpk_transpose_add(lpk_ctx *c, float *dst, int ldd, const float *src, int lds, int rows, int cols) {
    DISPATCH(c, P_ELEM, transpose_add, dst, ldd, src, lds, rows, cols);
}
int lpk_transpose_copy(lpk_ctx *c, float *dst, int ldd, const float *src, int lds, int rows, int cols) {
    DISPATCH(c, P_ELEM, transpose_copy, dst, ldd, src, lds, rows, cols);
}
int lpk_transpose_bf16(lpk_ctx *c, lpk_bf16 *dst, int ldd, const float *src, int lds, int rows, int cols) {
    DISPATCH(c, P_CVT, transpose_bf16, dst, ldd, src, lds, rows, cols);
}
int lpk_bias_bwd(lpk_ctx *c, float *dbias, const float *dy, int N, int C) {
    DISPATCH(c, P_BIAS, bias_bwd, dbias, dy, N, C);
}
int lpk_bias_bwd_bf16(lpk_ctx *c, float *dbias, lpk_bf16 *y16, const float *dy, int N, int C) {
    DISPATCH(c, P_BIAS, bias_bwd_bf16, dbias, y16, dy, N, C);
}
int lpk_gelu_bias_bwd_bf16(lpk_ctx *c, float *dbias, lpk_bf16 *y16, float *dy, const float *x, int N, int C) {
    DISPATCH(c, P_GELU, gelu_bias_bwd_bf16, dbias, y16, dy, x, N, C);
}
int lpk_embed_fwd(lpk_ctx *c, float *out, const int32_t *tok, const int32_t *pos, int N, int T, int C,
                  const float *wte, int V, const float *wpe, int maxT) {
    DISPATCH(c, P_EMBED, embed_fwd, out, tok, pos, N, T, C, wte, V, wpe, maxT);
}
int lpk_embed_bwd(lpk_ctx *c, float *dwte, float *dwpe, const float *dout, const int32_t *tok,
                  const int32_t *pos, int N, int T, int C, int V, int maxT) {
    DISPATCH(c, P_EMBED, embed_bwd, dwte, dwpe, dout, tok, pos, N, T, C, V, maxT);
}
int lpk_layernorm_fwd(lpk_ctx *c, float *out, float *mean, float *rstd, const float *x, const float *w,
                      const float *b, int N, int C, float eps) {
    DISPATCH(c, P_LN, layernorm_fwd, out, NULL, mean, rstd, x, w, b, N, C, eps);
}
int lpk_layernorm_fwd_bf16(lpk_ctx *c, float *out, lpk_bf16 *out16, float *mean, float *rstd, const float *x,
                           const float *w, const float *b, int N, int C, float eps) {
    DISPATCH(c, P_LN, layernorm_fwd, out, out16, mean, rstd, x, w, b, N, C, eps);
}
int lpk_layernorm_bwd(lpk_ctx *c, float *dx, float *dw, float *db, const float *dout, const float *x,
                      const float *w, const float *mean, const float *rstd, int N, int C) {
    DISPATCH(c, P_LN, layernorm_bwd, dx, dw, db, dout, x, w, mean, rstd, N, C);
}
int lpk_gelu_fwd(lpk_ctx *c, float *y, const float *x, size_t n) {
    DISPATCH(c, P_GELU, gelu_fwd, y, NULL, x, n);
}
int lpk_gelu_fwd_bf16(lpk_ctx *c, float *y, lpk_bf16 *y16, const float *x, size_t n) {
    DISPATCH(c, P_GELU, gelu_fwd, y, y16, x, n);
}
int lpk_gelu_bwd(lpk_ctx *c, float *dx, const float *dy, const float *x, size_t n) {
    DISPATCH(c, P_GELU, gelu_bwd, dx, dy, x, n);
}
static int attn_shape_ok(lpk_ctx *c, const char *what, int B, int T, int C, int H) {
    if (B <= 0 || T <= 0 || C <= 0 || H <= 0 || C % H) {
        set_error(c, "%s: bad shape B=%d T=%d C=%d H=%d (C must be a multiple of H)", what, B, T, C, H);
        return 0;
    }
    return 1;
}
int lpk_attn_fwd(lpk_ctx *c, float *out, float *lse, const float *qkv, int B, int T, int C, int H) {
    if (!attn_shape_ok(c, "attention", B, T, C, H)) return -1;
    DISPATCH(c, P_ATTN, attn_fwd, out, lse, qkv, B, T, C, H);
}
int lpk_attn_bwd(lpk_ctx *c, float *dqkv, const float *dout, const float *qkv, const float *out,
                 const float *lse, int B, int T, int C, int H) {
    if (!attn_shape_ok(c, "attention backward", B, T, C, H)) return -1;
    DISPATCH(c, P_ATTN, attn_bwd, dqkv, dout, qkv, out, lse, B, T, C, H);
}
/* Segment attention: NULL start is the plain entry, any backend; a table
 * of version 2.0 (too small to hold the entry) reads as not implemented. */
int lpk_attn_fwd_seg(lpk_ctx *c, float *out, float *lse, const float *qkv, const int32_t *start, int B, int T,
                     int C, int H) {
    if (!start) return lpk_attn_fwd(c, out, lse, qkv, B, T, C, H);
    if (!attn_shape_ok(c, "attention", B, T, C, H)) return -1;
    if (!LPK_BACKEND_HAS(c->be, attn_fwd_seg)) return unsupported(c, "attn_fwd_seg");
    DISPATCH(c, P_ATTN, attn_fwd_seg, out, lse, qkv, start, B, T, C, H);
}
int lpk_attn_bwd_seg(lpk_ctx *c, float *dqkv, const float *dout, const float *qkv, const float *out,
                     const float *lse, const int32_t *start, int B, int T, int C, int H) {
    if (!start) return lpk_attn_bwd(c, dqkv, dout, qkv, out, lse, B, T, C, H);
    if (!attn_shape_ok(c, "attention backward", B, T, C, H)) return -1;
    if (!LPK_BACKEND_HAS(c->be, attn_bwd_seg)) return unsupported(c, "attn_bwd_seg");
    DISPATCH(c, P_ATTN, attn_bwd_seg, dqkv, dout, qkv, out, lse, start, B, T, C, H);
}
int lpk_attn_fwd_prefix(lpk_ctx *c, float *out, float *lse, const float *qkv, const int32_t *start,
                        const int32_t *prefix, int B, int T, int C, int H) {
    if (!prefix || !start) return lpk_attn_fwd_seg(c, out, lse, qkv, start, B, T, C, H);
    if (!attn_shape_ok(c, "attention", B, T, C, H)) return -1;
    if (!LPK_BACKEND_HAS(c->be, attn_fwd_prefix)) return unsupported(c, "attn_fwd_prefix");
    DISPATCH(c, P_ATTN, attn_fwd_prefix, out, lse, qkv, start, prefix, B, T, C, H);
}
int lpk_attn_bwd_prefix(lpk_ctx *c, float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, const int32_t *start, const int32_t *prefix, int B, int T, int C,
                        int H) {
    if (!prefix || !start) return lpk_attn_bwd_seg(c, dqkv, dout, qkv, out, lse, start, B, T, C, H);
    if (!attn_shape_ok(c, "attention backward", B, T, C, H)) return -1;
    if (!LPK_BACKEND_HAS(c->be, attn_bwd_prefix)) return unsupported(c, "attn_bwd_prefix");
    DISPATCH(c, P_ATTN, attn_bwd_prefix, dqkv, dout, qkv, out, lse, start, prefix, B, T, C, H);
}
int lpk_attn_decode(lpk_ctx *c, float *out, const float *q, int ldq, const float *kc, const float *vc,
                    const int32_t *len, int B, int maxT, int C, int H) {
    if (!attn_shape_ok(c, "attention decode", B, maxT, C, H)) return -1;
    for (int b = 0; b < B; b++)
        if (len[b] < 1 || len[b] > maxT) {
            set_error(c, "attention decode: sequence %d has length %d, expected 1..%d", b, len[b], maxT);
            return -1;
        }
    DISPATCH(c, P_ATTN, attn_decode, out, q, ldq, kc, vc, len, B, maxT, C, H);
}
double lpk_xent(lpk_ctx *c, const float *logits, int ld, const int32_t *target, const float *weight, int N,
                int V, double norm, float *nll, float *dlogits, float dscale) {
    DISPATCH_VALUE(c, P_XENT, xent, logits, ld, target, weight, N, V, norm, nll, dlogits, dscale);
}
double lpk_xent_bf16(lpk_ctx *c, const float *logits, int ld, const int32_t *target, const float *weight,
                     int N, int V, double norm, float *nll, lpk_bf16 *d16, int ld16, float dscale) {
    DISPATCH_VALUE(c, P_XENT, xent_bf16, logits, ld, target, weight, N, V, norm, nll, d16, ld16, dscale);
}
int lpk_logprob_fwd(lpk_ctx *c, const float *logits, int ld, const int32_t *tok, int N, int V, float temp,
                    float *logp, float *entropy) {
    DISPATCH(c, P_LOGPROB, logprob_fwd, logits, ld, tok, N, V, temp, logp, entropy);
}
int lpk_logprob_bwd(lpk_ctx *c, float *dlogits, const float *logits, int ld, const int32_t *tok, int N, int V,
                    float temp, const float *dlogp, const float *dentropy) {
    DISPATCH(c, P_LOGPROB, logprob_bwd, dlogits, logits, ld, tok, N, V, temp, dlogp, dentropy);
}
int lpk_rowdot_fwd(lpk_ctx *c, float *out, const float *x, const float *w, float b, int N, int C) {
    DISPATCH(c, P_ROWDOT, rowdot_fwd, out, x, w, b, N, C);
}
int lpk_rowdot_bwd(lpk_ctx *c, float *dx, float *dw, float *db, const float *dout, const float *x,
                   const float *w, int N, int C) {
    DISPATCH(c, P_ROWDOT, rowdot_bwd, dx, dw, db, dout, x, w, N, C);
}
int lpk_adamw(lpk_ctx *c, float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
              float beta2, float eps, float wd, float bc1, float bc2, float gscale, lpk_bf16 *p16) {
    DISPATCH(c, P_ADAMW, adamw, p, g, m, v, n, lr, beta1, beta2, eps, wd, bc1, bc2, gscale, p16);
}
int lpk_adamw_t16(lpk_ctx *c, float *p, const float *g, float *m, float *v, int rows, int cols, float lr,
                  float beta1, float beta2, float eps, float wd, float bc1, float bc2, float gscale,
                  lpk_bf16 *p16t, int ldt) {
    DISPATCH(c, P_ADAMW, adamw_t16, p, g, m, v, rows, cols, lr, beta1, beta2, eps, wd, bc1, bc2, gscale, p16t,
             ldt);
}
