/* Private to the CPU backend. */
#ifndef LPK_CPU_INTERNAL_H
#define LPK_CPU_INTERNAL_H

#include <lpk/backend.h>

/* The build's name (x86-64-v2, avx2, avx512), set by kernels/BUILD. */
#ifndef LPK_CPU_BUILD
#error "LPK_CPU_BUILD must name the CPU build"
#endif

typedef struct cpu_gemm_cache cpu_gemm_cache;

/* The state every entry receives (named ctx in the kernels). */
typedef struct lpk_backend_state {
    lpk_backend_services sv; /* the loader's settings and error callback */
    int threads;
    lpk_precision precision;
    int native_bf16;
    int fp32_gemm;        /* lpk_fp32_gemm */
    cpu_gemm_cache *gemm; /* oneDNN engine, stream and primitive cache */
    float *scratch;       /* see cpu_scratch */
    size_t scratch_cap;
} cpu_state;

/* Reports an error to the loader (through the services, never by symbol). */
void cpu_error(cpu_state *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define NT(ctx) ((ctx)->threads)
/* Threads for a loop over `work` elements: small loops run on the calling
 * thread, because waking the team costs more than the loop (decode steps)
 * and, on a shared machine, a descheduled team member stalls the barrier
 * for a whole time slice. Results never depend on the thread count. */
#define LPK_PAR_MIN    ((size_t)1 << 15)
#define NTW(ctx, work) ((size_t)(work) >= LPK_PAR_MIN ? NT(ctx) : 1)

/* Scratch for kernels: `per` floats for each of `threads` threads, owned by
 * the context, grown on demand and reused by every later call (NULL when
 * out of memory). Thread t's part starts at t * cpu_scratch_stride(per).
 * Allocating per call went through mmap for buffers of 128 KiB and more, so
 * every call paid page faults and page zeroing (a fifth of the attention
 * forward's time). One kernel at a time uses it. */
float *cpu_scratch(cpu_state *ctx, size_t per, int threads);
static inline size_t cpu_scratch_stride(size_t per) { return (per + 15) & ~(size_t)15; }

int cpu_gemm_init(cpu_state *s, char *err, size_t errlen);
void cpu_gemm_fini(cpu_state *s);
/* whether oneDNN makes bf16 matmuls here (otherwise they run widened) */
int cpu_gemm_native_bf16(const cpu_state *s);

int cpu_gemm(cpu_state *ctx, lpk_trans ta, lpk_trans tb, int M, int N, int K, float alpha, lpk_dtype dt,
             const void *A, int lda, const void *B, int ldb, const float *bias, float beta, float *C,
             int ldc);

int cpu_f32_to_bf16(cpu_state *ctx, const float *x, lpk_bf16 *y, size_t n);
int cpu_fill(cpu_state *ctx, float *x, float v, size_t n);
int cpu_scale(cpu_state *ctx, float *x, float s, size_t n);
int cpu_add(cpu_state *ctx, float *y, const float *a, const float *b, size_t n);
int cpu_sumsq(cpu_state *ctx, const float *x, size_t n, double *out);
int cpu_transpose_add(cpu_state *ctx, float *dst, int ldd, const float *src, int lds, int rows, int cols);
int cpu_bias_bwd(cpu_state *ctx, float *dbias, const float *dy, int N, int C);
int cpu_gelu_fwd(cpu_state *ctx, float *y, lpk_bf16 *y16, const float *x, size_t n);
int cpu_gelu_bwd(cpu_state *ctx, float *dx, const float *dy, const float *x, size_t n);
int cpu_adamw(cpu_state *ctx, float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
              float beta2, float eps, float wd, float bc1, float bc2, float gscale, lpk_bf16 *p16);

int cpu_embed_fwd(cpu_state *ctx, float *out, const int32_t *tok, const int32_t *pos, int N, int T, int C,
                  const float *wte, int V, const float *wpe, int maxT);
int cpu_embed_bwd(cpu_state *ctx, float *dwte, float *dwpe, const float *dout, const int32_t *tok,
                  const int32_t *pos, int N, int T, int C, int V, int maxT);
static inline lpk_bf16 lpk_to_bf16(float x) {
    uint32_t u;
    __builtin_memcpy(&u, &x, 4);
    uint32_t rne = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    /* NaN must stay NaN: rounding could carry it into infinity */
    return (u & 0x7FFFFFFFu) > 0x7F800000u ? (lpk_bf16)((u >> 16) | 0x40u) : (lpk_bf16)rne;
}

int cpu_layernorm_fwd(cpu_state *ctx, float *out, lpk_bf16 *out16, float *mean, float *rstd, const float *x,
                      const float *w, const float *b, int N, int C, float eps);
int cpu_layernorm_bwd(cpu_state *ctx, float *dx, float *dw, float *db, const float *dout, const float *x,
                      const float *w, const float *mean, const float *rstd, int N, int C);

int cpu_attn_fwd(cpu_state *ctx, float *out, float *lse, const float *qkv, int B, int T, int C, int H);
int cpu_attn_bwd(cpu_state *ctx, float *dqkv, const float *dout, const float *qkv, const float *out,
                 const float *lse, int B, int T, int C, int H);
/* start (NULL: plain causal) as lpk_attn_fwd_seg */
int cpu_attn_fwd_seg(cpu_state *ctx, float *out, float *lse, const float *qkv, const int32_t *start, int B,
                     int T, int C, int H);
int cpu_attn_bwd_seg(cpu_state *ctx, float *dqkv, const float *dout, const float *qkv, const float *out,
                     const float *lse, const int32_t *start, int B, int T, int C, int H);
/* Checks 0 <= start[b*T + t] <= t and 0 <= prefix[b] <= T (prefix may be NULL); 0, or -1 with the error reported. The
 * array is read in place: on this backend device memory is host memory. */
int cpu_attn_check_start(cpu_state *ctx, const char *what, const int32_t *start, const int32_t *prefix, int B,
                         int T);
/* start and prefix (each NULL: none) as lpk_attn_fwd_prefix */
int cpu_attn_fwd_prefix(cpu_state *ctx, float *out, float *lse, const float *qkv, const int32_t *start,
                        const int32_t *prefix, int B, int T, int C, int H);
int cpu_attn_bwd_prefix(cpu_state *ctx, float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, const int32_t *start, const int32_t *prefix, int B, int T, int C,
                        int H);
/* bf16-product variants (attention_bf16.c), used in bf16 precision when the
 * CPU has AVX512-BF16 and the build targets it; start already checked */
int cpu_attn_bf16_available(void);
int cpu_attn_fwd_bf16(cpu_state *ctx, float *out, float *lse, const float *qkv, const int32_t *start,
                      const int32_t *prefix, int B, int T, int C, int H);
int cpu_attn_bwd_bf16(cpu_state *ctx, float *dqkv, const float *dout, const float *qkv, const float *out,
                      const float *lse, const int32_t *start, const int32_t *prefix, int B, int T, int C,
                      int H);
int cpu_attn_decode(cpu_state *ctx, float *out, const float *q, int ldq, const float *kcache,
                    const float *vcache, const int32_t *len, int B, int maxT, int C, int H);

int cpu_xent(cpu_state *ctx, const float *logits, int ld, const int32_t *target, const float *weight, int N,
             int V, double norm, float *nll, float *dlogits, float dscale, double *loss);
int cpu_xent_bf16(cpu_state *ctx, const float *logits, int ld, const int32_t *target, const float *weight,
                  int N, int V, double norm, float *nll, lpk_bf16 *d16, int ld16, float dscale, double *loss);
/* Rows [i0, i0 + ni) (ni <= 16) of src, transposed into bf16 columns of
 * dst: dst[j, i] = bf16(src[i, j]); one thread. */
void cpu_transpose_bf16_rows(lpk_bf16 *dst, int ldd, const float *src, int lds, int i0, int ni, int cols);
int cpu_adamw_t16(cpu_state *ctx, float *p, const float *g, float *m, float *v, int rows, int cols, float lr,
                  float beta1, float beta2, float eps, float wd, float bc1, float bc2, float gscale,
                  lpk_bf16 *p16t, int ldt);
int cpu_gelu_bias_bwd_bf16(cpu_state *ctx, float *dbias, lpk_bf16 *y16, float *dy, const float *x, int N,
                           int C);
int cpu_bias_bwd_bf16(cpu_state *ctx, float *dbias, lpk_bf16 *y16, const float *dy, int N, int C);
int cpu_transpose_copy(cpu_state *ctx, float *dst, int ldd, const float *src, int lds, int rows, int cols);
int cpu_transpose_bf16(cpu_state *ctx, lpk_bf16 *dst, int ldd, const float *src, int lds, int rows, int cols);
int cpu_logprob_fwd(cpu_state *ctx, const float *logits, int ld, const int32_t *tok, int N, int V, float temp,
                    float *logp, float *entropy);
int cpu_logprob_bwd(cpu_state *ctx, float *dlogits, const float *logits, int ld, const int32_t *tok, int N,
                    int V, float temp, const float *dlogp, const float *dentropy);
int cpu_rowdot_fwd(cpu_state *ctx, float *out, const float *x, const float *w, float b, int N, int C);
int cpu_rowdot_bwd(cpu_state *ctx, float *dx, float *dw, float *db, const float *dout, const float *x,
                   const float *w, int N, int C);

#endif
