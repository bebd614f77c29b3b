/* lp_model_forward_packed with a shared prefix (seg LP_SEG_SHARED at a
 * row's start): every later example of the row sees the prefix, then
 * itself, with positions continuing after the prefix.
 *  1. each example run alone with the prefix in front (lp_model_forward on
 *     prefix + example): the packed rows' logits (prefix and examples) and
 *     per-token losses equal theirs, and the packed gradients (loss summed)
 *     the sum of theirs: the prefix's activations get every example's
 *     gradient;
 *  2. changing a token of one example changes nothing of the others (their
 *     logits, losses, the gradients of a loss on them, bit for bit), while
 *     changing a prefix token moves every example of its row;
 *  3. errors: a shared token after the prefix, prefix + example longer than
 *     n_ctx.
 * Model weights from tests/reference/packed_fixture.bin (n_ctx 16), rows
 * built here. Usage: prefix_test FIXTURE fp32|bf16. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmpipe/model.h>

#include "fixture.h"

#define B 2
#define T 24

/* row 0: prefix 6, examples 4, 3, 5, padding 6; row 1: prefix 3, examples
 * 7, 1 (one token) and 12 (prefix + it fill 15 of n_ctx 16), padding 1 */
static const int pre_len[B] = {6, 3};
static const int ex_len[B][3] = {{4, 3, 5}, {7, 1, 12}};

static void build_seg(int32_t *seg) {
    for (int b = 0; b < B; b++) {
        int t = 0;
        for (; t < pre_len[b]; t++) seg[b * T + t] = LP_SEG_SHARED;
        for (int e = 0; e < 3; e++)
            for (int k = 0; k < ex_len[b][e]; k++) seg[b * T + t++] = e;
        for (; t < T; t++) seg[b * T + t] = -1;
    }
}

static float *all_grads(lp_model *m) {
    float *g = malloc(lp_model_numel(m) * sizeof *g);
    ASSERT(g, "out of memory");
    size_t at = 0;
    for (int i = 0; i < lp_model_num_params(m); i++) {
        ASSERT(lp_model_grad_read(m, i, g + at) == 0, "%s", lp_model_error(m));
        at += lp_model_param(m, i)->numel;
    }
    return g;
}

static double grads_relerr(lp_model *m, const float *a, const float *b, const char **worst) {
    double w = 0.0;
    size_t at = 0;
    for (int i = 0; i < lp_model_num_params(m); i++) {
        const lp_param *p = lp_model_param(m, i);
        double e = fx_relerr(a + at, b + at, p->numel);
        if (!(e <= w)) {
            w = e;
            *worst = p->name;
        }
        at += p->numel;
    }
    return w;
}

static void packed_step(lp_model *m, const int32_t *tok, const int32_t *seg, const int32_t *tgt,
                        float *logits, float *nll) {
    ASSERT(lp_model_forward_packed(m, tok, seg, B, T) == 0, "%s", lp_model_error(m));
    ASSERT(lp_model_logits_copy(m, logits) == 0, "%s", lp_model_error(m));
    ASSERT(lp_model_lm_loss(m, tgt, NULL, 1.0, nll, NULL) == 0, "%s", lp_model_error(m));
    ASSERT(lp_model_backward(m) == 0, "%s", lp_model_error(m));
}

int main(int argc, char **argv) {
    ASSERT(argc >= 3, "usage: prefix_test FIXTURE fp32|bf16");
    const int bf16 = !strcmp(argv[2], "bf16");
    /* packed against alone: the same arithmetic up to the order of fp32
     * sums (attention over a longer row with zeros in the gap, weight
     * gradients summed over one batch instead of several); in bf16
     * precision a 1-ulp difference can flip an operand's rounding (2^-9),
     * so packed_test's looser bounds */
    const double tl = bf16 ? 1e-2 : 1e-5, tn = bf16 ? 1e-3 : 1e-5, tg = bf16 ? 3e-2 : 1e-5;
    fx_file fx;
    ASSERT(fx_load(&fx, argv[1]) == 0, "cannot load fixture %s", argv[1]);
    const int32_t *cf = fx_i32(&fx, "gpt/config");
    lp_model_config cfg = {
        .n_layer = cf[0], .n_head = cf[1], .n_embd = cf[2], .vocab_size = cf[3], .n_ctx = cf[4]};
    const int V = cf[3], N = B * T;
    ASSERT(cfg.n_ctx == 16, "fixture n_ctx %d, the rows here are built for 16", cfg.n_ctx);
    char err[256];
    lpk_ctx *ctx =
        lpk_ctx_create(&(lpk_ctx_opts){.num_threads = 2, .precision = bf16 ? LPK_PREC_BF16 : LPK_PREC_FP32},
                       err, sizeof err);
    ASSERT(ctx, "%s", err);
    lp_model *m = lp_model_create(&cfg, ctx, err, sizeof err);
    ASSERT(m, "%s", err);
    fx_load_params(&fx, m, "param/");
    printf("%s precision, backend %s%s; B=%d T=%d n_ctx=%d\n", argv[2], lpk_ctx_backend_name(ctx),
           bf16 && !lpk_ctx_has_native_bf16(ctx) ? " (bf16 products not native here)" : "", B, T, cfg.n_ctx);

    int32_t tok[N], seg[N], tgt[N], tgt_o[N], tok2[N];
    build_seg(seg);
    uint32_t r = 12345;
    for (int i = 0; i < N; i++) {
        r = r * 1664525u + 1013904223u;
        tok[i] = (int32_t)((r >> 8) % (uint32_t)V);
    }
    /* targets on example tokens only (the batcher's rule: never on the
     * prefix, whose last token would predict a different token for each
     * example); one example token in three stays a prompt token */
    for (int i = 0; i < N; i++) {
        r = r * 1664525u + 1013904223u;
        tgt[i] = seg[i] >= 0 && i % 3 ? (int32_t)((r >> 8) % (uint32_t)V) : -1;
    }
    float *lg = malloc(sizeof(float) * N * V), *nll = malloc(sizeof(float) * N);
    float *lg2 = malloc(sizeof(float) * N * V), *nll2 = malloc(sizeof(float) * N);
    float *lg1 = malloc(sizeof(float) * 16 * V), *nll1 = malloc(sizeof(float) * 16);
    ASSERT(lg && nll && lg2 && nll2 && lg1 && nll1, "out of memory");

    /* 1. each example alone behind its row's prefix */
    lp_model_zero_grad(m);
    packed_step(m, tok, seg, tgt, lg, nll);
    float *g_packed = all_grads(m);
    lp_model_zero_grad(m);
    double e_lg = 0.0, e_nll = 0.0, e_pre = 0.0;
    int n_ex = 0;
    for (int b = 0; b < B; b++) {
        const int P = pre_len[b];
        for (int e = 0, at = b * T + P; e < 3; at += ex_len[b][e], e++) {
            const int L = ex_len[b][e];
            int32_t t1[16], y1[16];
            memcpy(t1, tok + b * T, sizeof(int32_t) * P);
            memcpy(t1 + P, tok + at, sizeof(int32_t) * L);
            for (int k = 0; k < P; k++) y1[k] = -1;
            memcpy(y1 + P, tgt + at, sizeof(int32_t) * L);
            ASSERT(lp_model_forward(m, t1, 1, P + L) == 0, "%s", lp_model_error(m));
            ASSERT(lp_model_logits_copy(m, lg1) == 0, "%s", lp_model_error(m));
            ASSERT(lp_model_lm_loss(m, y1, NULL, 1.0, nll1, NULL) == 0, "%s", lp_model_error(m));
            ASSERT(lp_model_backward(m) == 0, "%s", lp_model_error(m));
            e_pre = fmax(e_pre, fx_relerr(lg + (size_t)b * T * V, lg1, (size_t)P * V));
            e_lg = fmax(e_lg, fx_relerr(lg + (size_t)at * V, lg1 + (size_t)P * V, (size_t)L * V));
            e_nll = fmax(e_nll, fx_relerr(nll + at, nll1 + P, (size_t)L));
            n_ex++;
        }
    }
    float *g_alone = all_grads(m);
    const char *worst = "";
    double e_g = grads_relerr(m, g_packed, g_alone, &worst);
    printf(
        "alone behind the prefix (%d examples): prefix logits %.3g, example logits %.3g (tol %g), per-token "
        "loss %.3g (tol %g), summed grads worst %.3g (tol %g, %s)\n",
        n_ex, e_pre, e_lg, tl, e_nll, tn, e_g, tg, worst);
    CHECK(e_pre <= tl, "prefix logits differ from the prefix alone: %.3g", e_pre);
    CHECK(e_lg <= tl, "packed logits differ from the examples alone behind the prefix: %.3g", e_lg);
    CHECK(e_nll <= tn, "packed per-token loss differs: %.3g", e_nll);
    CHECK(e_g <= tg, "packed gradients differ from the sum of the examples': %.3g (%s)", e_g, worst);
    /* the prefix matters: without it the examples compute something else */
    int32_t seg_np[N];
    for (int i = 0; i < N; i++) seg_np[i] = seg[i] == LP_SEG_SHARED ? 9 : seg[i];
    ASSERT(lp_model_forward_packed(m, tok, seg_np, B, T) == 0, "%s", lp_model_error(m));
    ASSERT(lp_model_logits_copy(m, lg2) == 0, "%s", lp_model_error(m));
    double moved = fx_relerr(lg2 + 6 * V, lg + 6 * V, (size_t)4 * V);
    printf("example 0 of row 0 with the prefix as a separate segment instead: logits moved by %.3g\n", moved);
    CHECK(moved > 1e-3, "the prefix does not reach the examples (%.3g)", moved);
    free(g_alone);
    free(g_packed);

    /* 2. isolation: a token of row 0's example 1 (tokens 10..12) changes;
     * the loss only on the other examples */
    for (int i = 0; i < N; i++) tgt_o[i] = i >= 10 && i < 13 ? -1 : tgt[i];
    memcpy(tok2, tok, sizeof tok2);
    tok2[11] = (tok2[11] + 1) % V;
    lp_model_zero_grad(m);
    packed_step(m, tok, seg, tgt_o, lg, nll);
    float *g1 = all_grads(m);
    lp_model_zero_grad(m);
    packed_step(m, tok2, seg, tgt_o, lg2, nll2);
    float *g2 = all_grads(m);
    int same = 1;
    for (int i = 0; i < N; i++)
        if (i < 10 || i >= 13)
            same &= !memcmp(lg + (size_t)i * V, lg2 + (size_t)i * V, sizeof(float) * V) && nll[i] == nll2[i];
    CHECK(same, "changing token 11 (row 0, example 1) changed another example's or the prefix's logits/loss");
    CHECK(!memcmp(g1, g2, sizeof(float) * lp_model_numel(m)),
          "changing token 11 changed the gradients of a loss on the other examples");
    double own = fx_relerr(lg2 + 11 * V, lg + 11 * V, (size_t)2 * V);
    printf("isolation: others unchanged bit for bit; example 1's logits from token 11 moved by %.3g\n", own);
    CHECK(own > 1e-3, "example 1's own logits did not change (%.3g): the test cannot see anything", own);
    /* a prefix token reaches every example of its row and no other row */
    memcpy(tok2, tok, sizeof tok2);
    tok2[2] = (tok2[2] + 1) % V;
    ASSERT(lp_model_forward_packed(m, tok2, seg, B, T) == 0, "%s", lp_model_error(m));
    ASSERT(lp_model_logits_copy(m, lg2) == 0, "%s", lp_model_error(m));
    double least = INFINITY;
    for (int e = 0, at = 6; e < 3; at += ex_len[0][e], e++)
        least = fmin(least, fx_relerr(lg2 + (size_t)at * V, lg + (size_t)at * V, (size_t)ex_len[0][e] * V));
    printf("prefix token 2 changed: each row-0 example's logits moved by at least %.3g\n", least);
    CHECK(least > 1e-3, "a prefix token did not reach every example of its row (%.3g)", least);
    CHECK(!memcmp(lg + (size_t)T * V, lg2 + (size_t)T * V, sizeof(float) * T * V),
          "a row-0 prefix token changed row 1");
    free(g1);
    free(g2);

    /* 3. errors */
    int32_t bad[N];
    memcpy(bad, seg, sizeof bad);
    bad[8] = LP_SEG_SHARED;
    CHECK(lp_model_forward_packed(m, tok, bad, B, T) < 0 && strstr(lp_model_error(m), "LP_SEG_SHARED"),
          "a shared token after the prefix: '%s'", lp_model_error(m));
    printf("shared token after the prefix -> '%s'\n", lp_model_error(m));
    memcpy(bad, seg, sizeof bad);
    for (int t = 0; t < 11; t++) bad[T + t] = LP_SEG_SHARED; /* 11 + 12 > 16 */
    for (int t = 11; t < 12; t++) bad[T + t] = 1;
    CHECK(lp_model_forward_packed(m, tok, bad, B, T) < 0 && strstr(lp_model_error(m), "longer than n_ctx"),
          "prefix 11 + example 12 with n_ctx 16: '%s'", lp_model_error(m));
    printf("prefix + example too long -> '%s'\n", lp_model_error(m));

    free(lg);
    free(nll);
    free(lg2);
    free(nll2);
    free(lg1);
    free(nll1);
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    fx_free(&fx);
    DONE();
}
