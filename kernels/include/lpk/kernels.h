/* lpk: the llmpipe kernel library.
 *
 * One C API over interchangeable backends, each a shared library loaded at
 * run time (the CPU builds now; CUDA later) that fills the lpk_backend
 * table of lpk/backend.h. Every call
 * takes an lpk_ctx that owns the backend, the thread count and the precision;
 * there is no other state. All shapes are explicit; tensors are row-major and
 * contiguous unless a leading dimension is passed. Kernels know nothing of
 * models: a "row" is just one of N vectors of width C.
 *
 * Errors: every kernel call returns int, 0 on success and a negative value on
 * failure (bad arguments, out of memory, a device error), the one-line
 * message then in lpk_ctx_error(). The calls that return a value (lpk_sumsq,
 * lpk_xent, lpk_xent_bf16) return NaN on failure; they clear the context's
 * error on entry, so NaN with lpk_ctx_error(ctx)[0] != 0 is a failure and
 * NaN with an empty message a genuine NaN. lpk_alloc returns NULL. */
#ifndef LPK_KERNELS_H
#define LPK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LPK_API_VERSION 2
/* Entries appended to the backend table since version 2.0 (lpk/backend.h):
 * 1 = the segment attention (lpk_attn_fwd_seg / lpk_attn_bwd_seg),
 * 2 = with a shared prefix (lpk_attn_fwd_prefix / lpk_attn_bwd_prefix). */
#define LPK_API_MINOR 2

typedef enum { LPK_F32 = 0, LPK_BF16 = 1 } lpk_dtype;

/* fp32: everything fp32. bf16: GEMM inputs in bf16 with fp32 accumulation and
 * fp32 outputs; weights, softmax, losses and optimizer state stay fp32. */
typedef enum { LPK_PREC_FP32 = 0, LPK_PREC_BF16 = 1 } lpk_precision;

typedef enum { LPK_NOTRANS = 0, LPK_TRANS = 1 } lpk_trans;

typedef uint16_t lpk_bf16;

typedef struct lpk_ctx lpk_ctx;

/* Which library runs fp32 GEMMs on the CPU backend. */
typedef enum {
    LPK_GEMM_AUTO = 0, /* oneDNN (shares the OpenMP threads) */
    LPK_GEMM_ONEDNN = 1,
    LPK_GEMM_OPENBLAS = 2, /* cblas_sgemm */
} lpk_fp32_gemm;

/* Backends are shared libraries loaded at run time (docs/kernels.md,
 * "Backends"). Names: "cpu" (or NULL): the best CPU build this machine runs,
 * unless the environment variable LLMPIPE_CPU_BACKEND names one;
 * "cpu:x86-64-v2", "cpu:avx2", "cpu:avx512": that build; "cuda":
 * liblpk_cuda.so. Libraries are searched in LLMPIPE_KERNEL_PATH (a colon
 * list), then beside the executable and the object holding this library
 * and their ../kernels and ../../kernels, then in Bazel runfiles. */
typedef struct lpk_ctx_opts {
    const char *backend; /* see above; NULL = "cpu" */
    int num_threads;     /* <= 0: OMP_NUM_THREADS, else all cores */
    lpk_precision precision;
    lpk_fp32_gemm fp32_gemm;
} lpk_ctx_opts;

/* Returns NULL and writes a one-line reason into err on failure. */
lpk_ctx *lpk_ctx_create(const lpk_ctx_opts *opts, char *err, size_t errlen);
/* 1 when a context with this backend name can be created here (library
 * found, loadable and supported by this machine); else 0 and the one-line
 * reason lpk_ctx_create would give in err. For checks before anything runs. */
int lpk_backend_available(const char *name, char *err, size_t errlen);
void lpk_ctx_destroy(lpk_ctx *ctx);
int lpk_ctx_threads(const lpk_ctx *ctx);
lpk_precision lpk_ctx_precision(const lpk_ctx *ctx);
lpk_fp32_gemm lpk_ctx_fp32_gemm(const lpk_ctx *ctx);
/* The backend chosen, e.g. "cpu:avx2". */
const char *lpk_ctx_backend_name(const lpk_ctx *ctx);
/* Whether the backend's bf16 products all run on native hardware (on the
 * CPU: the avx512 build on an AVX512-BF16 machine). Elsewhere bf16
 * precision gives the same roundings with fp32 products. */
int lpk_ctx_has_native_bf16(const lpk_ctx *ctx);
const char *lpk_ctx_error(const lpk_ctx *ctx);
void lpk_ctx_clear_error(lpk_ctx *ctx);

/* Per-kernel wall-clock accounting (off by default; used by benchmarks). */
void lpk_profile_enable(lpk_ctx *ctx, int on);
void lpk_profile_reset(lpk_ctx *ctx);
/* Fills up to n entries; returns the number of kernels with recorded time. */
int lpk_profile_get(const lpk_ctx *ctx, const char **names, double *seconds, long *calls, int n);

/* Memory in the backend's address space (host memory for the CPU). */
void *lpk_alloc(lpk_ctx *ctx, size_t bytes);
int lpk_free(lpk_ctx *ctx, void *p);

/* ---- the host/device boundary ------------------------------------------
 * Code above the kernels never dereferences memory from lpk_alloc: it moves
 * bytes in and out with these calls (plain memcpy/memset on the CPU, so a
 * device backend needs no change above it). Copies may be asynchronous on a
 * device: lpk_sync waits until every earlier call on ctx has finished, and
 * lpk_copy_out returns only once the host buffer holds the data. */
int lpk_copy_in(lpk_ctx *ctx, void *dst_dev, const void *src_host, size_t bytes);
int lpk_copy_out(lpk_ctx *ctx, void *dst_host, const void *src_dev, size_t bytes);
int lpk_copy(lpk_ctx *ctx, void *dst_dev, const void *src_dev, size_t bytes);
/* Sets bytes of device memory to the byte value (0 for zeroing). */
int lpk_memset(lpk_ctx *ctx, void *dst_dev, int value, size_t bytes);
int lpk_sync(lpk_ctx *ctx);

/* ---- GEMM ------------------------------------------------------------
 * C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C. A and B have dtype dt
 * (both fp32 or both bf16); C is always fp32. */
int lpk_gemm(lpk_ctx *ctx, lpk_trans ta, lpk_trans tb, int M, int N, int K, float alpha, lpk_dtype dt,
             const void *A, int lda, const void *B, int ldb, float beta, float *C, int ldc);

/* The same plus bias[N] added to every row of the product (fused into the
 * GEMM's epilogue): C = A.B + bias + beta*C. alpha must be 1. */
int lpk_gemm_bias(lpk_ctx *ctx, lpk_trans ta, lpk_trans tb, int M, int N, int K, lpk_dtype dt, const void *A,
                  int lda, const void *B, int ldb, const float *bias, float beta, float *C, int ldc);

/* Round-to-nearest-even conversion. */
int lpk_f32_to_bf16(lpk_ctx *ctx, const float *x, lpk_bf16 *y, size_t n);

/* ---- elementwise / reductions -------------------------------------- */
int lpk_fill(lpk_ctx *ctx, float *x, float v, size_t n);
int lpk_scale(lpk_ctx *ctx, float *x, float s, size_t n);
/* y = a + b (y may alias a or b) */
int lpk_add(lpk_ctx *ctx, float *y, const float *a, const float *b, size_t n);
/* Sum of squares in double; the summation order depends only on n, so the
 * result is bitwise reproducible whatever the thread count. */
double lpk_sumsq(lpk_ctx *ctx, const float *x, size_t n);

/* dst[j, i] += src[i, j] for i < rows, j < cols (leading dimensions ldd,
 * lds): accumulates a GEMM result computed in transposed orientation, which
 * oneDNN runs faster for the tied LM head's weight gradient at large batch. */
int lpk_transpose_add(lpk_ctx *ctx, float *dst, int ldd, const float *src, int lds, int rows, int cols);
/* dst[j, i] = src[i, j]: the same overwriting dst (first gradient of a
 * backward, which then need not be zeroed beforehand). */
int lpk_transpose_copy(lpk_ctx *ctx, float *dst, int ldd, const float *src, int lds, int rows, int cols);
/* dst[j, i] = bf16(src[i, j]): a transposed bf16 copy of a weight, so a
 * product with it runs in the orientation the GEMM library handles best. */
int lpk_transpose_bf16(lpk_ctx *ctx, lpk_bf16 *dst, int ldd, const float *src, int lds, int rows, int cols);

/* dbias[C] += sum over rows of dy[N,C] */
int lpk_bias_bwd(lpk_ctx *ctx, float *dbias, const float *dy, int N, int C);
/* The same and y16 = bf16(dy) in one pass over dy (backward of a bf16
 * linear layer, whose GEMMs read the rounded copy). */
int lpk_bias_bwd_bf16(lpk_ctx *ctx, float *dbias, lpk_bf16 *y16, const float *dy, int N, int C);
/* The same for the layer before a GELU: with g = dy * gelu'(x) (x the
 * GELU input), dbias += column sums of g and y16 = bf16(g); no fp32 g is
 * kept. dy may be used as scratch (its contents are then g). */
int lpk_gelu_bias_bwd_bf16(lpk_ctx *ctx, float *dbias, lpk_bf16 *y16, float *dy, const float *x, int N,
                           int C);

/* ---- embeddings ---------------------------------------------------------
 * out[n,:] = wte[tok[n],:] + wpe[pos[n],:]; pos == NULL means pos[n] = n % T.
 * Returns <0 if a token or position is out of range. */
int lpk_embed_fwd(lpk_ctx *ctx, float *out, const int32_t *tok, const int32_t *pos, int N, int T, int C,
                  const float *wte, int V, const float *wpe, int maxT);
/* dwte[tok[n]] += dout[n]; dwpe[pos[n]] += dout[n] (deterministic). */
int lpk_embed_bwd(lpk_ctx *ctx, float *dwte, float *dwpe, const float *dout, const int32_t *tok,
                  const int32_t *pos, int N, int T, int C, int V, int maxT);

/* ---- LayerNorm over the last dimension ------------------------------- */
int lpk_layernorm_fwd(lpk_ctx *ctx, float *out, float *mean, float *rstd, const float *x, const float *w,
                      const float *b, int N, int C, float eps);
/* The same, also writing the output rounded to bf16 (the next GEMM's
 * operand) in the same pass. */
int lpk_layernorm_fwd_bf16(lpk_ctx *ctx, float *out, lpk_bf16 *out16, float *mean, float *rstd,
                           const float *x, const float *w, const float *b, int N, int C, float eps);
/* dx += ..., dw += ..., db += ... */
int lpk_layernorm_bwd(lpk_ctx *ctx, float *dx, float *dw, float *db, const float *dout, const float *x,
                      const float *w, const float *mean, const float *rstd, int N, int C);

/* ---- GELU, tanh approximation ------------------------------------------ */
int lpk_gelu_fwd(lpk_ctx *ctx, float *y, const float *x, size_t n);
/* The same, also writing y rounded to bf16. */
int lpk_gelu_fwd_bf16(lpk_ctx *ctx, float *y, lpk_bf16 *y16, const float *x, size_t n);
/* dx = dy * gelu'(x) (overwrites; dx may alias dy) */
int lpk_gelu_bwd(lpk_ctx *ctx, float *dx, const float *dy, const float *x, size_t n);

/* ---- causal multi-head self-attention -----------------------------------
 * qkv[B,T,3C] holds q | k | v, head h at columns h*C/H. out[B,T,C]; lse[B,H,T]
 * keeps each row's log-sum-exp so the backward pass recomputes probabilities
 * one row at a time instead of storing B*H*T*T of them. */
int lpk_attn_fwd(lpk_ctx *ctx, float *out, float *lse, const float *qkv, int B, int T, int C, int H);
/* dqkv is overwritten. */
int lpk_attn_bwd(lpk_ctx *ctx, float *dqkv, const float *dout, const float *qkv, const float *out,
                 const float *lse, int B, int T, int C, int H);
/* The same within segments, for packed sequences: query t of row b sees
 * keys start[b*T + t] .. t only (0 <= start <= t; for a row of packed
 * examples, the index of the first token of t's example). start is device
 * memory (int32 [B*T], lpk_copy_in), read by both passes; NULL means plain
 * causal, exactly lpk_attn_fwd / lpk_attn_bwd. Work skipped is proportional
 * to the keys before the starts, so packed rows cost less than full
 * causal ones. A backend of API version 2.0 refuses a non-NULL start as
 * not implemented. */
int lpk_attn_fwd_seg(lpk_ctx *ctx, float *out, float *lse, const float *qkv, const int32_t *start, int B,
                     int T, int C, int H);
int lpk_attn_bwd_seg(lpk_ctx *ctx, float *dqkv, const float *dout, const float *qkv, const float *out,
                     const float *lse, const int32_t *start, int B, int T, int C, int H);
/* Segments after a shared prefix (packed examples behind one common
 * prompt preamble): prefix[b] (device memory, int32 [B], 0..T) is the
 * length of row b's prefix, and query t of row b sees key j <= t iff
 * j < prefix[b] or j >= start[b*T + t]: the prefix's own queries (start
 * 0) are plain causal, and every later segment sees the prefix and then
 * itself. NULL prefix is lpk_attn_fwd_seg; NULL start is plain causal. A
 * backend older than API 2.2 refuses a non-NULL prefix as not
 * implemented. */
int lpk_attn_fwd_prefix(lpk_ctx *ctx, float *out, float *lse, const float *qkv, const int32_t *start,
                        const int32_t *prefix, int B, int T, int C, int H);
int lpk_attn_bwd_prefix(lpk_ctx *ctx, float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, const int32_t *start, const int32_t *prefix, int B, int T, int C,
                        int H);
/* One new query per sequence against a KV cache laid out [B, maxT, C]:
 * q[b] (row stride ldq) attends to cache positions 0..len[b]-1. */
int lpk_attn_decode(lpk_ctx *ctx, float *out, const float *q, int ldq, const float *kcache,
                    const float *vcache, const int32_t *len, int B, int maxT, int C, int H);

/* ---- losses and heads ----------------------------------------------------
 * Softmax cross-entropy over rows of logits[N, V] (row stride ld >= V).
 * weight[n] (NULL = 1) scales token n; target < 0 means "no loss".
 * loss = sum_n weight[n] * nll[n] / norm. When dlogits != NULL it receives
 * dloss/dlogits scaled by dscale (it may alias logits). nll (optional) gets
 * each token's unweighted loss (0 for ignored tokens). Returns the loss. */
double lpk_xent(lpk_ctx *ctx, const float *logits, int ld, const int32_t *target, const float *weight, int N,
                int V, double norm, float *nll, float *dlogits, float dscale);
/* The same with the gradient rounded to bf16 into d16 (row stride ld16) and
 * the logits left unchanged: mixed precision feeds it straight to the LM
 * head's backward GEMMs, never writing an fp32 gradient. The bf16 values
 * are exactly the rounding of what lpk_xent would write. */
double lpk_xent_bf16(lpk_ctx *ctx, const float *logits, int ld, const int32_t *target, const float *weight,
                     int N, int V, double norm, float *nll, lpk_bf16 *d16, int ld16, float dscale);
/* Per-row log-probability of tok[n] and entropy of softmax(logits/temp). */
int lpk_logprob_fwd(lpk_ctx *ctx, const float *logits, int ld, const int32_t *tok, int N, int V, float temp,
                    float *logp, float *entropy);
/* dlogits (may alias logits) from upstream dlogp[n] and dentropy[n] (either
 * may be NULL). */
int lpk_logprob_bwd(lpk_ctx *ctx, float *dlogits, const float *logits, int ld, const int32_t *tok, int N,
                    int V, float temp, const float *dlogp, const float *dentropy);
/* out[n] = x[n,:] . w + b  (scalar head) */
int lpk_rowdot_fwd(lpk_ctx *ctx, float *out, const float *x, const float *w, float b, int N, int C);
/* dx[n,:] += dout[n] * w; dw += sum_n dout[n] * x[n,:]; *db += sum dout. */
int lpk_rowdot_bwd(lpk_ctx *ctx, float *dx, float *dw, float *db, const float *dout, const float *x,
                   const float *w, int N, int C);

/* ---- optimizer ------------------------------------------------------------
 * AdamW with decoupled weight decay; bc1 = 1 - beta1^t, bc2 = 1 - beta2^t.
 * grad is multiplied by gscale first (clipping / accumulation scale).
 * p16 (optional) receives the updated weights in bf16 in the same pass, so
 * mixed precision never re-reads the weights to convert them. */
int lpk_adamw(lpk_ctx *ctx, float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
              float beta2, float eps, float wd, float bc1, float bc2, float gscale, lpk_bf16 *p16);
/* The same over a [rows, cols] matrix (n = rows * cols), whose updated
 * weights go to p16t transposed instead: p16t[j * ldt + i] = bf16(p[i, j]).
 * For the tied LM head, whose GEMMs read the [C, V] transpose of wte. */
int lpk_adamw_t16(lpk_ctx *ctx, float *p, const float *g, float *m, float *v, int rows, int cols, float lr,
                  float beta1, float beta2, float eps, float wd, float bc1, float bc2, float gscale,
                  lpk_bf16 *p16t, int ldt);

#ifdef __cplusplus
}
#endif
#endif
