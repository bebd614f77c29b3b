/* Writes a randomly initialised GPT as a model folder whose end-of-text
 * token is never (or always) the likeliest: "never" keeps every answer
 * running to its budget, which is what proving streaming and Ctrl-C needs;
 * "always" ends every answer at once.
 *
 * How: the final LayerNorm's bias becomes 1 everywhere and end-of-text's
 * (tied) embedding row -1 (or +1) everywhere. Its logit is then
 * sum(gain * xhat + 1) * -1 = -n_embd whatever the input, since a
 * normalised xhat sums to zero; other logits stay within a fraction of 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/ckpt.h"
#include "llmpipe/model.h"
#include "llmpipe/tokenizer.h"

static int param_index(lp_model *m, const char *name) {
    for (int i = 0; i < lp_model_num_params(m); i++)
        if (!strcmp(lp_model_param(m, i)->name, name)) return i;
    return -1;
}

static int steer_eot(lp_model *m, int32_t eot, float sign, char *err, size_t errsz) {
    int ib = param_index(m, "transformer.ln_f.bias"), iw = param_index(m, "transformer.wte.weight");
    if (ib < 0 || iw < 0 || eot < 0) {
        snprintf(err, errsz, "no ln_f.bias, wte.weight or end-of-text token");
        return -1;
    }
    const lp_param *b = lp_model_param(m, ib), *w = lp_model_param(m, iw);
    int C = (int)b->numel;
    float *hb = malloc(sizeof *hb * b->numel), *hw = malloc(sizeof *hw * w->numel);
    int rc = -1;
    if (hb && hw && !lp_model_param_read(m, iw, hw)) {
        for (int i = 0; i < C; i++) {
            hb[i] = 1.0f;
            hw[(size_t)eot * C + i] = sign;
        }
        rc = lp_model_param_write(m, ib, hb) || lp_model_param_write(m, iw, hw) ? -1 : 0;
    }
    if (rc) snprintf(err, errsz, "cannot set the parameters");
    free(hb);
    free(hw);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(
            stderr,
            "usage: make_chat_model OUT_DIR TOKENIZER_JSON LAYERS HEADS EMBD CTX SEED never|always|random\n");
        return 2;
    }
    char err[1024];
    lp_tokenizer *tok = NULL;
    if (lp_tokenizer_open(&tok, argv[2], err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    lp_model_config cfg = {.n_layer = atoi(argv[3]),
                           .n_head = atoi(argv[4]),
                           .n_embd = atoi(argv[5]),
                           .n_ctx = atoi(argv[6]),
                           .vocab_size = lp_tokenizer_vocab_size(tok)};
    lpk_ctx_opts ko = {.backend = "cpu", .num_threads = 1};
    lpk_ctx *ctx = lpk_ctx_create(&ko, err, sizeof err);
    lp_model *m = ctx ? lp_model_create(&cfg, ctx, err, sizeof err) : NULL;
    int rc = m == NULL;
    if (m) {
        lp_model_init_gpt2(m, (uint64_t)atoll(argv[7]));
        const char *mode = argv[8];
        if (strcmp(mode, "random") != 0)
            rc = steer_eot(m, lp_tokenizer_eot(tok), !strcmp(mode, "always") ? 1.0f : -1.0f, err, sizeof err);
        if (!rc) rc = lp_model_export(m, argv[1], lp_tokenizer_eot(tok), argv[2], err, sizeof err) != 0;
    }
    if (rc) fprintf(stderr, "%s\n", err);
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    lp_tokenizer_destroy(tok);
    return rc;
}
