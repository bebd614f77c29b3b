/* The CPU backend's table and lifetime. */
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Services are append only: read what this backend knows of, no more. */
static int cpu_init(const lpk_backend_services *sv, cpu_state **state, char *err, size_t errlen) {
    if (!sv || sv->size < sizeof *sv || sv->version != LPK_API_VERSION || !sv->error) {
        snprintf(err, errlen, "cpu backend: services of API version %u, expected %d", sv ? sv->version : 0u,
                 LPK_API_VERSION);
        return -1;
    }
    cpu_state *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "cpu backend: out of memory");
        return -1;
    }
    s->sv = *sv;
    s->sv.size = sizeof s->sv;
    s->threads = sv->threads > 0 ? sv->threads : 1;
    s->precision = sv->precision;
    s->fp32_gemm = sv->fp32_gemm == LPK_GEMM_OPENBLAS ? LPK_GEMM_OPENBLAS : LPK_GEMM_ONEDNN;
    if (cpu_gemm_init(s, err, errlen) != 0) {
        free(s);
        return -1;
    }
    /* native when every bf16 product kernel of this build is: oneDNN's
     * matmul and the AVX512-BF16 attention compiled in */
    __builtin_cpu_init();
    s->native_bf16 =
        cpu_gemm_native_bf16(s) && cpu_attn_bf16_available() && __builtin_cpu_supports("avx512bf16");
    *state = s;
    return 0;
}

void cpu_error(cpu_state *ctx, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctx->sv.error(ctx->sv.host, msg);
}

static int cpu_fini(cpu_state *s) {
    if (!s) return 0;
    cpu_gemm_fini(s);
    free(s->scratch);
    free(s);
    return 0;
}

float *cpu_scratch(cpu_state *ctx, size_t per, int threads) {
    cpu_state *s = ctx;
    size_t need = cpu_scratch_stride(per) * (size_t)(threads > 0 ? threads : 1);
    if (need <= s->scratch_cap) return s->scratch;
    void *p = NULL;
    if (posix_memalign(&p, 64, need * sizeof(float)) != 0) return NULL;
    free(s->scratch);
    s->scratch = p;
    s->scratch_cap = need;
    return s->scratch;
}

static int cpu_has_native_bf16(cpu_state *ctx) { return ctx->native_bf16; }

/* 64-byte alignment: whole cache lines and aligned AVX-512 loads. */
static void *cpu_alloc(cpu_state *ctx, size_t bytes) {
    (void)ctx;
    void *p = NULL;
    if (bytes == 0) bytes = 64;
    bytes = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, bytes) != 0) return NULL;
    return p;
}

static int cpu_free(cpu_state *ctx, void *p) {
    (void)ctx;
    free(p);
    return 0;
}

/* Host and device memory are one on the CPU. */
static int cpu_copy(cpu_state *ctx, void *dst, const void *src, size_t bytes) {
    (void)ctx;
    memmove(dst, src, bytes);
    return 0;
}
static int cpu_memset(cpu_state *ctx, void *dst, int value, size_t bytes) {
    (void)ctx;
    memset(dst, value, bytes);
    return 0;
}
static int cpu_sync(cpu_state *ctx) {
    (void)ctx;
    return 0;
}

static const lpk_backend cpu_table = {
    .api_version = LPK_API_VERSION,
    .size = sizeof(lpk_backend),
    .name = "cpu:" LPK_CPU_BUILD,
    .init = cpu_init,
    .fini = cpu_fini,
    .has_native_bf16 = cpu_has_native_bf16,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .gemm = cpu_gemm,
    .f32_to_bf16 = cpu_f32_to_bf16,
    .fill = cpu_fill,
    .scale = cpu_scale,
    .add = cpu_add,
    .sumsq = cpu_sumsq,
    .transpose_add = cpu_transpose_add,
    .bias_bwd = cpu_bias_bwd,
    .embed_fwd = cpu_embed_fwd,
    .embed_bwd = cpu_embed_bwd,
    .layernorm_fwd = cpu_layernorm_fwd,
    .layernorm_bwd = cpu_layernorm_bwd,
    .gelu_fwd = cpu_gelu_fwd,
    .gelu_bwd = cpu_gelu_bwd,
    .attn_fwd = cpu_attn_fwd,
    .attn_bwd = cpu_attn_bwd,
    .attn_decode = cpu_attn_decode,
    .xent = cpu_xent,
    .logprob_fwd = cpu_logprob_fwd,
    .logprob_bwd = cpu_logprob_bwd,
    .rowdot_fwd = cpu_rowdot_fwd,
    .rowdot_bwd = cpu_rowdot_bwd,
    .adamw = cpu_adamw,
    .xent_bf16 = cpu_xent_bf16,
    .transpose_bf16 = cpu_transpose_bf16,
    .transpose_copy = cpu_transpose_copy,
    .bias_bwd_bf16 = cpu_bias_bwd_bf16,
    .adamw_t16 = cpu_adamw_t16,
    .gelu_bias_bwd_bf16 = cpu_gelu_bias_bwd_bf16,
    .copy_in = cpu_copy,
    .copy_out = cpu_copy,
    .copy = cpu_copy,
    .memset = cpu_memset,
    .sync = cpu_sync,
    .attn_fwd_seg = cpu_attn_fwd_seg,
    .attn_bwd_seg = cpu_attn_bwd_seg,
    .attn_fwd_prefix = cpu_attn_fwd_prefix,
    .attn_bwd_prefix = cpu_attn_bwd_prefix,
};

__attribute__((visibility("default"))) const lpk_backend *lpk_backend_entry(void) { return &cpu_table; }
