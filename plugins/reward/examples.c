/* Loading, tokenizing and splitting the reward stage's records; the epoch
 * order of the training records. */
#include "examples.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/data.h"
#include "llmpipe/error.h"
#include "llmpipe/reward.h"
#include "llmpipe/sampler.h"

static void item_free(rm_item *it) {
    for (int i = 0; i < it->k; i++) free(it->seq ? it->seq[i] : NULL);
    free(it->seq);
    free(it->len);
    free(it->family);
    free(it->flaw);
}

/* FNV-1a of the prompt mixed with the seed: which records are held out. */
static uint64_t prompt_hash(const char *s, uint64_t seed) {
    uint64_t h = 1469598103934665603ull ^ seed;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

typedef struct list {
    rm_item *v;
    size_t n, cap;
} list;

static int push(list *l, rm_item *it) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 256;
        rm_item *v = realloc(l->v, nc * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = nc;
    }
    l->v[l->n++] = *it;
    return 0;
}

/* Tokenizes record r into it; 1 when a sequence kept only its end. */
static int tokenize(rm_item *it, const lp_record *r, int ranked, const rm_params *p, lp_tokenizer *tok,
                    int max_len, char *err, size_t n) {
    memset(it, 0, sizeof *it);
    it->k = ranked ? r->k : 2;
    it->seq = calloc((size_t)it->k, sizeof *it->seq);
    it->len = calloc((size_t)it->k, sizeof *it->len);
    if (!it->seq || !it->len) return lp_errf(err, n, "reward: out of memory");
    int cut = 0;
    it->margin = !ranked && r->has_margin ? (float)(r->margin * p->margin_scale) : 0.0f;
    for (int i = 0; i < it->k; i++) {
        const char *resp = ranked ? r->responses[i] : (i == 0 ? r->chosen : r->rejected);
        lp_sft_tokens t;
        if (lp_response_tokenize(tok, r->prompt, resp, 0, &t, err, n)) return -1;
        /* the task and the answer are at the end; the closing token stays */
        size_t keep = t.n > (size_t)max_len ? (size_t)max_len : t.n;
        memmove(t.ids, t.ids + (t.n - keep), keep * sizeof *t.ids);
        cut |= keep < t.n;
        it->seq[i] = t.ids;
        it->len[i] = (int32_t)keep;
        free(t.mask);
    }
    return cut;
}

static int load_file(list *out, const char *path, const rm_params *p, lp_tokenizer *tok, int max_len,
                     rm_examples *e, list *held, double frac, uint64_t seed, char *err, size_t n) {
    int ranked = !strcmp(p->data_kind, "ranked");
    lp_dataset *d = NULL;
    lp_record_tags *fam = NULL, *flaw = NULL;
    if (lp_dataset_load(&d, path, ranked ? LP_DATA_RANKED : LP_DATA_PREF, p->skip_bad, err, n) ||
        lp_record_tags_load(&fam, path, "family", err, n) ||
        lp_record_tags_load(&flaw, path, "flaw", err, n)) {
        lp_dataset_destroy(d);
        lp_record_tags_destroy(fam);
        return -1;
    }
    if (lp_dataset_skipped(d) && !e->bad)
        snprintf(e->first_bad, sizeof e->first_bad, "%s", lp_dataset_first_skip(d));
    e->bad += lp_dataset_skipped(d);
    int rc = 0;
    for (size_t i = 0; i < lp_dataset_count(d) && !rc; i++) {
        const lp_record *r = lp_dataset_get(d, i);
        rm_item it;
        int t = tokenize(&it, r, ranked, p, tok, max_len, err, n);
        if (t < 0) {
            item_free(&it);
            rc = -1;
            continue;
        }
        e->truncated += t;
        const char *f = lp_record_tag(fam, i, r->line), *w = lp_record_tag(flaw, i, r->line);
        it.family = f ? strdup(f) : NULL;
        it.flaw = w ? strdup(w) : NULL;
        int to_val = held && (double)(prompt_hash(r->prompt, seed) >> 11) * 0x1.0p-53 < frac;
        if (push(to_val ? held : out, &it)) {
            item_free(&it);
            rc = lp_errf(err, n, "reward: out of memory");
        }
    }
    lp_dataset_destroy(d);
    lp_record_tags_destroy(fam);
    lp_record_tags_destroy(flaw);
    return rc;
}

int rm_examples_load(rm_examples *e, const rm_params *p, lp_tokenizer *tok, int max_len, uint64_t seed,
                     char *err, size_t n) {
    memset(e, 0, sizeof *e);
    list tr = {0}, va = {0};
    int own_val = p->eval_data[0] != 0;
    int rc = load_file(&tr, p->data, p, tok, max_len, e, own_val ? NULL : &va, p->val_fraction, seed, err, n);
    if (!rc && own_val) rc = load_file(&va, p->eval_data, p, tok, max_len, e, NULL, 0, seed, err, n);
    e->train = tr.v;
    e->n_train = tr.n;
    e->val = va.v;
    e->n_val = va.n;
    if (rc) return -1;
    if (!e->n_train) return lp_errf(err, n, "reward: %s: no training records (all held out)", p->data);
    for (size_t i = 0; i < e->n_train; i++)
        for (int j = 0; j < e->train[i].k; j++) e->tokens += e->train[i].len[j];
    return 0;
}

void rm_examples_free(rm_examples *e) {
    for (size_t i = 0; i < e->n_train; i++) item_free(&e->train[i]);
    for (size_t i = 0; i < e->n_val; i++) item_free(&e->val[i]);
    free(e->train);
    free(e->val);
    memset(e, 0, sizeof *e);
}

/* ---- epoch order ---------------------------------------------------------- */

static void shuffle(rm_order *o) {
    lp_rng r;
    lp_rng_seed(&r, o->seed ^ (0x9e3779b97f4a7c15ull * (o->epoch + 1)));
    for (size_t i = 0; i < o->n; i++) o->idx[i] = i;
    for (size_t i = o->n; i > 1; i--) {
        size_t j = (size_t)(lp_rng_u64(&r) % i);
        size_t t = o->idx[i - 1];
        o->idx[i - 1] = o->idx[j];
        o->idx[j] = t;
    }
}

int rm_order_init(rm_order *o, size_t n, uint64_t seed) {
    memset(o, 0, sizeof *o);
    o->n = n;
    o->seed = seed;
    if (!(o->idx = malloc((n ? n : 1) * sizeof *o->idx))) return -1;
    shuffle(o);
    return 0;
}

void rm_order_free(rm_order *o) { free(o->idx); }

size_t rm_order_next(rm_order *o) {
    if (o->pos == o->n) {
        o->epoch++;
        o->pos = 0;
        shuffle(o);
    }
    return o->idx[o->pos++];
}

void rm_order_save(const rm_order *o, uint8_t st[RM_ORDER_STATE_SIZE]) {
    uint64_t v[4] = {o->seed, (uint64_t)o->n, o->epoch, (uint64_t)o->pos};
    memcpy(st, v, sizeof v);
}

int rm_order_restore(rm_order *o, const void *st, size_t len, char *err, size_t n) {
    uint64_t v[4];
    if (len != sizeof v)
        return lp_errf(err, n, "reward: batch position of %zu bytes, expected %zu", len, sizeof v);
    memcpy(v, st, sizeof v);
    if (v[0] != o->seed || v[1] != (uint64_t)o->n || v[3] > v[1])
        return lp_errf(err, n, "reward: the checkpoint's batch position is for another seed or data set");
    o->epoch = v[2];
    shuffle(o);
    o->pos = (size_t)v[3];
    return 0;
}
