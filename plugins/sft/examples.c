/* Loading, splitting and tokenizing the SFT records. */
#include "examples.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/mix.h"

static void free_list(lp_sft_tokens *v, size_t n) {
    for (size_t i = 0; i < n; i++) lp_sft_tokens_free(&v[i]);
    free(v);
}

void sft_examples_free(sft_examples *e) {
    free_list(e->train, e->n_train);
    free_list(e->val, e->n_val);
    memset(e, 0, sizeof *e);
}

static int prompt_len(const lp_sft_tokens *t) {
    size_t n = 0;
    while (n < t->n && !t->mask[n]) n++;
    return (int)n;
}

/* One record into out[*n] unless the over-long policy leaves it out. */
static int add(sft_examples *e, const sft_params *p, lp_tokenizer *tok, const lp_prompt_template *tpl,
               const lp_record *r, int T, lp_sft_tokens *out, size_t *n, int is_train, char *err,
               size_t errsz) {
    lp_sft_tokens t;
    if (lp_sft_tokenize(tok, tpl, r, 0, &t, err, errsz)) return -1;
    if (t.n > e->longest) e->longest = t.n;
    if (t.n > (size_t)T) {
        if (!strcmp(p->overlong, "skip")) {
            e->skipped_long++;
            lp_sft_tokens_free(&t);
            return 0;
        }
        if (prompt_len(&t) >= T) {
            e->skipped_prompt++;
            lp_sft_tokens_free(&t);
            return 0;
        }
        t.n = (size_t)T;
        t.truncated = 1;
        e->truncated++;
    }
    if (is_train)
        for (size_t i = 0; i < t.n; i++) e->target_tokens += t.mask[i];
    out[(*n)++] = t;
    return 0;
}

static int load_file(lp_dataset **ds, const char *path, int skip_bad, sft_examples *e, char *err,
                     size_t errsz) {
    if (lp_dataset_load(ds, path, LP_DATA_SFT, skip_bad, err, errsz)) return -1;
    size_t bad = lp_dataset_skipped(*ds);
    if (bad && !e->bad) snprintf(e->first_bad, sizeof e->first_bad, "%s", lp_dataset_first_skip(*ds));
    e->bad += bad;
    if (!lp_dataset_count(*ds)) {
        lp_dataset_destroy(*ds);
        *ds = NULL;
        return lp_errf(err, errsz, "%s: no usable records", path);
    }
    return 0;
}

int sft_examples_load(sft_examples *e, const sft_params *p, lp_tokenizer *tok, const lp_prompt_template *tpl,
                      int T, uint64_t seed, char *err, size_t errsz) {
    memset(e, 0, sizeof *e);
    lp_dataset *ds = NULL, *vds = NULL;
    int rc = -1;
    if (load_file(&ds, p->data, p->skip_bad, e, err, errsz)) return -1;
    if (p->val_data[0] && load_file(&vds, p->val_data, p->skip_bad, e, err, errsz)) goto out;
    size_t n = lp_dataset_count(ds), nv = vds ? lp_dataset_count(vds) : 0;
    e->train = calloc(n, sizeof *e->train);
    e->val = calloc((vds ? nv : n) + 1, sizeof *e->val);
    if (!e->train || !e->val) {
        lp_errf(err, errsz, "sft: out of memory");
        goto out;
    }
    /* a record is held out by a draw of its own, so the split does not move
     * when records are appended to the file */
    uint64_t cut = (uint64_t)(p->val_fraction * 18446744073709551615.0);
    for (size_t i = 0; i < n; i++) {
        int held = !vds && p->val_fraction > 0 && lp_mix64(seed ^ lp_mix64(i + 1)) < cut &&
                   e->n_val < (size_t)p->val_max;
        if (held ? add(e, p, tok, tpl, lp_dataset_get(ds, i), T, e->val, &e->n_val, 0, err, errsz)
                 : add(e, p, tok, tpl, lp_dataset_get(ds, i), T, e->train, &e->n_train, 1, err, errsz))
            goto out;
    }
    for (size_t i = 0; i < nv && e->n_val < (size_t)p->val_max; i++)
        if (add(e, p, tok, tpl, lp_dataset_get(vds, i), T, e->val, &e->n_val, 0, err, errsz)) goto out;
    if (!e->n_train) {
        lp_errf(err, errsz, "%s: no training record fits seq_len %d (%zu over-long)", p->data, T,
                e->skipped_long + e->skipped_prompt);
        goto out;
    }
    rc = 0;
out:
    lp_dataset_destroy(ds);
    lp_dataset_destroy(vds);
    if (rc) sft_examples_free(e);
    return rc;
}
