/* Times every GEMM shape of one training step of the benchmark configs,
 * alone, in bf16 (or fp32), and prints ms and GFLOP/s per shape and in all,
 * next to the machine's peak: a register-only loop of the instruction the
 * GEMM is made of (vdpbf16ps, or FMA for fp32) on the same threads.
 *   gemm_bench CONFIG [bf16|fp32] [REPS]    CONFIG: 124m, small or quick */
#include <lpk/kernels.h>

#include <omp.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *what;
    int ta, tb, M, N, K;
    float beta;
    int bias;
    int count;
} shape;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* GFLOP/s of 12 independent accumulator chains per thread, no memory */
static double peak_gflops(int bf16) {
#ifdef __AVX512F__
    const long iters = 20000000;
    double t0 = now();
    float sink = 0.0f;
#pragma omp parallel reduction(+ : sink)
    {
        __m512 acc[12];
        for (int i = 0; i < 12; i++) acc[i] = _mm512_setzero_ps();
        __m512 a = _mm512_set1_ps(1e-3f), b = _mm512_set1_ps(1e-3f);
        /* fully unrolled so the accumulators live in registers */
#ifdef __AVX512BF16__
        if (bf16)
            for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
                for (int k = 0; k < 12; k++) acc[k] = _mm512_dpbf16_ps(acc[k], (__m512bh)a, (__m512bh)b);
                __asm__ volatile("" : "+v"(a));
            }
        else
#endif
            for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
                for (int k = 0; k < 12; k++) acc[k] = _mm512_fmadd_ps(a, b, acc[k]);
                __asm__ volatile("" : "+v"(a));
            }
        for (int k = 0; k < 12; k++) sink += _mm512_reduce_add_ps(acc[k]);
    }
    double t = now() - t0;
    if (sink == 12345.0f) printf(" "); /* keep the loop */
    return (double)omp_get_max_threads() * iters * 12 * (bf16 ? 64.0 : 32.0) / t / 1e9;
#else
    (void)bf16;
    return 0.0;
#endif
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: gemm_bench 124m|small|quick [bf16|fp32] [REPS]\n");
        return 2;
    }
    int L, C, V, B, T;
    if (!strcmp(argv[1], "124m")) {
        L = 12;
        C = 768;
        V = 50257;
        B = 4;
        T = 64;
    } else if (!strcmp(argv[1], "small")) {
        L = 6;
        C = 384;
        V = 50257;
        B = 8;
        T = 256;
    } else if (!strcmp(argv[1], "quick")) {
        L = 4;
        C = 256;
        V = 4096;
        B = 32;
        T = 256;
    } else {
        fprintf(stderr, "gemm_bench: unknown config '%s'\n", argv[1]);
        return 2;
    }
    int bf16 = argc < 3 || strcmp(argv[2], "fp32") != 0;
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    if (reps < 1) reps = 1;
    int N = B * T;
    /* the model's calls (sdk/model forward.c / backward.c), per layer x L;
     * weight gradients with beta 0 as in the first backward after zero_grad */
    shape s[] = {
        {"qkv fwd", 0, 0, N, 3 * C, C, 0, 1, L},
        {"proj fwd", 0, 0, N, C, C, 0, 1, L},
        {"fc fwd", 0, 0, N, 4 * C, C, 0, 1, L},
        {"fcproj fwd", 0, 0, N, C, 4 * C, 0, 1, L},
        {"fcproj dW", 1, 0, 4 * C, C, N, 0, 0, L},
        {"fcproj dX", 0, 1, N, 4 * C, C, 0, 0, L},
        {"fc dW", 1, 0, C, 4 * C, N, 0, 0, L},
        {"fc dX", 0, 1, N, C, 4 * C, 0, 0, L},
        {"proj dW", 1, 0, C, C, N, 0, 0, L},
        {"proj dX", 0, 1, N, C, C, 0, 0, L},
        {"qkv dW", 1, 0, C, 3 * C, N, 0, 0, L},
        {"qkv dX", 0, 1, N, C, 3 * C, 0, 0, L},
        /* the LM head as bf16 runs it (sdk/model: transposed bf16 head) */
        {"head fwd", 0, 0, N, V, C, 0, 0, 1},
        {"head dW^T", 1, 0, C, V, N, 0, 0, 1},
        {"head dX", 0, 1, N, C, V, 0, 0, 1},
        /* other orientations of the same products, for comparison (x0) */
        {"alt fwd", 0, 1, N, V, C, 0, 0, 0},
        {"alt dW", 1, 0, V, C, N, 1, 0, 0},
        {"alt dW NN", 0, 0, V, C, N, 1, 0, 0},
        {"alt dX", 0, 0, N, C, V, 0, 0, 0},
    };
    char err[256];
    lpk_ctx *ctx =
        lpk_ctx_create(&(lpk_ctx_opts){.precision = bf16 ? LPK_PREC_BF16 : LPK_PREC_FP32}, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "gemm_bench: %s\n", err);
        return 1;
    }
    /* best of three: the first run also wakes the second core up */
    double pk = 0.0;
    for (int r = 0; r < 3; r++) {
        double g = peak_gflops(bf16);
        pk = g > pk ? g : pk;
    }
    double total_ms = 0, total_gf = 0;
    printf("%-11s %2s %2s %6s %6s %6s  %9s %8s\n", "gemm", "ta", "tb", "M", "N", "K", "ms", "GFLOP/s");
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
        shape *g = &s[i];
        size_t na = (size_t)g->M * g->K, nb = (size_t)g->K * g->N, nc = (size_t)g->M * g->N;
        float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc(nc * 4), *bias = malloc((size_t)g->N * 4);
        lpk_bf16 *a16 = malloc(na * 2), *b16 = malloc(nb * 2);
        if (!a || !b || !c || !bias || !a16 || !b16) {
            fprintf(stderr, "gemm_bench: out of memory\n");
            return 1;
        }
        srand(1);
        for (size_t j = 0; j < na; j++) a[j] = (float)rand() / RAND_MAX - 0.5f;
        for (size_t j = 0; j < nb; j++) b[j] = (float)rand() / RAND_MAX - 0.5f;
        for (size_t j = 0; j < nc; j++) c[j] = 0;
        for (int j = 0; j < g->N; j++) bias[j] = 0.1f;
        lpk_f32_to_bf16(ctx, a, a16, na);
        lpk_f32_to_bf16(ctx, b, b16, nb);
        int lda = g->ta ? g->M : g->K, ldb = g->tb ? g->K : g->N;
        const void *A = bf16 ? (const void *)a16 : a, *Bm = bf16 ? (const void *)b16 : b;
        lpk_dtype dt = bf16 ? LPK_BF16 : LPK_F32;
        double t[64];
        if (reps > 63) reps = 63;
        for (int r = 0; r <= reps; r++) {
            double t0 = now();
            int rc = g->bias ? lpk_gemm_bias(ctx, g->ta, g->tb, g->M, g->N, g->K, dt, A, lda, Bm, ldb, bias,
                                             g->beta, c, g->N)
                             : lpk_gemm(ctx, g->ta, g->tb, g->M, g->N, g->K, 1.0f, dt, A, lda, Bm, ldb,
                                        g->beta, c, g->N);
            if (rc) {
                fprintf(stderr, "gemm_bench: %s\n", lpk_ctx_error(ctx));
                return 1;
            }
            t[r] = now() - t0;
        }
        qsort(t + 1, (size_t)reps, sizeof *t, cmp_d); /* t[0] is the warm-up */
        double ms = 1e3 * t[1 + reps / 2], gf = 2.0 * g->M * g->N * (double)g->K / 1e9;
        printf("%-11s %2d %2d %6d %6d %6d  %9.2f %8.1f  x%d\n", g->what, g->ta, g->tb, g->M, g->N, g->K, ms,
               gf / ms * 1e3, g->count);
        total_ms += ms * g->count;
        total_gf += gf * g->count;
        free(a);
        free(b);
        free(c);
        free(bias);
        free(a16);
        free(b16);
    }
    printf(
        "TOTAL %s %s %.1f ms per step, %.1f GFLOP, %.1f GFLOP/s; instruction peak %.1f GFLOP/s on %d threads "
        "(%.0f%%)\n",
        argv[1], bf16 ? "bf16" : "fp32", total_ms, total_gf, total_gf / total_ms * 1e3, pk,
        omp_get_max_threads(), pk > 0 ? 100.0 * total_gf / total_ms * 1e3 / pk : 0.0);
    lpk_ctx_destroy(ctx);
    return 0;
}
