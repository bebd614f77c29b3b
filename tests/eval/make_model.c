/* Writes a randomly initialised GPT (GPT-2 init, fixed seed) as a model
 * folder with the given tokenizer: the input the eval test decodes with. */
#include <stdio.h>
#include <stdlib.h>

#include "llmpipe/ckpt.h"
#include "llmpipe/model.h"
#include "llmpipe/tokenizer.h"

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr,
                "usage: make_model OUT_DIR TOKENIZER_JSON LAYERS HEADS "
                "EMBD CTX SEED\n");
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
    int rc = 1;
    if (m) {
        lp_model_init_gpt2(m, (uint64_t)atoll(argv[7]));
        rc = lp_model_export(m, argv[1], lp_tokenizer_eot(tok), argv[2], err, sizeof err) != 0;
    }
    if (rc) fprintf(stderr, "%s\n", err);
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    lp_tokenizer_destroy(tok);
    return rc;
}
