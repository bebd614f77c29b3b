/* GEMMs wider than one oneDNN call (N > 8192 columns, as the LM head): every
 * transpose combination, fp32 and bf16, with and without the fused bias and
 * beta, against a plain double-precision product of the same inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <lpk/kernels.h>

static float bf16_round(float x, lpk_bf16 *out) {
    union {
        float f;
        unsigned u;
    } v = {x};
    unsigned r = v.u + 0x7FFFu + ((v.u >> 16) & 1u);
    *out = (lpk_bf16)(r >> 16);
    v.u = (r >> 16) << 16;
    return v.f;
}

int main(void) {
    const int M = 3, K = 37, N = 20011; /* three slices, the last one short */
    char err[256];
    int failures = 0;
    for (int prec = 0; prec < 2; prec++) {
        lpk_ctx_opts o = {
            .backend = "cpu", .num_threads = 2, .precision = prec ? LPK_PREC_BF16 : LPK_PREC_FP32};
        lpk_ctx *c = lpk_ctx_create(&o, err, sizeof err);
        if (!c) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        lpk_dtype dt = prec ? LPK_BF16 : LPK_F32;
        float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N);
        lpk_bf16 *a16 = malloc(2 * (size_t)M * K), *b16 = malloc(2 * (size_t)K * N);
        float *bias = malloc(sizeof(float) * N), *C = malloc(sizeof(float) * M * N);
        srand(7);
        for (int i = 0; i < M * K; i++) a[i] = (float)rand() / RAND_MAX - 0.5f;
        for (int i = 0; i < K * N; i++) b[i] = (float)rand() / RAND_MAX - 0.5f;
        for (int j = 0; j < N; j++) bias[j] = (float)j / N;
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int with_bias = 0; with_bias < 2; with_bias++) {
                    /* Stored layouts: A is [M,K] or [K,M]; B is [K,N] or [N,K]. */
                    float *as = malloc(sizeof(float) * M * K), *bs = malloc(sizeof(float) * K * N);
                    for (int i = 0; i < M; i++)
                        for (int k = 0; k < K; k++) {
                            float v = prec ? bf16_round(a[i * K + k], &a16[ta ? k * M + i : i * K + k])
                                           : a[i * K + k];
                            as[ta ? k * M + i : i * K + k] = v;
                        }
                    for (int k = 0; k < K; k++)
                        for (int j = 0; j < N; j++) {
                            size_t at = tb ? (size_t)j * K + k : (size_t)k * N + j;
                            float v =
                                prec ? bf16_round(b[(size_t)k * N + j], &b16[at]) : b[(size_t)k * N + j];
                            bs[at] = v;
                        }
                    float beta = with_bias ? 0.0f : 0.5f;
                    for (int i = 0; i < M * N; i++) C[i] = 1.0f;
                    const void *A = prec ? (const void *)a16 : as, *B = prec ? (const void *)b16 : bs;
                    int rc = with_bias ? lpk_gemm_bias(c, ta, tb, M, N, K, dt, A, ta ? M : K, B, tb ? K : N,
                                                       bias, beta, C, N)
                                       : lpk_gemm(c, ta, tb, M, N, K, 1.0f, dt, A, ta ? M : K, B, tb ? K : N,
                                                  beta, C, N);
                    double worst = 0;
                    for (int i = 0; i < M && rc == 0; i++)
                        for (int j = 0; j < N; j++) {
                            double s = with_bias ? bias[j] : beta * 1.0;
                            for (int k = 0; k < K; k++)
                                s += (double)as[ta ? k * M + i : i * K + k] *
                                     bs[tb ? (size_t)j * K + k : (size_t)k * N + j];
                            double e = fabs(s - C[(size_t)i * N + j]);
                            if (e > worst) worst = e;
                        }
                    int ok = rc == 0 && worst < 1e-4;
                    printf("%s ta=%d tb=%d bias=%d: max abs error %.2e %s\n", prec ? "bf16" : "fp32", ta, tb,
                           with_bias, worst, ok ? "ok" : "FAIL");
                    failures += !ok;
                    free(as);
                    free(bs);
                }
        free(a);
        free(b);
        free(a16);
        free(b16);
        free(bias);
        free(C);
        lpk_ctx_destroy(c);
    }
    printf("%d failed\n", failures);
    return failures != 0;
}
