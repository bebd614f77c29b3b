/* Test helper: writes an llmpipe model folder and its outputs, or imports a
 * (Hugging Face) folder and prints its outputs, so Python can compare both
 * directions against an independent PyTorch GPT-2.
 *   ckpt_tool export DIR SEED n_layer n_head n_embd vocab n_ctx TOKENS LOGITS.bin
 *   ckpt_tool import DIR TOKENS LOGITS.bin
 *   ckpt_tool export-rm DIR SEED L H C V n_ctx TOKENS VALUES.bin   (reward model:
 *       GPT2ForSequenceClassification; values float32 [T])
 *   ckpt_tool export-vh DIR SEED L H C V n_ctx TOKENS VALUES.bin   (policy with a
 *       value head: GPT2LMHeadModel + value_head.safetensors)
 *   ckpt_tool import-values DIR TOKENS VALUES.bin SEED   (into a model with a
 *       scalar head; prints "score std S" of the imported or drawn head)
 * TOKENS: comma-separated ids (one sequence). Logits: float32 [T, vocab]. */
#include <math.h>
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

static int write_out(const char *path, const float *x, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return 1;
    }
    fwrite(x, sizeof(float), n, f);
    fclose(f);
    return 0;
}

/* logits [T, V] of the LM head, or with values the scalar head at every
 * position [T] */
static int outputs(lp_model *m, const char *tokens, const char *path, int values) {
    int32_t tok[1024];
    int T = parse_tokens(tokens, tok, 1024);
    size_t n = values ? (size_t)T : (size_t)T * lp_model_get_config(m)->vocab_size;
    float *out = malloc(n * sizeof *out);
    int rc = !out || lp_model_forward(m, tok, 1, T) ||
             (values ? lp_model_values(m, out) : lp_model_logits_copy(m, out));
    if (rc)
        fprintf(stderr, "%s\n", lp_model_error(m));
    else
        rc = write_out(path, out, n);
    free(out);
    return rc;
}

/* A GPT-2 init plus non-trivial biases and norms, so a wrong layout cannot
 * hide. */
static lp_model *make(lpk_ctx *ctx, char **argv, int scalar_head, char *err, size_t errsz) {
    lp_model_config c = {
        atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7]), atoi(argv[8]), scalar_head, 0};
    lp_model *m = lp_model_create(&c, ctx, err, errsz);
    if (!m) return NULL;
    uint64_t seed = strtoull(argv[3], NULL, 10);
    if (lp_model_init_gpt2(m, seed) || (scalar_head && lp_model_init_scalar_head(m, 0.3f, seed + 1)))
        goto fail;
    for (int i = 0; i < lp_model_num_params(m); i++) {
        const lp_param *p = lp_model_param(m, i);
        if (p->ndim != 1) continue;
        float *h = malloc(p->numel * sizeof *h);
        int bad = !h || lp_model_param_read(m, i, h);
        for (size_t k = 0; !bad && k < p->numel; k++)
            h[k] += 0.05f * (float)((k * 7 + (size_t)i) % 11) - 0.25f;
        bad = bad || lp_model_param_write(m, i, h);
        free(h);
        if (bad) goto fail;
    }
    return m;
fail:
    snprintf(err, errsz, "%s", lp_model_error(m));
    lp_model_destroy(m);
    return NULL;
}

static double head_std(lp_model *m) {
    const lp_param *p = lp_model_find_param(m, "score.weight");
    float *h = malloc(p->numel * sizeof *h);
    double s = 0;
    if (h && !lp_model_param_read(m, (int)(p - lp_model_param(m, 0)), h))
        for (size_t k = 0; k < p->numel; k++) s += (double)h[k] * h[k];
    free(h);
    return sqrt(s / (double)p->numel);
}

int main(int argc, char **argv) {
    char err[1024];
    lpk_ctx_opts ko = {.backend = "cpu", .num_threads = 1, .precision = LPK_PREC_FP32};
    lpk_ctx *ctx = lpk_ctx_create(&ko, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int rc = 1;
    lp_model *m = NULL;
    const char *cmd = argc > 1 ? argv[1] : "";
    if (argc == 11 && (!strcmp(cmd, "export") || !strcmp(cmd, "export-rm") || !strcmp(cmd, "export-vh"))) {
        int head = strcmp(cmd, "export") != 0;
        if (!(m = make(ctx, argv, head, err, sizeof err))) {
            fprintf(stderr, "%s\n", err);
            goto out;
        }
        lp_export_kind kind = !strcmp(cmd, "export-rm") ? LP_EXPORT_SEQ_CLS : LP_EXPORT_LM;
        int eot = head ? atoi(argv[7]) - 1 : 0;
        if (lp_model_export_as(m, argv[2], kind, eot, NULL, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            goto out;
        }
        rc = outputs(m, argv[9], argv[10], head);
    } else if ((argc == 5 && !strcmp(cmd, "import")) || (argc == 6 && !strcmp(cmd, "import-values"))) {
        lp_model_config c;
        if (lp_model_folder_config(argv[2], &c, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            goto out;
        }
        int values = argc == 6;
        c.scalar_head |= values;
        m = lp_model_create(&c, ctx, err, sizeof err);
        if (!m) {
            fprintf(stderr, "%s\n", err);
            goto out;
        }
        lp_import_opts io = {0, values ? strtoull(argv[5], NULL, 10) : 0};
        if (lp_model_import_ex(m, argv[2], &io, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            goto out;
        }
        if (values) printf("score std %.6f\n", head_std(m));
        rc = outputs(m, argv[3], argv[4], values);
    } else {
        fprintf(stderr,
                "usage: ckpt_tool export|export-rm|export-vh DIR SEED L H C V n_ctx TOKENS OUT | import DIR "
                "TOKENS OUT | import-values DIR TOKENS OUT SEED\n");
    }
out:
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    return rc;
}
