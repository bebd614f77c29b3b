/* Training behaviour: (1) bitwise determinism — two fresh runs with the same
 * seed and thread count give identical losses and weights, in fp32 and bf16;
 * (2) a short bf16 mixed-precision run tracks the fp32 run on a learnable
 * task, and both learn it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmpipe/model.h>
#include <llmpipe/optim.h>
#include <llmpipe/sampler.h>

#include "fixture.h"

enum { B = 8, T = 32, V = 97, STEPS = 40 };

/* sequences of x_{t+1} = (x_t + c) mod V with a per-row c in {1, 2}:
 * a bigram rule plus a little context, learnable in a few dozen steps */
static void make_batch(int step, int32_t *tok, int32_t *tgt) {
    lp_rng r;
    lp_rng_seed(&r, 1000 + (uint64_t)step);
    for (int b = 0; b < B; b++) {
        int a = 1, c = 1 + (int)(lp_rng_u64(&r) % 2);
        int x = (int)(lp_rng_u64(&r) % V);
        for (int t = 0; t <= T; t++) {
            if (t < T) tok[b * T + t] = x;
            if (t > 0) tgt[b * T + t - 1] = x;
            x = (a * x + c) % V;
        }
    }
}

static void train(lpk_precision prec, int threads, double *losses, float **final, size_t *numel) {
    lp_model_config cfg = {.n_layer = 2, .n_head = 4, .n_embd = 64, .vocab_size = V, .n_ctx = T};
    char err[256];
    lpk_ctx *ctx =
        lpk_ctx_create(&(lpk_ctx_opts){.num_threads = threads, .precision = prec}, err, sizeof err);
    ASSERT(ctx, "%s", err);
    lp_model *m = lp_model_create(&cfg, ctx, err, sizeof err);
    ASSERT(m, "%s", err);
    lp_model_init_gpt2(m, 5);
    lp_adamw *opt = lp_adamw_create(m, &(lp_adamw_config){.lr = 1e-2f, .beta2 = 0.95f, .weight_decay = 0.1f});
    int32_t tok[B * T], tgt[B * T];
    for (int s = 0; s < STEPS; s++) {
        make_batch(s, tok, tgt);
        lp_model_zero_grad(m);
        /* two micro-batches of half the rows: accumulation must add up */
        double l0, l1;
        ASSERT(lp_model_forward(m, tok, B / 2, T) == 0, "%s", lp_model_error(m));
        ASSERT(lp_model_lm_loss(m, tgt, NULL, 2.0 * (B / 2) * T, NULL, &l0) == 0, "%s", lp_model_error(m));
        ASSERT(lp_model_backward(m) == 0, "%s", lp_model_error(m));
        ASSERT(lp_model_forward(m, tok + B / 2 * T, B / 2, T) == 0, "%s", lp_model_error(m));
        ASSERT(lp_model_lm_loss(m, tgt + B / 2 * T, NULL, 2.0 * (B / 2) * T, NULL, &l1) == 0, "%s",
               lp_model_error(m));
        ASSERT(lp_model_backward(m) == 0, "%s", lp_model_error(m));
        lp_model_clip_grad_norm(m, 1.0);
        lp_adamw_step(opt, 1e-2f, 1.0f);
        losses[s] = l0 + l1;
    }
    *numel = 0;
    for (int i = 0; i < lp_model_num_params(m); i++) *numel += lp_model_param(m, i)->numel;
    *final = malloc(*numel * sizeof(float));
    size_t o = 0;
    for (int i = 0; i < lp_model_num_params(m); i++) {
        ASSERT(lp_model_param_read(m, i, *final + o) == 0, "%s", lp_model_error(m));
        o += lp_model_param(m, i)->numel;
    }
    lp_adamw_destroy(opt);
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
}

/* One batch of 1024 tokens (LM-head weight gradient through the transposed
 * product) must give the gradients of two 512-token halves accumulated
 * (direct product), up to fp32 rounding. */
static void check_batch_split(void) {
    enum { BB = 32, TT = 32, VV = 97 };
    lp_model_config cfg = {.n_layer = 1, .n_head = 2, .n_embd = 32, .vocab_size = VV, .n_ctx = TT};
    char err[256];
    lpk_ctx *ctx = lpk_ctx_create(&(lpk_ctx_opts){.num_threads = 2}, err, sizeof err);
    ASSERT(ctx, "%s", err);
    lp_model *m = lp_model_create(&cfg, ctx, err, sizeof err);
    ASSERT(m, "%s", err);
    lp_model_init_gpt2(m, 9);
    static int32_t tok[BB * TT], tgt[BB * TT];
    lp_rng r;
    lp_rng_seed(&r, 4);
    for (int i = 0; i < BB * TT; i++) {
        tok[i] = (int32_t)(lp_rng_u64(&r) % VV);
        tgt[i] = (int32_t)(lp_rng_u64(&r) % VV);
    }
    double l;
    ASSERT(lp_model_forward(m, tok, BB, TT) == 0 && lp_model_lm_loss(m, tgt, NULL, 0, NULL, &l) == 0 &&
               lp_model_backward(m) == 0,
           "%s", lp_model_error(m));
    const lp_param *wte = lp_model_find_param(m, "transformer.wte.weight");
    size_t n = wte->numel;
    int iw = (int)(wte - lp_model_param(m, 0));
    float *full = fx_grad_host(m, iw);
    lp_model_zero_grad(m);
    for (int h = 0; h < 2; h++)
        ASSERT(lp_model_forward(m, tok + h * BB / 2 * TT, BB / 2, TT) == 0 &&
                   lp_model_lm_loss(m, tgt + h * BB / 2 * TT, NULL, (double)BB * TT, NULL, &l) == 0 &&
                   lp_model_backward(m) == 0,
               "%s", lp_model_error(m));
    float *halves = fx_grad_host(m, iw);
    double e = fx_relerr(full, halves, n);
    free(halves);
    printf("LM-head gradient, 1024-token batch vs 2 x 512 accumulated: relative difference %.3g\n", e);
    ASSERT(e < 1e-5, "batch split changed the LM-head gradient by %.3g", e);
    free(full);
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
}

/* lp_model_zero_grad is lazy (the next backward writes the gradients
 * instead of adding them): gradients read in between must be zero, and the
 * written gradients must equal zeros-plus-accumulated ones, in both
 * precisions (bf16 takes the transposed LM-head path, fp32 with few tokens
 * the direct GEMM). */
static void check_lazy_zero_grad(lpk_precision prec) {
    enum { BB = 4, TT = 16, VV = 97 };
    lp_model_config cfg = {
        .n_layer = 2, .n_head = 2, .n_embd = 32, .vocab_size = VV, .n_ctx = TT, .scalar_head = 1};
    char err[256];
    lpk_ctx *ctx = lpk_ctx_create(&(lpk_ctx_opts){.num_threads = 2, .precision = prec}, err, sizeof err);
    ASSERT(ctx, "%s", err);
    lp_model *m = lp_model_create(&cfg, ctx, err, sizeof err);
    ASSERT(m, "%s", err);
    lp_model_init_gpt2(m, 5);
    static int32_t tok[BB * TT], tgt[BB * TT];
    static float dv[BB * TT];
    for (int i = 0; i < BB * TT; i++) {
        tok[i] = (i * 7 + 3) % VV;
        tgt[i] = (i * 13 + 1) % VV;
        dv[i] = 0.5f;
    }
    double l;
    int np = lp_model_num_params(m);
    size_t total = lp_model_numel(m);
    float *a = malloc(total * sizeof(float));
    ASSERT(a, "out of memory");
    for (int pass = 0; pass < 3; pass++) {
        /* pass 0 leaves stale gradients; pass 1 writes them lazily; pass 2
         * reads them zeroed first, then accumulates onto the zeros */
        lp_model_zero_grad(m);
        if (pass == 2)
            for (int i = 0; i < np; i++) {
                const lp_param *p = lp_model_param(m, i);
                float *g = fx_grad_host(m, i);
                for (size_t k = 0; k < p->numel; k++)
                    ASSERT(g[k] == 0.0f, "%s[%zu] = %g after zero_grad", p->name, k, g[k]);
                free(g);
            }
        ASSERT(lp_model_forward(m, tok, BB, TT) == 0 && lp_model_lm_loss(m, tgt, NULL, 0, NULL, &l) == 0,
               "%s", lp_model_error(m));
        if (pass == 0) /* stale values in every tensor, the scalar head's too */
            ASSERT(lp_model_values_grad(m, dv) == 0, "%s", lp_model_error(m));
        ASSERT(lp_model_backward(m) == 0, "%s", lp_model_error(m));
        size_t off = 0;
        for (int i = 0; i < np; i++) {
            const lp_param *p = lp_model_param(m, i);
            float *g = fx_grad_host(m, i);
            for (size_t k = 0; k < p->numel; k++, off++) {
                if (pass == 1) a[off] = g[k];
                if (pass == 2)
                    ASSERT(a[off] == g[k], "%s[%zu]: written %g, accumulated onto zeros %g", p->name, k,
                           a[off], g[k]);
            }
            free(g);
        }
    }
    printf("lazy zero_grad (%s): %zu gradient elements written = zeros + accumulated\n",
           prec == LPK_PREC_BF16 ? "bf16" : "fp32", total);
    free(a);
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
}

/* One AdamW step on batch `step` (left in tok). */
static void step_on(lp_model *m, lp_adamw *opt, int step, int32_t *tok) {
    int32_t tgt[B * T];
    double l;
    make_batch(step, tok, tgt);
    lp_model_zero_grad(m);
    ASSERT(lp_model_forward(m, tok, B, T) == 0, "%s", lp_model_error(m));
    ASSERT(lp_model_lm_loss(m, tgt, NULL, 0.0, NULL, &l) == 0, "%s", lp_model_error(m));
    ASSERT(lp_model_backward(m) == 0, "%s", lp_model_error(m));
    lp_adamw_step(opt, 1e-2f, 1.0f);
}

/* In bf16 the optimizer writes the transposed bf16 LM head itself; the
 * logits after a step must be bit for bit those from a head rebuilt from
 * the fp32 wte (lp_model_params_changed forces the rebuild). */
static void check_head_copy(void) {
    lp_model_config cfg = {.n_layer = 2, .n_head = 4, .n_embd = 64, .vocab_size = V, .n_ctx = T};
    char err[256];
    lpk_ctx *ctx =
        lpk_ctx_create(&(lpk_ctx_opts){.num_threads = 2, .precision = LPK_PREC_BF16}, err, sizeof err);
    ASSERT(ctx, "%s", err);
    lp_model *m = lp_model_create(&cfg, ctx, err, sizeof err);
    ASSERT(m, "%s", err);
    lp_model_init_gpt2(m, 9);
    lp_adamw *opt = lp_adamw_create(m, &(lp_adamw_config){.lr = 1e-2f, .beta2 = 0.95f});
    int32_t tok[B * T];
    const size_t nl = (size_t)B * T * V;
    float *before = malloc(nl * sizeof(float));
    ASSERT(before, "out of memory");
    for (int s = 0; s < 3; s++) {
        step_on(m, opt, s, tok);
        ASSERT(lp_model_forward(m, tok, B, T) == 0, "%s", lp_model_error(m));
        ASSERT(lp_model_logits_copy(m, before) == 0, "%s", lp_model_error(m));
        lp_model_params_changed(m);
        ASSERT(lp_model_forward(m, tok, B, T) == 0, "%s", lp_model_error(m));
        float *lg = fx_logits_host(m, nl);
        ASSERT(!memcmp(before, lg, nl * sizeof(float)),
               "step %d: logits through the optimizer's bf16 head differ from a rebuilt head", s);
        free(lg);
    }
    printf("bf16 LM head written by AdamW = rebuilt from wte (3 steps, bitwise)\n");
    /* one more step, then decoding reads wte's own bf16 copy, which the
     * optimizer skipped: it must be remade, so the prefill's last-position
     * logits match the full forward's up to bf16 rounding */
    step_on(m, opt, 3, tok);
    lp_kv_cache *kv = lp_kv_cache_create(m, B, T);
    ASSERT(kv, "%s", lp_model_error(m));
    int32_t lens[B];
    for (int b = 0; b < B; b++) lens[b] = T;
    float *pre = malloc((size_t)B * V * sizeof(float));
    ASSERT(pre, "out of memory");
    ASSERT(lp_model_prefill(m, kv, tok, lens, T, pre) == 0, "%s", lp_model_error(m));
    ASSERT(lp_model_forward(m, tok, B, T) == 0, "%s", lp_model_error(m));
    float *lg = fx_logits_host(m, (size_t)B * T * V);
    double worst = 0, top = 0;
    for (int b = 0; b < B; b++)
        for (int v = 0; v < V; v++) {
            double r = lg[((size_t)b * T + T - 1) * V + v];
            double d = fabs(pre[(size_t)b * V + v] - r);
            worst = d > worst ? d : worst;
            top = fabs(r) > top ? fabs(r) : top;
        }
    printf("bf16 prefill after a step vs full forward: relative %.3g\n", worst / top);
    ASSERT(worst <= 2e-2 * top, "bf16 decode reads a stale head: %.3g of max |logit|", worst / top);
    free(pre);
    free(lg);
    lp_kv_cache_destroy(kv);
    free(before);
    lp_adamw_destroy(opt);
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
}

int main(void) {
    check_head_copy();
    check_lazy_zero_grad(LPK_PREC_FP32);
    check_lazy_zero_grad(LPK_PREC_BF16);
    check_batch_split();
    double l32a[STEPS], l32b[STEPS], l16a[STEPS], l16b[STEPS];
    float *p32a, *p32b, *p16a, *p16b;
    size_t n;
    train(LPK_PREC_FP32, 2, l32a, &p32a, &n);
    train(LPK_PREC_FP32, 2, l32b, &p32b, &n);
    train(LPK_PREC_BF16, 2, l16a, &p16a, &n);
    train(LPK_PREC_BF16, 2, l16b, &p16b, &n);
    ASSERT(!memcmp(l32a, l32b, sizeof l32a) && !memcmp(p32a, p32b, n * sizeof(float)),
           "fp32 runs differ bitwise");
    ASSERT(!memcmp(l16a, l16b, sizeof l16a) && !memcmp(p16a, p16b, n * sizeof(float)),
           "bf16 runs differ bitwise");
    printf("bitwise identical reruns (fp32 and bf16, 2 threads, %d steps)\n", STEPS);
    double worst = 0, mean = 0;
    for (int s = 0; s < STEPS; s++) {
        double d = fabs(l16a[s] - l32a[s]) / l32a[s];
        if (d > worst) worst = d;
        mean += d / STEPS;
        if (s % 8 == 0 || s == STEPS - 1)
            printf("step %2d  loss fp32 %.4f  bf16 %.4f\n", s, l32a[s], l16a[s]);
    }
    printf("bf16 vs fp32 loss: worst relative gap %.3g, mean %.3g\n", worst, mean);
    ASSERT(l32a[STEPS - 1] < 0.6 * l32a[0], "fp32 did not learn: %.3f -> %.3f", l32a[0], l32a[STEPS - 1]);
    ASSERT(l16a[STEPS - 1] < 0.6 * l16a[0], "bf16 did not learn: %.3f -> %.3f", l16a[0], l16a[STEPS - 1]);
    /* the runs diverge slowly (different rounding, same data); the bound is
     * on the whole trajectory, not on chance step-to-step noise */
    ASSERT(worst < 0.1 && mean < 0.02, "bf16 loss drifted from fp32: worst %.3g mean %.3g", worst, mean);
    free(p32a);
    free(p32b);
    free(p16a);
    free(p16b);
    printf("PASS\n");
    return 0;
}
