/* Test helper: writes an llmpipe model folder and its logits, or imports a
 * (Hugging Face) folder and prints its logits, so Python can compare both
 * directions against an independent PyTorch GPT-2.
 *   ckpt_tool export DIR SEED n_layer n_head n_embd vocab n_ctx TOKENS LOGITS.bin
 *   ckpt_tool import DIR TOKENS LOGITS.bin
 * TOKENS: comma-separated ids (one sequence). Logits: float32 [T, vocab]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/ckpt.h"
#include "llmpipe/model.h"

static int parse_tokens(const char *s, int32_t *out, int max) {
    int n = 0;
    while (*s && n < max) {
        out[n++] = (int32_t)strtol(s, (char **)&s, 10);
        if (*s == ',') s++;
    }
    return n;
}

static int logits_out(lp_model *m, const char *tokens, const char *path) {
    int32_t tok[1024];
    int T = parse_tokens(tokens, tok, 1024);
    if (lp_model_forward(m, tok, 1, T)) { fprintf(stderr, "%s\n", lp_model_error(m)); return 1; }
    const float *lg = lp_model_logits(m);
    if (!lg) { fprintf(stderr, "%s\n", lp_model_error(m)); return 1; }
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); return 1; }
    fwrite(lg, sizeof(float), (size_t)T * lp_model_get_config(m)->vocab_size, f);
    fclose(f);
    return 0;
}

int main(int argc, char **argv) {
    char err[1024];
    lpk_ctx_opts ko = {.backend = "cpu", .num_threads = 1, .precision = LPK_PREC_FP32};
    lpk_ctx *ctx = lpk_ctx_create(&ko, err, sizeof err);
    if (!ctx) { fprintf(stderr, "%s\n", err); return 1; }
    int rc = 1;
    lp_model *m = NULL;
    if (argc == 11 && !strcmp(argv[1], "export")) {
        lp_model_config c = {atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7]), atoi(argv[8]), 0, 0};
        m = lp_model_create(&c, ctx, err, sizeof err);
        if (!m) { fprintf(stderr, "%s\n", err); goto out; }
        lp_model_init_gpt2(m, strtoull(argv[3], NULL, 10));
        /* non-trivial biases and norms, so a wrong layout cannot hide */
        for (int i = 0; i < lp_model_num_params(m); i++) {
            const lp_param *p = lp_model_param(m, i);
            if (p->ndim == 1)
                for (size_t k = 0; k < p->numel; k++) p->data[k] += 0.05f * (float)((k * 7 + (size_t)i) % 11) - 0.25f;
        }
        lp_model_params_changed(m);
        if (lp_model_export(m, argv[2], 0, NULL, err, sizeof err)) { fprintf(stderr, "%s\n", err); goto out; }
        rc = logits_out(m, argv[9], argv[10]);
    } else if (argc == 5 && !strcmp(argv[1], "import")) {
        lp_model_config c;
        if (lp_model_folder_config(argv[2], &c, err, sizeof err)) { fprintf(stderr, "%s\n", err); goto out; }
        m = lp_model_create(&c, ctx, err, sizeof err);
        if (!m) { fprintf(stderr, "%s\n", err); goto out; }
        if (lp_model_import(m, argv[2], err, sizeof err)) { fprintf(stderr, "%s\n", err); goto out; }
        rc = logits_out(m, argv[3], argv[4]);
    } else {
        fprintf(stderr, "usage: ckpt_tool export DIR SEED L H C V n_ctx TOKENS OUT | import DIR TOKENS OUT\n");
    }
out:
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    return rc;
}
