/* A frozen model (lp_model_create_frozen) against a trainable one of the
 * same config and weights: logits, hidden states, values, loss and decoding
 * equal bit for bit; no gradient memory; activation memory that does not
 * grow with n_layer (the trainable model's does); gradient work refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmpipe/model.h>
#include <llmpipe/optim.h>
#include <llmpipe/sampler.h>

#include "tests/support/check.h"

enum { B = 2, T = 16, V = 97, C = 32 };

static lp_model *make(lpk_ctx *ctx, int L, int frozen) {
    lp_model_config cfg = {
        .n_layer = L, .n_head = 4, .n_embd = C, .vocab_size = V, .n_ctx = 32, .scalar_head = 1};
    char err[256];
    lp_model *m = frozen ? lp_model_create_frozen(&cfg, ctx, err, sizeof err)
                         : lp_model_create(&cfg, ctx, err, sizeof err);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    lp_model_init_gpt2(m, 5);
    lp_model_init_scalar_head(m, 0, 6);
    return m;
}

static int same(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }

/* Both models' outputs on one batch; their memory after it in *mt, *mf. */
static int compare(lpk_ctx *ctx, int L, const char *prec, lp_model_memory *mt, lp_model_memory *mf) {
    lp_model *t = make(ctx, L, 0), *f = make(ctx, L, 1);
    int32_t tok[B * T], tgt[B * T];
    for (int i = 0; i < B * T; i++) tok[i] = (i * 37 + 11) % V, tgt[i] = (i * 53 + 7) % V;
    static float lt[B * T * V], lf[B * T * V], ht[B * T * C], hf[B * T * C], vt[B * T], vf[B * T];
    REQUIRE(lp_model_forward(t, tok, B, T) == 0 && lp_model_forward(f, tok, B, T) == 0, "%s %s",
            lp_model_error(t), lp_model_error(f));
    REQUIRE(lp_model_logits_copy(t, lt) == 0 && lp_model_logits_copy(f, lf) == 0, "%s", lp_model_error(f));
    CHECK(same(lt, lf, sizeof lt / sizeof *lt), "%s L=%d: frozen logits differ", prec, L);
    REQUIRE(lp_model_hidden_copy(t, ht) == 0 && lp_model_hidden_copy(f, hf) == 0, "%s", lp_model_error(f));
    CHECK(same(ht, hf, sizeof ht / sizeof *ht), "%s L=%d: frozen hidden states differ", prec, L);
    REQUIRE(lp_model_values(t, vt) == 0 && lp_model_values(f, vf) == 0, "%s", lp_model_error(f));
    CHECK(same(vt, vf, B * T), "%s L=%d: frozen values differ", prec, L);
    double a, b;
    REQUIRE(
        lp_model_lm_loss(t, tgt, NULL, 0, NULL, &a) == 0 && lp_model_lm_loss(f, tgt, NULL, 0, NULL, &b) == 0,
        "%s", lp_model_error(f));
    CHECK(a == b, "%s L=%d: loss %.9g vs frozen %.9g", prec, L, a, b);
    lp_model_memory_usage(t, mt);
    lp_model_memory_usage(f, mf);

    /* gradient work is refused with a message that says why */
    CHECK(lp_model_backward(f) != 0 && strstr(lp_model_error(f), "frozen"), "backward: %s",
          lp_model_error(f));
    CHECK(lp_model_values_grad(f, vf) != 0 && strstr(lp_model_error(f), "frozen"), "values grad: %s",
          lp_model_error(f));
    CHECK(lp_adamw_create(f, &(lp_adamw_config){.lr = 1e-3f}) == NULL && strstr(lp_model_error(f), "frozen"),
          "optimizer: %s", lp_model_error(f));
    float g[C];
    CHECK(lp_model_grad_read(f, 0, g) != 0, "grad read of a frozen model");
    CHECK(lp_model_backward(t) == 0, "trainable backward: %s", lp_model_error(t));

    /* decoding: the prefill copies each block's keys and values before the
     * next block reuses the frozen model's buffers */
    int32_t prompts[2 * 6] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0}, lens[2] = {6, 3}, ot[2 * 8], of[2 * 8],
                        nt[2], nf[2];
    lp_generate_opts go = {.sampling = {0, 0, 0}, .seed = 1, .max_new = 8};
    REQUIRE(lp_generate(t, prompts, lens, 2, 6, &go, ot, nt) == 0 &&
                lp_generate(f, prompts, lens, 2, 6, &go, of, nf) == 0,
            "%s %s", lp_model_error(t), lp_model_error(f));
    CHECK(nt[0] == nf[0] && nt[1] == nf[1] && !memcmp(ot, of, sizeof ot),
          "%s L=%d: frozen greedy decoding differs", prec, L);
    lp_model_destroy(t);
    lp_model_destroy(f);
    return 0;
}

int main(void) {
    for (int bf16 = 0; bf16 < 2; bf16++) {
        const char *prec = bf16 ? "bf16" : "fp32";
        char err[256];
        lpk_ctx *ctx = lpk_ctx_create(
            &(lpk_ctx_opts){.num_threads = 2, .precision = bf16 ? LPK_PREC_BF16 : LPK_PREC_FP32}, err,
            sizeof err);
        REQUIRE(ctx, "%s", err);
        lp_model_memory t1, f1, t4, f4;
        if (compare(ctx, 1, prec, &t1, &f1) || compare(ctx, 4, prec, &t4, &f4)) return 1;
        printf("%s, B=%d T=%d C=%d V=%d, bytes after one forward (weights / grads / activations):\n", prec, B,
               T, C, V);
        printf("  n_layer=1 trainable %zu / %zu / %zu   frozen %zu / %zu / %zu\n", t1.weights, t1.grads,
               t1.activations, f1.weights, f1.grads, f1.activations);
        printf("  n_layer=4 trainable %zu / %zu / %zu   frozen %zu / %zu / %zu\n", t4.weights, t4.grads,
               t4.activations, f4.weights, f4.grads, f4.activations);
        CHECK(f1.grads == 0 && f4.grads == 0 && t1.grads > 0 && t4.grads > t1.grads, "gradient bytes");
        CHECK(f1.weights == t1.weights && f4.weights == t4.weights, "weights the same");
        CHECK(f4.activations == f1.activations, "frozen activations grow with n_layer: %zu -> %zu",
              f1.activations, f4.activations);
        CHECK(t4.activations > t1.activations && f4.activations < t4.activations,
              "trainable activations %zu -> %zu, frozen %zu", t1.activations, t4.activations, f4.activations);
        lpk_ctx_destroy(ctx);
    }
    DONE();
}
