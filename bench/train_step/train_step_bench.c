/* llmpipe training-step benchmark: forward + LM loss + backward + clipping +
 * AdamW on random tokens, median over steps, with the per-kernel split.
 * Usage: train_step_bench CONFIG PRECISION [STEPS] [THREADS]
 *   CONFIG: 124m | small | quick ; PRECISION: fp32 | bf16 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llmpipe/model.h>
#include <llmpipe/optim.h>
#include <llmpipe/sampler.h>

typedef struct {
    const char *name;
    int L, H, C, V, B, T;
} bench_cfg;
static const bench_cfg cfgs[] = {
    {"124m", 12, 12, 768, 50257, 4, 64},
    {"small", 6, 6, 384, 50257, 8, 256},
    {"quick", 4, 4, 256, 4096, 32, 256},
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s 124m|small|quick fp32|bf16 [steps] [threads]\n", argv[0]);
        return 2;
    }
    const bench_cfg *bc = NULL;
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++)
        if (!strcmp(argv[1], cfgs[i].name)) bc = &cfgs[i];
    if (!bc) {
        fprintf(stderr, "unknown config %s\n", argv[1]);
        return 2;
    }
    int bf16 = !strcmp(argv[2], "bf16");
    int steps = argc > 3 ? atoi(argv[3]) : 5;
    int threads = argc > 4 ? atoi(argv[4]) : 0;
    char err[256];
    const char *fg = getenv("LPK_BENCH_FP32_GEMM");
    lpk_ctx *ctx = lpk_ctx_create(
        &(lpk_ctx_opts){.num_threads = threads,
                        .fp32_gemm = fg && !strcmp(fg, "openblas") ? LPK_GEMM_OPENBLAS : LPK_GEMM_AUTO,
                        .precision = bf16 ? LPK_PREC_BF16 : LPK_PREC_FP32},
        err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    lp_model_config cfg = {.n_layer = bc->L,
                           .n_head = bc->H,
                           .n_embd = bc->C,
                           .vocab_size = bc->V,
                           .n_ctx = bc->T > 1024 ? bc->T : 1024};
    lp_model *m = lp_model_create(&cfg, ctx, err, sizeof err);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    lp_model_init_gpt2(m, 1);
    lp_adamw *opt = lp_adamw_create(m, &(lp_adamw_config){.lr = 3e-4f, .beta2 = 0.95f, .weight_decay = 0.1f});
    const int N = bc->B * bc->T;
    int32_t *tok = malloc(sizeof(int32_t) * (N + 1));
    lp_rng r;
    lp_rng_seed(&r, 42);
    for (int i = 0; i <= N; i++) tok[i] = (int32_t)(lp_rng_u64(&r) % bc->V);
    /* FLOPs per step: (6 N_params_no_wpe + 12 L T C) B T */
    double nparam = (double)lp_model_numel(m) - (double)cfg.n_ctx * bc->C;
    double flops = (6.0 * nparam + 12.0 * bc->L * bc->T * bc->C) * N;
    double *ms = malloc(sizeof(double) * (steps + 1));
    double loss = 0, cpu0 = 0, phase[6] = {0};
    for (int s = -1; s < steps; s++) {
        if (s == 0) cpu0 = cpu_now();
        if (s == 0) {
            lpk_profile_enable(ctx, 1);
            lpk_profile_reset(ctx);
        }
        double t0 = now(), tp[7];
        tp[0] = t0;
        lp_model_zero_grad(m);
        tp[1] = now();
        if (lp_model_forward(m, tok, bc->B, bc->T) || (tp[2] = now(), 0) ||
            lp_model_lm_loss(m, tok + 1, NULL, 0, NULL, &loss) || (tp[3] = now(), 0) ||
            lp_model_backward(m)) {
            fprintf(stderr, "%s\n", lp_model_error(m));
            return 1;
        }
        tp[4] = now();
        /* clipping folded into the AdamW pass (lp_model_clip_coef) */
        float coef = lp_model_clip_coef(m, 1.0, NULL);
        tp[5] = now();
        lp_adamw_step(opt, 3e-4f, coef);
        tp[6] = now();
        if (s >= 0)
            for (int k = 0; k < 6; k++) phase[k] += (tp[k + 1] - tp[k]) * 1e3 / steps;
        if (s >= 0) ms[s] = (now() - t0) * 1e3;
    }
    double cpu_ms = (cpu_now() - cpu0) * 1e3 / steps / lpk_ctx_threads(ctx);
    double total = 0;
    for (int s = 0; s < steps; s++) total += ms[s];
    qsort(ms, steps, sizeof *ms, cmpd);
    double med = ms[steps / 2];
    printf(
        "llmpipe %s %s threads=%d: %.1f ms/step (median of %d), %.0f tokens/s, %.1f GFLOP/s, loss %.4f; "
        "CPU time/threads %.1f ms/step\n",
        bc->name, bf16 ? "bf16" : "fp32", lpk_ctx_threads(ctx), med, steps, N / (med / 1e3),
        flops / (med / 1e3) / 1e9, loss, cpu_ms);
    printf(
        "  phases (mean ms/step): zero_grad %.1f, forward %.1f, loss %.1f, backward %.1f, grad norm %.1f, "
        "adamw %.1f\n",
        phase[0], phase[1], phase[2], phase[3], phase[4], phase[5]);
    const char *names[32];
    double sec[32];
    long calls[32];
    int k = lpk_profile_get(ctx, names, sec, calls, 32);
    double ksum = 0;
    for (int i = 0; i < k; i++) ksum += sec[i];
    printf("  per-kernel split (all %d steps, %.1f%% of wall time inside kernels):\n", steps,
           100.0 * ksum / (total / 1e3));
    for (int i = 0; i < k; i++)
        printf("    %-14s %8.1f ms/step %5.1f%%  (%ld calls)\n", names[i], sec[i] * 1e3 / steps,
               100.0 * sec[i] / ksum, calls[i] / steps);
    printf("RESULT llmpipe %s %s %.3f %.3f\n", bc->name, bf16 ? "bf16" : "fp32", med, cpu_ms);
    free(ms);
    free(tok);
    lp_adamw_destroy(opt);
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    return 0;
}
