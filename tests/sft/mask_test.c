/* The SFT loss mask, end to end through the stage's data path (template,
 * lp_sft_tokenize, lp_sft_batcher) and the model's loss: the forward pass
 * always sees the same tokens, and the labels come from a copy of the
 * example whose tokens were changed. Changing the labels of prompt tokens
 * changes neither the loss nor any gradient (bit for bit); changing the
 * label of one response token, or of the closing end-of-text, changes both.
 * Checked packed and padded. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/data.h"
#include "llmpipe/model.h"
#include "llmpipe/tokenizer.h"
#include "tests/support/check.h"

static lpk_ctx *ctx;
static lp_model *m;
static size_t nparams;

/* loss and every gradient for inputs x and the labels of example lab */
static double loss_grads(const lp_sft_tokens *x, const lp_sft_tokens *lab, unsigned flags, float *g) {
    char err[256];
    lp_sft_batcher *bx, *bl;
    ASSERT(lp_sft_batcher_create(&bx, x, 1, 1, 192, flags, 0, 1, err, sizeof err) == 0, "%s", err);
    ASSERT(lp_sft_batcher_create(&bl, lab, 1, 1, 192, flags, 0, 1, err, sizeof err) == 0, "%s", err);
    lp_sft_batch a, b;
    ASSERT(lp_sft_batcher_next(bx, &a, err, sizeof err) == 0 &&
               lp_sft_batcher_next(bl, &b, err, sizeof err) == 0,
           "%s", err);
    double loss;
    lp_model_zero_grad(m);
    int rc =
        a.seg ? lp_model_forward_packed(m, a.ids, a.seg, a.B, a.T) : lp_model_forward(m, a.ids, a.B, a.T);
    ASSERT(rc == 0 && lp_model_lm_loss(m, b.targets, NULL, (double)b.targets_n, NULL, &loss) == 0 &&
               lp_model_backward(m) == 0,
           "%s", lp_model_error(m));
    size_t at = 0;
    for (int i = 0; i < lp_model_num_params(m); i++) {
        lp_model_grad_read(m, i, g + at);
        at += lp_model_param(m, i)->numel;
    }
    lp_sft_batcher_destroy(bx);
    lp_sft_batcher_destroy(bl);
    return loss;
}

static lp_sft_tokens copy(const lp_sft_tokens *e) {
    lp_sft_tokens c = *e;
    c.ids = malloc(e->n * sizeof *c.ids);
    c.mask = malloc(e->n);
    memcpy(c.ids, e->ids, e->n * sizeof *c.ids);
    memcpy(c.mask, e->mask, e->n);
    return c;
}

static void check_mode(const lp_sft_tokens *ex, unsigned flags, int V) {
    const char *mode = flags & LP_SFT_PACK ? "packed" : "padded";
    float *g0 = malloc(nparams * sizeof *g0), *g1 = malloc(nparams * sizeof *g1);
    double l0 = loss_grads(ex, ex, flags, g0);
    size_t np = 0;
    while (np < ex->n && !ex->mask[np]) np++;
    /* every prompt token's label changed (the first token is no label) */
    lp_sft_tokens c = copy(ex);
    for (size_t i = 1; i < np; i++) c.ids[i] = (c.ids[i] + 17) % V;
    double l1 = loss_grads(ex, &c, flags, g1);
    CHECK(l1 == l0 && !memcmp(g0, g1, nparams * sizeof *g0),
          "%s: prompt labels changed: loss %.9g -> %.9g, gradients equal", mode, l0, l1);
    printf("%s: %zu prompt labels changed: loss %.9g -> %.9g, %zu gradients %s\n", mode, np - 1, l0, l1,
           nparams, memcmp(g0, g1, nparams * sizeof *g0) ? "differ" : "bit for bit equal");
    lp_sft_tokens_free(&c);
    /* one response token's label, then the end-of-text's */
    size_t which[2] = {np + 1, ex->n - 1};
    for (int k = 0; k < 2; k++) {
        c = copy(ex);
        c.ids[which[k]] = (c.ids[which[k]] + 5) % V;
        l1 = loss_grads(ex, &c, flags, g1);
        double diff = 0;
        for (size_t i = 0; i < nparams; i++) diff = fmax(diff, fabs((double)g0[i] - g1[i]));
        printf("%s: %s label changed: loss %.9g -> %.9g, largest gradient change %.3g\n", mode,
               k ? "end-of-text" : "response", l0, l1, diff);
        CHECK(l1 != l0 && diff > 1e-6, "%s: %s label changed: loss %.9g -> %.9g, max gradient change %.3g",
              mode, k ? "end-of-text" : "response", l0, l1, diff);
        lp_sft_tokens_free(&c);
    }
    free(g0);
    free(g1);
}

int main(void) {
    char err[512];
    const char *texts[] = {
        "Below is an instruction that describes a task. Write a response. ### Instruction: "
        "### Input: ### Response: sort the numbers 3, 10, 13 reverse the words"};
    size_t lens[] = {strlen(texts[0])};
    lp_tokenizer *tok;
    lp_tok_train_opts to = {.vocab_size = 300, .min_frequency = 1};
    REQUIRE(lp_tokenizer_train_texts(&tok, texts, lens, 1, &to, err, sizeof err) == 0, "%s", err);
    lp_record r = {
        .instruction = "Sort the numbers in ascending order.", .input = "13, 3, 10", .output = "3, 10, 13"};
    lp_sft_tokens ex;
    REQUIRE(lp_sft_tokenize(tok, lp_alpaca_template(), &r, 0, &ex, err, sizeof err) == 0, "%s", err);
    REQUIRE(ex.n <= 192, "example of %zu tokens", ex.n);
    int V = lp_tokenizer_vocab_size(tok);
    lpk_ctx_opts ko = {.backend = "cpu", .num_threads = 1};
    ctx = lpk_ctx_create(&ko, err, sizeof err);
    REQUIRE(ctx != NULL, "%s", err);
    lp_model_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 16, .vocab_size = V, .n_ctx = 192};
    m = lp_model_create(&cfg, ctx, err, sizeof err);
    REQUIRE(m != NULL && lp_model_init_gpt2(m, 3) == 0, "%s", err);
    nparams = lp_model_numel(m);
    check_mode(&ex, 0, V);
    check_mode(&ex, LP_SFT_PACK, V);
    lp_sft_tokens_free(&ex);
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    lp_tokenizer_destroy(tok);
    DONE();
}
