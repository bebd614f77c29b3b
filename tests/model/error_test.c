/* The model's error convention: every call clears the message of an earlier
 * one, and a NaN loss or gradient norm is a kernel failure only when the
 * kernel said so, not because an earlier, handled kernel error left a
 * message in the context (the old forward.c read a stale one). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <llmpipe/model.h>

#include "tests/support/check.h"

int main(void) {
    enum { B = 1, T = 8, V = 31 };
    lp_model_config cfg = {.n_layer = 1, .n_head = 2, .n_embd = 16, .vocab_size = V, .n_ctx = T};
    char err[256];
    lpk_ctx *ctx = lpk_ctx_create(&(lpk_ctx_opts){.num_threads = 1}, err, sizeof err);
    REQUIRE(ctx, "%s", err);
    lp_model *m = lp_model_create(&cfg, ctx, err, sizeof err);
    REQUIRE(m, "%s", err);
    int32_t tok[T], tgt[T];
    float w[T];
    for (int i = 0; i < T; i++) tok[i] = i, tgt[i] = (i + 1) % V, w[i] = 1.0f;

    /* a kernel refuses a token outside the vocabulary */
    tok[3] = V + 5;
    CHECK(lp_model_forward(m, tok, B, T) != 0 && lp_model_error(m)[0], "bad token accepted");
    printf("kernel error: %s\n", lp_model_error(m));
    tok[3] = 3;
    CHECK(lp_model_forward(m, tok, B, T) == 0 && !lp_model_error(m)[0], "error not cleared: %s",
          lp_model_error(m));

    /* a NaN weight makes the loss NaN: a value, not a failure */
    w[2] = NAN;
    double loss = 0;
    CHECK(lp_model_lm_loss(m, tgt, w, 0, NULL, &loss) == 0, "NaN loss reported as a failure: %s",
          lp_model_error(m));
    CHECK(isnan(loss) && !lp_model_error(m)[0], "loss %g, error '%s'", loss, lp_model_error(m));
    CHECK(lp_model_backward(m) == 0, "%s", lp_model_error(m));
    double n = lp_model_grad_norm(m);
    CHECK(isnan(n) && !lp_model_error(m)[0], "norm %g, error '%s'", n, lp_model_error(m));

    /* refusals of the model itself name what was expected */
    CHECK(lp_model_forward(m, tok, B, T + 1) != 0 && strstr(lp_model_error(m), "n_ctx"), "%s",
          lp_model_error(m));
    float h[16];
    CHECK(lp_model_param_read(m, 999, h) != 0 && strstr(lp_model_error(m), "parameter index"), "%s",
          lp_model_error(m));
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    DONE();
}
