#include "tests/support/tiny_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/ckpt.h"
#include "llmpipe/data.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/model.h"
#include "llmpipe/tokenizer.h"

int lp_test_tiny_model(const char *dir, const char *tmp_dir, const char *const *files, int nfiles, char *err,
                       size_t n) {
    char tpl[4400], tj[4400];
    const char *all[16];
    if (nfiles > 15) return -1;
    snprintf(tpl, sizeof tpl, "%s/template.txt", tmp_dir);
    FILE *f = fopen(tpl, "w");
    if (!f) return -1;
    for (int i = 0; i < 40; i++)
        fprintf(f, "%s%s", lp_alpaca_template()->with_input, lp_alpaca_template()->no_input);
    fclose(f);
    for (int i = 0; i < nfiles; i++) all[i] = files[i];
    all[nfiles] = tpl;
    lp_tokenizer *t;
    lp_tok_train_opts to = {.vocab_size = 500, .min_frequency = 2};
    if (lp_tokenizer_train(&t, all, nfiles + 1, &to, err, n)) return -1;
    snprintf(tj, sizeof tj, "%s/tokenizer.json", tmp_dir);
    if (lp_tokenizer_save(t, tj, err, n)) {
        lp_tokenizer_destroy(t);
        return -1;
    }
    lp_model_config cfg = {
        .n_layer = 1, .n_head = 2, .n_embd = 32, .n_ctx = 128, .vocab_size = lp_tokenizer_vocab_size(t)};
    lpk_ctx_opts ko = {.backend = "cpu", .num_threads = 1};
    lpk_ctx *ctx = lpk_ctx_create(&ko, err, n);
    lp_model *m = ctx ? lp_model_create(&cfg, ctx, err, n) : NULL;
    int rc = -1;
    if (m && !lp_model_init_gpt2(m, 5) && !lp_mkdir_p(dir, err, n))
        rc = lp_model_export(m, dir, lp_tokenizer_eot(t), tj, err, n);
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    lp_tokenizer_destroy(t);
    return rc;
}

int lp_test_same_file(const char *a, const char *b) {
    size_t na, nb;
    char err[256];
    char *x = lp_read_file(a, &na, err, sizeof err), *y = lp_read_file(b, &nb, err, sizeof err);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}
