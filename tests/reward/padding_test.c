/* Scores do not depend on padding: the same sequences (closed by
 * end-of-text, with end-of-text also inside them and as the pad id) scored
 * alone, right padded, left padded, with extra padding and among other
 * companions give the same scores to fp32 tolerance, and the head's
 * gradients of right and left padding agree too. A selection by token id
 * (the first pad = end-of-text, as Hugging Face's GPT2ForSequenceClassification
 * pools) would read another position: the test shows it differs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/model.h"
#include "llmpipe/reward.h"
#include "tests/support/check.h"

#define N   7
#define EOT 63

static int32_t seq[N][40];
static int32_t len[N];

static float rel(float a, float b) { return fabsf(a - b) / (1e-3f + fabsf(b)); }

int main(void) {
    char err[1024];
    lpk_ctx_opts ko = {.backend = "cpu", .num_threads = 1};
    lpk_ctx *ctx = lpk_ctx_create(&ko, err, sizeof err);
    REQUIRE(ctx, "%s", err);
    lp_model_config cfg = {
        .n_layer = 2, .n_head = 2, .n_embd = 32, .vocab_size = 64, .n_ctx = 64, .scalar_head = 1};
    lp_model *m = lp_model_create(&cfg, ctx, err, sizeof err);
    REQUIRE(m, "%s", err);
    REQUIRE(lp_model_init_gpt2(m, 11) == 0 && lp_model_init_scalar_head(m, 0, 12) == 0, "init");
    uint64_t r = 99;
    for (int i = 0; i < N; i++) {
        len[i] = 3 + 5 * i % 31;
        for (int t = 0; t < len[i]; t++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            seq[i][t] = (int32_t)((r >> 33) % 63);
        }
        /* an end-of-text inside (a prompt may have one) and the closing one */
        if (len[i] > 4) seq[i][len[i] / 2] = EOT;
        seq[i][len[i] - 1] = EOT;
    }
    const int32_t *rows[N];
    for (int i = 0; i < N; i++) rows[i] = seq[i];

    /* the reference: each alone, no padding */
    float alone[N], got[N];
    lp_score_batch *b = lp_score_batch_create();
    for (int i = 0; i < N; i++)
        REQUIRE(lp_score_batch_run(b, m, &rows[i], &len[i], 1, 0, 0, EOT, &alone[i], err, sizeof err) == 0,
                "%s", err);
    struct {
        const char *what;
        int T;
        unsigned flags;
    } cases[] = {{"right padded", 0, 0},
                 {"right padded to 64", 64, 0},
                 {"left padded", 0, LP_SCORE_LEFT_PAD},
                 {"left padded to 64", 64, LP_SCORE_LEFT_PAD}};
    float worst = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        REQUIRE(lp_score_batch_run(b, m, rows, len, N, cases[c].T, cases[c].flags, EOT, got, err,
                                   sizeof err) == 0,
                "%s", err);
        for (int i = 0; i < N; i++) {
            float e = rel(got[i], alone[i]);
            if (e > worst) worst = e;
            CHECK(e < 1e-5f, "%s: sequence %d scores %.7g, alone %.7g", cases[c].what, i, got[i], alone[i]);
        }
    }
    /* other companions: a reversed subset, pad id 0 */
    const int32_t *sub[3] = {rows[5], rows[1], rows[3]};
    int32_t sl[3] = {len[5], len[1], len[3]};
    REQUIRE(lp_score_batch_run(b, m, sub, sl, 3, 50, 0, 0, got, err, sizeof err) == 0, "%s", err);
    CHECK(rel(got[0], alone[5]) < 1e-5f && rel(got[1], alone[1]) < 1e-5f && rel(got[2], alone[3]) < 1e-5f,
          "different companions and pad id");
    /* batches of 2 sorted by length */
    REQUIRE(lp_score_sequences(m, rows, len, N, 2, EOT, got, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < N; i++) CHECK(rel(got[i], alone[i]) < 1e-5f, "lp_score_sequences %d", i);
    printf("padding invariance: worst relative difference %.2g over %d sequences x 4 layouts\n", worst, N);

    /* what pooling at the first end-of-text would read instead */
    float first_eot;
    int32_t cut = len[6] / 2 + 1;
    REQUIRE(lp_score_batch_run(b, m, &rows[6], &cut, 1, 0, 0, EOT, &first_eot, err, sizeof err) == 0, "%s",
            err);
    CHECK(fabsf(first_eot - alone[6]) > 1e-4f, "the first end-of-text is another position (%g vs %g)",
          first_eot, alone[6]);

    /* gradients: right and left padding give the same head and trunk gradients */
    float w[N];
    for (int i = 0; i < N; i++) w[i] = (float)(i + 1) / N;
    int np = lp_model_num_params(m);
    const lp_param *wte = lp_model_find_param(m, "transformer.wte.weight");
    const lp_param *head = lp_model_find_param(m, "score.weight");
    int iw = -1, ih = -1;
    for (int i = 0; i < np; i++) {
        if (lp_model_param(m, i) == wte) iw = i;
        if (lp_model_param(m, i) == head) ih = i;
    }
    REQUIRE(iw >= 0 && ih >= 0, "parameters");
    float *g[2][2];
    for (int side = 0; side < 2; side++) {
        lp_model_zero_grad(m);
        REQUIRE(lp_score_batch_run(b, m, rows, len, N, 48, side ? LP_SCORE_LEFT_PAD : 0, EOT, got, err,
                                   sizeof err) == 0 &&
                    lp_score_batch_grad(b, m, w, err, sizeof err) == 0 && lp_model_backward(m) == 0,
                "%s %s", err, lp_model_error(m));
        g[side][0] = malloc(wte->numel * sizeof(float));
        g[side][1] = malloc(head->numel * sizeof(float));
        REQUIRE(lp_model_grad_read(m, iw, g[side][0]) == 0 && lp_model_grad_read(m, ih, g[side][1]) == 0,
                "grad");
    }
    double gmax = 0, dmax = 0;
    for (size_t i = 0; i < wte->numel; i++) {
        gmax = fmax(gmax, fabs(g[0][0][i]));
        dmax = fmax(dmax, fabs(g[0][0][i] - g[1][0][i]));
    }
    for (size_t i = 0; i < head->numel; i++) {
        gmax = fmax(gmax, fabs(g[0][1][i]));
        dmax = fmax(dmax, fabs(g[0][1][i] - g[1][1][i]));
    }
    CHECK(gmax > 0 && dmax <= 1e-5 * gmax, "gradients of right and left padding: max difference %.3g of %.3g",
          dmax, gmax);
    printf("gradients, right vs left padding: max difference %.2g (largest gradient %.2g)\n", dmax, gmax);
    for (int s = 0; s < 2; s++) {
        free(g[s][0]);
        free(g[s][1]);
    }
    lp_score_batch_destroy(b);
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    DONE();
}
