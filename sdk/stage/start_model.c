/* The starting model of a fine-tuning stage: found among the inputs or
 * given by a parameter, with its tokenizer and config checked. */
#include <stdio.h>
#include <string.h>

#include "llmpipe/fsutil.h"
#include "stage_internal.h"

int lp_stage_open_start(const lp_host_services *h, unsigned kinds, const char *fallback,
                        const char *tokenizer, lp_stage_start *st, char *err, size_t errsz) {
    memset(st, 0, sizeof *st);
    st->eot = -1;
    const char *who = lp_stage_name(h);
    lp_stage_inputs in;
    if (lp_stage_find_inputs(h, 0, kinds, &in, err, errsz)) return -1;
    const char *dir = (kinds & LP_INPUT_MODEL) && in.model[0]                 ? in.model
                      : (kinds & LP_INPUT_REWARD_MODEL) && in.reward_model[0] ? in.reward_model
                      : fallback                                              ? fallback
                                                                              : "";
    snprintf(st->dir, sizeof st->dir, "%s", dir);
    if (!st->dir[0] || !(lp_stage_classify(st->dir) & kinds))
        return lp_errf(err, errsz,
                       "stage '%s': no starting model: give an input artifact with a model or set model to a "
                       "model folder (got \"%s\")",
                       who, st->dir);
    const char *dirs[] = {st->dir};
    if (lp_stage_find_tokenizer(h, tokenizer, dirs, 1, st->tok_path, sizeof st->tok_path, err, errsz) ||
        lp_tokenizer_open(&st->tok, st->tok_path, err, errsz))
        return -1;
    if ((st->eot = lp_tokenizer_eot(st->tok)) < 0 || lp_model_folder_config(st->dir, &st->cfg, err, errsz) ||
        lp_tokenizer_vocab_size(st->tok) > st->cfg.vocab_size) {
        if (st->eot < 0)
            lp_errf(err, errsz, "stage '%s': the tokenizer %s has no %s token to close responses with", who,
                    st->tok_path, LP_EOT_TOKEN);
        else if (lp_tokenizer_vocab_size(st->tok) > st->cfg.vocab_size)
            lp_errf(err, errsz, "stage '%s': the tokenizer has %d tokens, the model %s only %d", who,
                    lp_tokenizer_vocab_size(st->tok), st->dir, st->cfg.vocab_size);
        lp_tokenizer_destroy(st->tok);
        st->tok = NULL;
        return -1;
    }
    /* outputs carry a tokenizer.json whatever form the input had */
    snprintf(st->tok_json, sizeof st->tok_json, "%s/tokenizer.json", h->work_dir(h->host));
    if (lp_mkdir_p(h->work_dir(h->host), err, errsz) ||
        lp_tokenizer_save(st->tok, st->tok_json, err, errsz)) {
        lp_tokenizer_destroy(st->tok);
        st->tok = NULL;
        return -1;
    }
    return 0;
}
