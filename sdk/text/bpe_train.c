/* BPE training with incremental pair counts: each merge touches only the
 * words that contain the merged pair, found through per-pair word lists,
 * and a lazy max-heap picks the most frequent pair. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text_internal.h"

typedef struct {
    int64_t count;
    uint64_t key; /* a << 32 | b */
    uint64_t tie; /* order among equal counts, see tie_key */
} hentry;

typedef struct {
    int32_t *words; /* word indices, may repeat; deduplicated by stamps */
    int32_t n, cap;
    int64_t count;
    int64_t before; /* count when first touched in the current merge */
    uint64_t key;
    int32_t touched;
} pairinfo;

typedef struct {
    /* word counting */
    lpt_strmap *wmap;
    int64_t *wcount;
    size_t nw, capw;
    /* words as symbol sequences */
    int32_t *sym;
    size_t *off;
    int32_t *len;
    int32_t *stamp;
    /* pairs */
    lpt_u64map pmap; /* key -> index into pairs */
    pairinfo *pairs;
    size_t np, capp;
    hentry *heap;
    size_t hn, hcap;
    int32_t *touched;
    size_t ntouched, captouched;
    int oom;
} trainer;

static int count_piece(void *ctx, const char *w, size_t len) {
    trainer *tr = ctx;
    int ins;
    int32_t *v = lpt_strmap_upsert(tr->wmap, w, len, (int32_t)tr->nw, &ins);
    if (!v) return tr->oom = 1;
    if (ins) {
        if (tr->nw == tr->capw) {
            size_t nc = tr->capw ? tr->capw * 2 : 65536;
            int64_t *n = realloc(tr->wcount, nc * sizeof *n);
            if (!n) return tr->oom = 1;
            tr->wcount = n;
            tr->capw = nc;
        }
        tr->wcount[tr->nw++] = 0;
    }
    tr->wcount[*v]++;
    return 0;
}

static int hless(const hentry *x, const hentry *y) /* x has priority over y */
{
    return x->count > y->count || (x->count == y->count && x->tie < y->tie);
}

/* Equal counts are broken as Hugging Face's trainer does: the pair whose ids
 * are smaller first, with bytes numbered in the order of their byte-level
 * code points and merged tokens after them in creation order. On the same
 * corpus the two trainers then produce the same merges. */
static uint64_t tie_key(uint64_t key) {
    const uint32_t *cp; /* byte-level code points are all < 512 */
    lpt_bytelevel_tables(&cp);
    uint32_t a = (uint32_t)(key >> 32), b = (uint32_t)key;
    a = a < 256 ? cp[a] : a + 512;
    b = b < 256 ? cp[b] : b + 512;
    return (uint64_t)a << 32 | b;
}

static int hpush(trainer *tr, int64_t count, uint64_t key) {
    if (tr->hn == tr->hcap) {
        size_t nc = tr->hcap ? tr->hcap * 2 : 65536;
        hentry *n = realloc(tr->heap, nc * sizeof *n);
        if (!n) return tr->oom = 1;
        tr->heap = n;
        tr->hcap = nc;
    }
    hentry e = {count, key, tie_key(key)};
    size_t i = tr->hn++;
    while (i) {
        size_t p = (i - 1) / 2;
        if (!hless(&e, &tr->heap[p])) break;
        tr->heap[i] = tr->heap[p];
        i = p;
    }
    tr->heap[i] = e;
    return 0;
}

static hentry hpop(trainer *tr) {
    hentry top = tr->heap[0], v = tr->heap[--tr->hn];
    size_t i = 0, n = tr->hn;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && hless(&tr->heap[c + 1], &tr->heap[c])) c++;
        if (!hless(&tr->heap[c], &v)) break;
        tr->heap[i] = tr->heap[c];
        i = c;
    }
    if (n) tr->heap[i] = v;
    return top;
}

static pairinfo *pair_get(trainer *tr, int32_t a, int32_t b) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    int ins;
    int64_t *v = lpt_u64map_upsert(&tr->pmap, key, (int64_t)tr->np, &ins);
    if (!v) {
        tr->oom = 1;
        return NULL;
    }
    if (ins) {
        if (tr->np == tr->capp) {
            size_t nc = tr->capp ? tr->capp * 2 : 65536;
            pairinfo *n = realloc(tr->pairs, nc * sizeof *n);
            if (!n) {
                tr->oom = 1;
                return NULL;
            }
            tr->pairs = n;
            tr->capp = nc;
        }
        memset(&tr->pairs[tr->np], 0, sizeof tr->pairs[0]);
        tr->pairs[tr->np].key = key;
        tr->np++;
    }
    return &tr->pairs[*v];
}

/* Adds delta occurrences of (a, b) in word w; remembers touched pairs. */
static void pair_add(trainer *tr, int32_t a, int32_t b, int32_t w, int64_t delta) {
    pairinfo *p = pair_get(tr, a, b);
    if (!p) return;
    if (!p->touched) {
        p->touched = 1;
        p->before = p->count;
        if (tr->ntouched == tr->captouched) {
            size_t nc = tr->captouched ? tr->captouched * 2 : 4096;
            int32_t *n = realloc(tr->touched, nc * sizeof *n);
            if (!n) {
                tr->oom = 1;
                return;
            }
            tr->touched = n;
            tr->captouched = nc;
        }
        tr->touched[tr->ntouched++] = (int32_t)(p - tr->pairs);
    }
    p->count += delta;
    if (delta > 0) {
        if (p->n == p->cap) {
            int32_t nc = p->cap ? p->cap * 2 : 4;
            int32_t *n = realloc(p->words, (size_t)nc * sizeof *n);
            if (!n) {
                tr->oom = 1;
                return;
            }
            p->words = n;
            p->cap = nc;
        }
        p->words[p->n++] = w;
    }
}

static void free_trainer(trainer *tr) {
    lpt_strmap_destroy(tr->wmap);
    free(tr->wcount);
    free(tr->sym);
    free(tr->off);
    free(tr->len);
    free(tr->stamp);
    lpt_u64map_free(&tr->pmap);
    for (size_t i = 0; i < tr->np; i++) free(tr->pairs[i].words);
    free(tr->pairs);
    free(tr->heap);
    free(tr->touched);
}

/* Pairs whose count grew during a merge get a fresh heap entry; entries for
 * pairs that shrank are caught as stale when popped. */
static void flush_touched(trainer *tr) {
    for (size_t i = 0; i < tr->ntouched; i++) {
        pairinfo *p = &tr->pairs[tr->touched[i]];
        p->touched = 0;
        if (p->count > p->before) hpush(tr, p->count, p->key);
    }
    tr->ntouched = 0;
}

static int build_words(trainer *tr) {
    size_t total = 0;
    for (size_t i = 0, ns = lpt_strmap_slots(tr->wmap); i < ns; i++) {
        const char *k;
        size_t l;
        int32_t v;
        if (lpt_strmap_at(tr->wmap, i, &k, &l, &v)) total += l;
    }
    tr->sym = malloc((total ? total : 1) * sizeof *tr->sym);
    tr->off = malloc((tr->nw ? tr->nw : 1) * sizeof *tr->off);
    tr->len = malloc((tr->nw ? tr->nw : 1) * sizeof *tr->len);
    tr->stamp = calloc(tr->nw ? tr->nw : 1, sizeof *tr->stamp);
    if (!tr->sym || !tr->off || !tr->len || !tr->stamp) return -1;
    /* word order follows first appearance index, independent of hashing */
    size_t pos = 0;
    size_t *start = malloc((tr->nw ? tr->nw : 1) * sizeof *start);
    if (!start) return -1;
    for (size_t i = 0, ns = lpt_strmap_slots(tr->wmap); i < ns; i++) {
        const char *k;
        size_t l;
        int32_t v;
        if (lpt_strmap_at(tr->wmap, i, &k, &l, &v)) tr->len[v] = (int32_t)l;
    }
    for (size_t w = 0; w < tr->nw; w++) {
        start[w] = pos;
        pos += (size_t)tr->len[w];
    }
    for (size_t i = 0, ns = lpt_strmap_slots(tr->wmap); i < ns; i++) {
        const char *k;
        size_t l;
        int32_t v;
        if (!lpt_strmap_at(tr->wmap, i, &k, &l, &v)) continue;
        tr->off[v] = start[v];
        for (size_t j = 0; j < l; j++) tr->sym[start[v] + j] = (unsigned char)k[j];
    }
    free(start);
    for (size_t w = 0; w < tr->nw; w++) {
        const int32_t *s = tr->sym + tr->off[w];
        for (int32_t j = 0; j + 1 < tr->len[w]; j++) pair_add(tr, s[j], s[j + 1], (int32_t)w, tr->wcount[w]);
    }
    tr->ntouched = 0;
    for (size_t i = 0; i < tr->np; i++) {
        tr->pairs[i].touched = 0;
        if (hpush(tr, tr->pairs[i].count, tr->pairs[i].key)) return -1;
    }
    return tr->oom ? -1 : 0;
}

/* Replaces every (a, b) in word w by c, moving the neighbouring pair counts. */
static void merge_word(trainer *tr, int32_t w, int32_t a, int32_t b, int32_t c) {
    int32_t *s = tr->sym + tr->off[w];
    int32_t n = tr->len[w], o = 0;
    int64_t wc = tr->wcount[w];
    int just_merged = 0; /* s[o-1] is a c written by this pass */
    for (int32_t i = 0; i < n;) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            if (just_merged) {
                pair_add(tr, c, c, w, wc); /* its old (b, a) went with the previous one */
            } else if (o > 0) {
                pair_add(tr, s[o - 1], a, w, -wc);
                pair_add(tr, s[o - 1], c, w, wc);
            }
            if (i + 2 < n) {
                /* the right neighbour of this occurrence may start the next one:
                 * its (b, a) pair goes away and (c, a) or later (c, c) appears */
                pair_add(tr, b, s[i + 2], w, -wc);
                if (!(i + 3 < n && s[i + 2] == a && s[i + 3] == b)) pair_add(tr, c, s[i + 2], w, wc);
            }
            pair_add(tr, a, b, w, -wc);
            s[o++] = c;
            i += 2;
            just_merged = 1;
        } else {
            s[o++] = s[i++];
            just_merged = 0;
        }
    }
    tr->len[w] = o;
}

static int train(lp_tokenizer **out, trainer *tr, const lp_tok_train_opts *opts, char *err, size_t errsz) {
    int nspecial = 1 + (opts->n_special > 0 ? opts->n_special : 0);
    if (opts->vocab_size < 256 + nspecial)
        return lp_errf(err, errsz,
                       "tokenizer train: --vocab-size %d is below the minimum %d (256 bytes + %d special)",
                       opts->vocab_size, 256 + nspecial, nspecial);
    int64_t minf = opts->min_frequency > 0 ? opts->min_frequency : 1;
    lp_tokenizer *t = lpt_tokenizer_new(err, errsz);
    if (!t) return -1;
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        if (lpt_add_token(t, &c, 1, 0) != b) goto oom;
    }
    if (build_words(tr)) goto oom;
    int target = opts->vocab_size - nspecial;
    char *buf = NULL;
    size_t bufcap = 0;
    while (t->ntok < target && tr->hn) {
        hentry e = hpop(tr);
        const int64_t *pi = lpt_u64map_find(&tr->pmap, e.key);
        pairinfo *p = &tr->pairs[*pi];
        if (p->count != e.count) { /* stale: re-queue at its real count */
            if (p->count > 0 && hpush(tr, p->count, p->key)) break;
            continue;
        }
        if (e.count < minf) break;
        int32_t a = (int32_t)(e.key >> 32), b = (int32_t)(e.key & 0xffffffffu);
        size_t la = t->tok[a].len, lb = t->tok[b].len;
        if (la + lb > bufcap) {
            bufcap = 2 * (la + lb);
            char *nb = realloc(buf, bufcap);
            if (!nb) {
                free(buf);
                goto oom;
            }
            buf = nb;
        }
        memcpy(buf, t->tok[a].bytes, la);
        memcpy(buf + la, t->tok[b].bytes, lb);
        int32_t *have = lpt_strmap_find(t->by_bytes, buf, la + lb);
        int32_t c = have ? *have : lpt_add_token(t, buf, la + lb, 0);
        if (c < 0 || lpt_add_merge(t, a, b, c)) {
            free(buf);
            goto oom;
        }
        int32_t stamp = t->nmerges;
        const int32_t *wl = p->words;
        int32_t nwl = p->n;
        for (int32_t i = 0; i < nwl; i++) {
            int32_t w = wl[i];
            if (tr->stamp[w] == stamp) continue;
            tr->stamp[w] = stamp;
            merge_word(tr, w, a, b, c);
        }
        /* (a, b) is gone everywhere; its word list is no longer needed */
        p = &tr->pairs[*lpt_u64map_find(&tr->pmap, e.key)];
        free(p->words);
        p->words = NULL;
        p->n = p->cap = 0;
        flush_touched(tr);
        if (tr->oom) {
            free(buf);
            goto oom;
        }
        if (opts->verbose && t->nmerges % 500 == 0)
            fprintf(stderr, "tokenizer train: %d merges, vocabulary %d, last pair seen %lld times\n",
                    t->nmerges, t->ntok, (long long)e.count);
    }
    free(buf);
    if (lpt_add_token(t, LP_EOT_TOKEN, strlen(LP_EOT_TOKEN), 1) < 0) goto oom;
    for (int i = 0; i < opts->n_special; i++) {
        if (lp_tokenizer_add_special(t, opts->special[i], err, errsz) < 0) {
            lp_tokenizer_destroy(t);
            return -1;
        }
    }
    if (lpt_refresh_specials(t)) goto oom;
    *out = t;
    return 0;
oom:
    lp_tokenizer_destroy(t);
    return lp_errf(err, errsz, "tokenizer train: out of memory");
}

static int trainer_init(trainer *tr, char *err, size_t errsz) {
    memset(tr, 0, sizeof *tr);
    tr->wmap = lpt_strmap_create(1 << 16);
    if (!tr->wmap || lpt_u64map_init(&tr->pmap, 1 << 16)) {
        free_trainer(tr);
        return lp_errf(err, errsz, "tokenizer train: out of memory");
    }
    return 0;
}

static int count_text(trainer *tr, lpt_pretok *pre, const char *text, size_t len, char *err, size_t errsz) {
    if (lpt_pretok_split(pre, text, len, count_piece, tr, err, errsz)) return -1;
    if (tr->oom) return lp_errf(err, errsz, "tokenizer train: out of memory");
    return 0;
}

int lp_tokenizer_train_texts(lp_tokenizer **out, const char *const *texts, const size_t *lens, int ntexts,
                             const lp_tok_train_opts *opts, char *err, size_t errsz) {
    trainer tr;
    if (trainer_init(&tr, err, errsz)) return -1;
    lpt_pretok *pre = lpt_pretok_create(err, errsz);
    int rc = pre ? 0 : -1;
    for (int i = 0; i < ntexts && rc == 0; i++) rc = count_text(&tr, pre, texts[i], lens[i], err, errsz);
    lpt_pretok_destroy(pre);
    if (rc == 0) rc = train(out, &tr, opts, err, errsz);
    free_trainer(&tr);
    return rc;
}

int lp_tokenizer_train(lp_tokenizer **out, const char *const *files, int nfiles,
                       const lp_tok_train_opts *opts, char *err, size_t errsz) {
    trainer tr;
    if (trainer_init(&tr, err, errsz)) return -1;
    lpt_pretok *pre = lpt_pretok_create(err, errsz);
    int rc = pre ? 0 : -1;
    for (int i = 0; i < nfiles && rc == 0; i++) {
        char *buf;
        size_t len;
        rc = (buf = lp_read_file(files[i], &len, err, errsz)) ? 0 : -1;
        if (rc == 0) {
            rc = count_text(&tr, pre, buf, len, err, errsz);
            free(buf);
        }
    }
    lpt_pretok_destroy(pre);
    if (rc == 0 && opts->verbose) fprintf(stderr, "tokenizer train: %zu distinct words\n", tr.nw);
    if (rc == 0) rc = train(out, &tr, opts, err, errsz);
    free_trainer(&tr);
    return rc;
}
