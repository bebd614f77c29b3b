/* The DPO stage's rows and order: one pair a row as two segments (chosen
 * then rejected, positions restarting), targets on response tokens only;
 * the packed row's sequence log-probabilities and the DPO gradient equal
 * those of each sequence run alone; the per-epoch order visits every pair
 * once and resumes exactly from its saved position. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/model.h"
#include "llmpipe/pref_loss.h"
#include "plugins/dpo/pairs.h"
#include "tests/support/check.h"

enum { V = 40 };

/* A sequence of n tokens whose first p are prompt. */
static lp_sft_tokens seq(size_t n, size_t p, int salt) {
    lp_sft_tokens t = {malloc(n * sizeof(int32_t)), malloc(n), n, 0, p};
    for (size_t i = 0; i < n; i++) {
        t.ids[i] = (int32_t)((i * 7 + (size_t)salt * 13 + 3) % V);
        t.mask[i] = i >= p;
    }
    return t;
}

/* Sum of log p(ids[i+1] | ids[..i]) over response targets, the sequence alone. */
static double alone(lp_model *m, const lp_sft_tokens *t, float *logp, int32_t *tgt) {
    for (size_t i = 0; i < t->n; i++) tgt[i] = (i + 1 < t->n && t->mask[i + 1]) ? t->ids[i + 1] : -1;
    ASSERT(lp_model_forward(m, t->ids, 1, (int)t->n) == 0 && lp_model_logprobs(m, tgt, 1.0f, logp, NULL) == 0,
           "%s", lp_model_error(m));
    double s = 0;
    for (size_t i = 0; i < t->n; i++)
        if (tgt[i] >= 0) s += logp[i];
    return s;
}

static double max_rel(const float *a, const float *b, size_t n) {
    double mx = 0, e = 0;
    for (size_t i = 0; i < n; i++) {
        mx = fmax(mx, fabs(b[i]));
        e = fmax(e, fabs((double)a[i] - b[i]));
    }
    return e / fmax(mx, 1e-30);
}

int main(void) {
    char err[512];
    dpo_pair pairs[3] = {
        {seq(9, 4, 1), seq(6, 4, 2)}, {seq(12, 5, 3), seq(14, 5, 4)}, {seq(5, 2, 5), seq(7, 2, 6)}};
    dpo_rows r;
    memset(&r, 0, sizeof r);
    size_t idx[3] = {0, 1, 2};
    REQUIRE(dpo_rows_build(&r, pairs, idx, 3, 0, err, sizeof err) == 0, "%s", err);
    CHECK(r.B == 3 && r.T == 26, "3 rows of the longest pair's 26 tokens (%d x %d)", r.B, r.T);
    CHECK(r.tokens == 9 + 6 + 12 + 14 + 5 + 7, "tokens that are not padding (%lld)", (long long)r.tokens);
    /* row 0: chosen [0, 9), rejected [9, 15), padding after */
    CHECK(r.seg[0] == 0 && r.seg[8] == 0 && r.seg[9] == 1 && r.seg[14] == 1 && r.seg[15] == -1, "segments");
    CHECK(r.tgt[2] == -1 && r.tgt[3] == pairs[0].c.ids[4] && r.tgt[7] == pairs[0].c.ids[8] && r.tgt[8] == -1,
          "chosen targets: the response tokens, nothing across into the rejected sequence");
    CHECK(r.tgt[9 + 2] == -1 && r.tgt[9 + 3] == pairs[0].r.ids[4] && r.tgt[14] == -1 && r.tgt[25] == -1,
          "rejected targets");

    /* ---- the packed row computes what each sequence alone does */
    lp_model_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 16, .n_ctx = 16, .vocab_size = V};
    lpk_ctx_opts ko = {.backend = "cpu", .num_threads = 1};
    lpk_ctx *ctx = lpk_ctx_create(&ko, err, sizeof err);
    REQUIRE(ctx, "%s", err);
    lp_model *m = lp_model_create(&cfg, ctx, err, sizeof err);
    REQUIRE(m && lp_model_init_gpt2(m, 9) == 0, "%s", err);
    size_t cells = (size_t)r.B * r.T;
    float *logp = malloc(cells * sizeof *logp), *dlogp = malloc(cells * sizeof *dlogp);
    int32_t *tgt = malloc(cells * sizeof *tgt);
    double pc[3], pr[3], dpc[3], dpr[3];
    REQUIRE(lp_model_forward_packed(m, r.ids, r.seg, r.B, r.T) == 0 &&
                lp_model_logprobs(m, r.tgt, 1.0f, logp, NULL) == 0,
            "%s", lp_model_error(m));
    dpo_rows_sums(&r, logp, pc, pr);
    /* a reference 1 nat below and above: gradients of both signs */
    lp_pref_loss_cfg lc = {LP_PREF_DPO, 0.5, 0};
    for (int b = 0; b < 3; b++) lp_pref_loss_pair(&lc, pc[b], pr[b], pc[b] - 1 + b, pr[b], &dpc[b], &dpr[b]);
    dpo_rows_dlogp(&r, dpc, dpr, dlogp);
    lp_model_zero_grad(m);
    REQUIRE(lp_model_logprobs_grad(m, r.tgt, 1.0f, dlogp, NULL) == 0 && lp_model_backward(m) == 0, "%s",
            lp_model_error(m));
    size_t np = lp_model_numel(m);
    float *g_packed = malloc(np * sizeof(float)), *g_alone = malloc(np * sizeof(float));
    for (int i = 0, at = 0; i < lp_model_num_params(m); at += (int)lp_model_param(m, i)->numel, i++)
        lp_model_grad_read(m, i, g_packed + at);
    double worst = 0;
    lp_model_zero_grad(m);
    for (int b = 0; b < 3; b++) {
        const lp_sft_tokens *t2[2] = {&pairs[b].c, &pairs[b].r};
        double want[2] = {pc[b], pr[b]}, up[2] = {dpc[b], dpr[b]};
        for (int k = 0; k < 2; k++) {
            double got = alone(m, t2[k], logp, tgt);
            worst = fmax(worst, fabs(got - want[k]) / fabs(want[k]));
            for (size_t i = 0; i < t2[k]->n; i++) dlogp[i] = tgt[i] >= 0 ? (float)up[k] : 0.0f;
            REQUIRE(lp_model_logprobs_grad(m, tgt, 1.0f, dlogp, NULL) == 0 && lp_model_backward(m) == 0, "%s",
                    lp_model_error(m));
        }
    }
    CHECK(worst < 1e-5, "packed sequence log-probabilities equal the alone ones (rel err %.3g)", worst);
    for (int i = 0, at = 0; i < lp_model_num_params(m); at += (int)lp_model_param(m, i)->numel, i++)
        lp_model_grad_read(m, i, g_alone + at);
    double ge = max_rel(g_packed, g_alone, np);
    printf("packed pair rows vs sequences alone: log-prob rel err %.3g, DPO gradient rel err %.3g\n", worst,
           ge);
    CHECK(ge < 1e-4, "the DPO gradient of packed rows equals the alone one (rel err %.3g)", ge);
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    free(logp);
    free(dlogp);
    free(tgt);
    free(g_packed);
    free(g_alone);
    dpo_rows_free(&r);
    for (int b = 0; b < 3; b++) {
        lp_sft_tokens_free(&pairs[b].c);
        lp_sft_tokens_free(&pairs[b].r);
    }

    /* ---- order */
    dpo_order o, o2;
    REQUIRE(dpo_order_init(&o, 10, 77) == 0 && dpo_order_init(&o2, 10, 77) == 0, "init");
    int seen[10] = {0};
    for (int i = 0; i < 10; i++) seen[dpo_order_next(&o)]++;
    int once = 1;
    for (int i = 0; i < 10; i++) once &= seen[i] == 1;
    CHECK(once, "every pair once an epoch");
    for (int i = 0; i < 3; i++) dpo_order_next(&o); /* into epoch 1 */
    uint8_t st[DPO_ORDER_STATE_SIZE];
    dpo_order_save(&o, st);
    REQUIRE(dpo_order_restore(&o2, st, sizeof st, err, sizeof err) == 0, "%s", err);
    int same = 1;
    for (int i = 0; i < 25; i++) same &= dpo_order_next(&o) == dpo_order_next(&o2);
    CHECK(same, "a restored order continues exactly, across epochs");
    dpo_order_free(&o2);
    REQUIRE(dpo_order_init(&o2, 10, 78) == 0, "init");
    CHECK(dpo_order_restore(&o2, st, sizeof st, err, sizeof err) != 0 && strstr(err, "seed"),
          "other seed: %s", err);
    dpo_order_free(&o);
    dpo_order_free(&o2);
    DONE();
}
