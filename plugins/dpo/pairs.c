/* Loading, splitting and tokenizing the DPO pairs; their order and rows. */
#include "pairs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/error.h"
#include "llmpipe/le64.h"
#include "llmpipe/mix.h"

void dpo_pairs_free(dpo_pairs *e) {
    for (size_t i = 0; i < e->n_train; i++) {
        lp_sft_tokens_free(&e->train[i].c);
        lp_sft_tokens_free(&e->train[i].r);
    }
    for (size_t i = 0; i < e->n_val; i++) {
        lp_sft_tokens_free(&e->val[i].c);
        lp_sft_tokens_free(&e->val[i].r);
    }
    free(e->train);
    free(e->val);
    memset(e, 0, sizeof *e);
}

/* One sequence cut to T under the over-long policy: 0 kept, 1 the pair
 * must go (counted by the caller through *why), -1 error. */
static int tokenize_one(dpo_pairs *e, const dpo_params *p, lp_tokenizer *tok, const char *prompt,
                        const char *resp, int T, lp_sft_tokens *out, int *why, char *err, size_t errsz) {
    if (lp_response_tokenize(tok, prompt, resp, 0, out, err, errsz)) return -1;
    if (out->n > e->longest) e->longest = out->n;
    if (out->n <= (size_t)T) return 0;
    if (!strcmp(p->overlong, "skip")) {
        *why = 1;
        return 1;
    }
    if (out->prompt_n >= (size_t)T) {
        *why = 2;
        return 1;
    }
    out->n = (size_t)T;
    out->truncated = 1;
    return 0;
}

typedef struct pair_list {
    dpo_pair *v;
    size_t n, cap;
} pair_list;

/* One pair into list unless the over-long policy leaves it out. */
static int add_pair(dpo_pairs *e, const dpo_params *p, lp_tokenizer *tok, const char *prompt, const char *ch,
                    const char *rej, int T, pair_list *list, int is_train, char *err, size_t errsz) {
    dpo_pair q;
    memset(&q, 0, sizeof q);
    int why = 0, rc = tokenize_one(e, p, tok, prompt, ch, T, &q.c, &why, err, errsz);
    if (rc == 0) rc = tokenize_one(e, p, tok, prompt, rej, T, &q.r, &why, err, errsz);
    if (rc) {
        lp_sft_tokens_free(&q.c);
        lp_sft_tokens_free(&q.r);
        if (rc < 0) return -1;
        if (why == 1)
            e->skipped_long++;
        else
            e->skipped_prompt++;
        return 0;
    }
    e->truncated += (size_t)(q.c.truncated + q.r.truncated);
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 256;
        dpo_pair *v = realloc(list->v, cap * sizeof *v);
        if (!v) {
            lp_sft_tokens_free(&q.c);
            lp_sft_tokens_free(&q.r);
            return lp_errf(err, errsz, "dpo: out of memory");
        }
        list->v = v;
        list->cap = cap;
    }
    for (size_t i = 0; is_train && i < q.c.n; i++) e->target_tokens += q.c.mask[i];
    for (size_t i = 0; is_train && i < q.r.n; i++) e->target_tokens += q.r.mask[i];
    list->v[list->n++] = q;
    return 0;
}

/* Every pair of one record: the pair itself, or a ranked list's pairs. */
static int add_record(dpo_pairs *e, const dpo_params *p, lp_tokenizer *tok, const lp_record *r, int T,
                      pair_list *list, int is_train, char *err, size_t errsz) {
    if (r->chosen)
        return add_pair(e, p, tok, r->prompt, r->chosen, r->rejected, T, list, is_train, err, errsz);
    int adjacent = !strcmp(p->ranked_pairs, "adjacent");
    for (int i = 0; i < r->k; i++)
        for (int j = i + 1; j < r->k && (!adjacent || j == i + 1); j++) {
            size_t before = list->n;
            if (add_pair(e, p, tok, r->prompt, r->responses[i], r->responses[j], T, list, is_train, err,
                         errsz))
                return -1;
            if (is_train) e->from_ranked += list->n - before;
        }
    return 0;
}

static int load_file(lp_dataset **ds, const char *path, lp_data_kind kind, int skip_bad, dpo_pairs *e,
                     char *err, size_t errsz) {
    if (lp_dataset_load(ds, path, kind, skip_bad, err, errsz)) return -1;
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

static uint64_t fingerprint(const pair_list *l, uint64_t h) {
    for (size_t i = 0; i < l->n; i++) {
        h = lp_mix64(h ^ lp_fnv1a64(l->v[i].c.ids, l->v[i].c.n * sizeof(int32_t)));
        h = lp_mix64(h ^ lp_fnv1a64(l->v[i].r.ids, l->v[i].r.n * sizeof(int32_t)));
    }
    return h;
}

int dpo_pairs_load(dpo_pairs *e, const dpo_params *p, lp_tokenizer *tok, int T, uint64_t seed, char *err,
                   size_t errsz) {
    memset(e, 0, sizeof *e);
    lp_dataset *ds[2] = {NULL, NULL}, *vds = NULL;
    const char *paths[2] = {p->data, p->ranked_data};
    const lp_data_kind kinds[2] = {LP_DATA_PREF, LP_DATA_RANKED};
    pair_list tr = {0}, va = {0};
    int rc = -1;
    for (int f = 0; f < 2; f++)
        if (paths[f][0] && load_file(&ds[f], paths[f], kinds[f], p->skip_bad, e, err, errsz)) goto out;
    if (p->val_data[0] && load_file(&vds, p->val_data, LP_DATA_PREF, p->skip_bad, e, err, errsz)) goto out;
    /* a record is held out by a draw of its own, so the split does not move
     * when records are appended; a ranked list is held out whole so that no
     * held-out prompt is trained on */
    uint64_t cut = (uint64_t)(p->val_fraction * 18446744073709551615.0);
    for (int f = 0; f < 2; f++) {
        size_t n = ds[f] ? lp_dataset_count(ds[f]) : 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t draw = lp_mix64(seed ^ lp_mix64(i + 1 + ((uint64_t)f << 40)));
            int held = !vds && p->val_fraction > 0 && draw < cut && va.n < (size_t)p->val_max;
            if (!held && p->max_pairs && tr.n >= (size_t)p->max_pairs) continue;
            if (add_record(e, p, tok, lp_dataset_get(ds[f], i), T, held ? &va : &tr, !held, err, errsz))
                goto out;
        }
    }
    for (size_t i = 0; vds && i < lp_dataset_count(vds) && va.n < (size_t)p->val_max; i++)
        if (add_record(e, p, tok, lp_dataset_get(vds, i), T, &va, 0, err, errsz)) goto out;
    if (va.n > (size_t)p->val_max) {
        for (size_t i = (size_t)p->val_max; i < va.n; i++) {
            lp_sft_tokens_free(&va.v[i].c);
            lp_sft_tokens_free(&va.v[i].r);
        }
        va.n = (size_t)p->val_max;
    }
    if (p->max_pairs && tr.n > (size_t)p->max_pairs) { /* a ranked list's pairs overshoot */
        for (size_t i = (size_t)p->max_pairs; i < tr.n; i++) {
            lp_sft_tokens_free(&tr.v[i].c);
            lp_sft_tokens_free(&tr.v[i].r);
        }
        tr.n = (size_t)p->max_pairs;
    }
    if (!tr.n) {
        lp_errf(err, errsz, "%s: no training pair fits seq_len %d (%zu over-long)",
                p->data[0] ? p->data : p->ranked_data, T, e->skipped_long + e->skipped_prompt);
        goto out;
    }
    e->fingerprint = fingerprint(&va, fingerprint(&tr, 0x6470u));
    rc = 0;
out:
    e->train = tr.v;
    e->n_train = tr.n;
    e->val = va.v;
    e->n_val = va.n;
    for (int f = 0; f < 2; f++) lp_dataset_destroy(ds[f]);
    lp_dataset_destroy(vds);
    if (rc) dpo_pairs_free(e);
    return rc;
}

/* ---- order ---------------------------------------------------------------- */

static void shuffle(dpo_order *o) {
    for (size_t i = 0; i < o->n; i++) o->perm[i] = i;
    uint64_t s = lp_mix64(o->seed ^ lp_mix64(o->epoch + 0x5eed));
    for (size_t i = o->n; i > 1; i--) {
        size_t j = (size_t)(lp_splitmix64(&s) % i), t = o->perm[i - 1];
        o->perm[i - 1] = o->perm[j];
        o->perm[j] = t;
    }
}

int dpo_order_init(dpo_order *o, size_t n, uint64_t seed) {
    memset(o, 0, sizeof *o);
    if (!(o->perm = malloc((n ? n : 1) * sizeof *o->perm))) return -1;
    o->n = n;
    o->seed = seed;
    shuffle(o);
    return 0;
}

void dpo_order_free(dpo_order *o) {
    free(o->perm);
    memset(o, 0, sizeof *o);
}

size_t dpo_order_next(dpo_order *o) {
    if (o->pos == o->n) {
        o->epoch++;
        o->pos = 0;
        shuffle(o);
    }
    return o->perm[o->pos++];
}

void dpo_order_save(const dpo_order *o, uint8_t st[DPO_ORDER_STATE_SIZE]) {
    lp_put_le64(st, o->n);
    lp_put_le64(st + 8, o->seed);
    lp_put_le64(st + 16, o->epoch);
    lp_put_le64(st + 24, o->pos);
}

int dpo_order_restore(dpo_order *o, const uint8_t *st, size_t len, char *err, size_t errsz) {
    if (len != DPO_ORDER_STATE_SIZE || lp_get_le64(st) != o->n || lp_get_le64(st + 8) != o->seed ||
        lp_get_le64(st + 24) > o->n)
        return lp_errf(
            err, errsz,
            "dpo: the saved pair order is from another data set or seed (%zu pairs, seed %llu now)", o->n,
            (unsigned long long)o->seed);
    o->epoch = lp_get_le64(st + 16);
    o->pos = (size_t)lp_get_le64(st + 24);
    shuffle(o);
    return 0;
}

/* ---- rows ------------------------------------------------------------------- */

void dpo_rows_free(dpo_rows *r) {
    free(r->ids);
    free(r->seg);
    free(r->tgt);
    memset(r, 0, sizeof *r);
}

/* One sequence into row cells [at, at + n): seg s, targets where the next
 * token of the same sequence is a response token. */
static void put_seq(dpo_rows *r, size_t at, const lp_sft_tokens *t, int s) {
    for (size_t i = 0; i < t->n; i++) {
        r->ids[at + i] = t->ids[i];
        r->seg[at + i] = s;
        r->tgt[at + i] = (i + 1 < t->n && t->mask[i + 1]) ? t->ids[i + 1] : -1;
    }
}

int dpo_rows_build(dpo_rows *r, const dpo_pair *pairs, const size_t *idx, int n, int32_t pad, char *err,
                   size_t errsz) {
    size_t T = 1;
    for (int b = 0; b < n; b++) {
        const dpo_pair *q = &pairs[idx[b]];
        if (q->c.n + q->r.n > T) T = q->c.n + q->r.n;
    }
    size_t cells = (size_t)n * T;
    if (cells > r->cap) {
        int32_t *a = realloc(r->ids, cells * sizeof *a), *s = a ? realloc(r->seg, cells * sizeof *s) : NULL,
                *g = s ? realloc(r->tgt, cells * sizeof *g) : NULL;
        if (a) r->ids = a;
        if (s) r->seg = s;
        if (!g) return lp_errf(err, errsz, "dpo: out of memory for %zu row cells", cells);
        r->tgt = g;
        r->cap = cells;
    }
    r->B = n;
    r->T = (int)T;
    r->tokens = 0;
    for (int b = 0; b < n; b++) {
        const dpo_pair *q = &pairs[idx[b]];
        size_t at = (size_t)b * T;
        put_seq(r, at, &q->c, 0);
        put_seq(r, at + q->c.n, &q->r, 1);
        for (size_t i = q->c.n + q->r.n; i < T; i++) {
            r->ids[at + i] = pad;
            r->seg[at + i] = -1;
            r->tgt[at + i] = -1;
        }
        r->tokens += (int64_t)(q->c.n + q->r.n);
    }
    return 0;
}

void dpo_rows_sums(const dpo_rows *r, const float *logp, double *pc, double *pr) {
    for (int b = 0; b < r->B; b++) {
        double s[2] = {0, 0};
        for (size_t i = (size_t)b * r->T; i < (size_t)(b + 1) * r->T; i++)
            if (r->tgt[i] >= 0) s[r->seg[i]] += logp[i];
        pc[b] = s[0];
        pr[b] = s[1];
    }
}

void dpo_rows_dlogp(const dpo_rows *r, const double *dpc, const double *dpr, float *dlogp) {
    for (int b = 0; b < r->B; b++)
        for (size_t i = (size_t)b * r->T; i < (size_t)(b + 1) * r->T; i++)
            dlogp[i] = r->tgt[i] < 0 ? 0.0f : (float)(r->seg[i] == 0 ? dpc[b] : dpr[b]);
}
