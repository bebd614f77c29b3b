/* Byte-level BPE: vocabulary, merges, encode and decode. */
#include <stdlib.h>
#include <string.h>

#include "text_internal.h"

#define CACHE_MAX_WORDS 400000 /* bounded memory on endless input */

int lp_ids_push(lp_ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        size_t nc = ids->cap ? ids->cap * 2 : 256;
        int32_t *nv = realloc(ids->v, nc * sizeof *nv);
        if (!nv) return -1;
        ids->v = nv;
        ids->cap = nc;
    }
    ids->v[ids->n++] = id;
    return 0;
}

void lp_ids_free(lp_ids *ids) {
    free(ids->v);
    ids->v = NULL;
    ids->n = ids->cap = 0;
}

lp_tokenizer *lpt_tokenizer_new(char *err, size_t errsz) {
    lp_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        lp_errf(err, errsz, "tokenizer: out of memory");
        return NULL;
    }
    t->eot = -1;
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    t->by_bytes = lpt_strmap_create(1024);
    t->cache = lpt_strmap_create(4096);
    if (!t->by_bytes || !t->cache || lpt_u64map_init(&t->merges, 1024)) {
        lp_tokenizer_destroy(t);
        lp_errf(err, errsz, "tokenizer: out of memory");
        return NULL;
    }
    t->pre = lpt_pretok_create(err, errsz);
    if (!t->pre) {
        lp_tokenizer_destroy(t);
        return NULL;
    }
    return t;
}

void lp_tokenizer_destroy(lp_tokenizer *t) {
    if (!t) return;
    for (int32_t i = 0; i < t->ntok; i++) free(t->tok[i].bytes);
    free(t->tok);
    lpt_strmap_destroy(t->by_bytes);
    lpt_strmap_destroy(t->cache);
    lpt_u64map_free(&t->merges);
    free(t->merge_a);
    free(t->merge_b);
    lpt_pretok_destroy(t->pre);
    free(t->cache_ids);
    free(t->specials);
    free(t->w_id);
    free(t->w_prev);
    free(t->w_next);
    free(t->w_heap);
    free(t);
}

void lpt_cache_clear(lp_tokenizer *t) {
    if (!lpt_strmap_size(t->cache)) return; /* loading adds tokens one by one */
    lpt_strmap_clear(t->cache);
    t->cache_n = 0;
}

int32_t lpt_add_token(lp_tokenizer *t, const char *bytes, size_t len, int special) {
    if (len == 0 || len > UINT32_MAX) return -1;
    int ins;
    int32_t *slot = lpt_strmap_upsert(t->by_bytes, bytes, len, t->ntok, &ins);
    if (!slot || !ins) return -1;
    if (t->ntok == t->captok) {
        int32_t nc = t->captok ? t->captok * 2 : 512;
        lpt_token *nt = realloc(t->tok, (size_t)nc * sizeof *nt);
        if (!nt) return -1;
        t->tok = nt;
        t->captok = nc;
    }
    lpt_token *k = &t->tok[t->ntok];
    k->bytes = malloc(len + 1);
    if (!k->bytes) return -1;
    memcpy(k->bytes, bytes, len);
    k->bytes[len] = 0;
    k->len = (uint32_t)len;
    k->special = (uint8_t)(special != 0);
    if (len == 1 && !special && t->byte_id[(unsigned char)bytes[0]] < 0)
        t->byte_id[(unsigned char)bytes[0]] = t->ntok;
    if (special && len == strlen(LP_EOT_TOKEN) && memcmp(bytes, LP_EOT_TOKEN, len) == 0) t->eot = t->ntok;
    lpt_cache_clear(t);
    return t->ntok++;
}

int lpt_add_merge(lp_tokenizer *t, int32_t a, int32_t b, int32_t result) {
    if (t->nmerges == t->capmerges) {
        int32_t nc = t->capmerges ? t->capmerges * 2 : 1024;
        int32_t *na = realloc(t->merge_a, (size_t)nc * sizeof *na);
        if (!na) return -1;
        t->merge_a = na;
        int32_t *nb = realloc(t->merge_b, (size_t)nc * sizeof *nb);
        if (!nb) return -1;
        t->merge_b = nb;
        t->capmerges = nc;
    }
    int ins;
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    int64_t *v = lpt_u64map_upsert(&t->merges, key, 0, &ins);
    if (!v) return -1;
    if (!ins) return 0; /* a repeated merge line: the first rank wins, as in HF */
    *v = (int64_t)((uint64_t)t->nmerges << 32 | (uint32_t)result);
    t->merge_a[t->nmerges] = a;
    t->merge_b[t->nmerges] = b;
    t->nmerges++;
    lpt_cache_clear(t);
    return 0;
}

static int cmp_special_len(const void *x, const void *y, void *ctx) {
    const lp_tokenizer *t = ctx;
    uint32_t a = t->tok[*(const int32_t *)x].len, b = t->tok[*(const int32_t *)y].len;
    return a < b ? 1 : a > b ? -1 : 0;
}

int lpt_refresh_specials(lp_tokenizer *t) {
    int n = 0;
    for (int32_t i = 0; i < t->ntok; i++) n += t->tok[i].special;
    int32_t *s = malloc((size_t)(n ? n : 1) * sizeof *s);
    if (!s) return -1;
    n = 0;
    for (int32_t i = 0; i < t->ntok; i++)
        if (t->tok[i].special) s[n++] = i;
    qsort_r(s, (size_t)n, sizeof *s, cmp_special_len, t);
    free(t->specials);
    t->specials = s;
    t->nspecials = n;
    return 0;
}

int32_t lp_tokenizer_add_special(lp_tokenizer *t, const char *text, char *err, size_t errsz) {
    size_t len = strlen(text);
    if (!len) return lp_errf(err, errsz, "special token: empty string");
    int32_t *have = lpt_strmap_find(t->by_bytes, text, len);
    int32_t id;
    if (have) {
        id = *have;
        t->tok[id].special = 1;
        if (strcmp(text, LP_EOT_TOKEN) == 0) t->eot = id;
    } else {
        id = lpt_add_token(t, text, len, 1);
        if (id < 0) return lp_errf(err, errsz, "special token '%s': out of memory", text);
    }
    if (lpt_refresh_specials(t)) return lp_errf(err, errsz, "special token: out of memory");
    return id;
}

int lp_tokenizer_vocab_size(const lp_tokenizer *t) { return t->ntok; }
int32_t lp_tokenizer_eot(const lp_tokenizer *t) { return t->eot; }

int32_t lp_tokenizer_token_id(const lp_tokenizer *t, const char *bytes, size_t len) {
    int32_t *v = lpt_strmap_find(t->by_bytes, bytes, len);
    return v ? *v : -1;
}

const char *lp_tokenizer_token_bytes(const lp_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->ntok) return NULL;
    if (len) *len = t->tok[id].len;
    return t->tok[id].bytes;
}

int lp_tokenizer_is_special(const lp_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->ntok && t->tok[id].special;
}

/* ---- encode ---- */

static int scratch(lp_tokenizer *t, size_t n) {
    if (n <= t->w_cap) return 0;
    size_t c = t->w_cap ? t->w_cap : 64;
    while (c < n) c *= 2;
    int32_t *a = realloc(t->w_id, c * sizeof *a);
    if (!a) return -1;
    t->w_id = a;
    int32_t *b = realloc(t->w_prev, c * sizeof *b);
    if (!b) return -1;
    t->w_prev = b;
    int32_t *d = realloc(t->w_next, c * sizeof *d);
    if (!d) return -1;
    t->w_next = d;
    /* every merge pushes at most two entries on top of the initial n */
    uint64_t *h = realloc(t->w_heap, 3 * c * sizeof *h);
    if (!h) return -1;
    t->w_heap = h;
    t->w_cap = c;
    return 0;
}

static void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = v;
    return top;
}

static inline const int64_t *find_merge(const lp_tokenizer *t, int32_t a, int32_t b) {
    return lpt_u64map_find(&t->merges, (uint64_t)(uint32_t)a << 32 | (uint32_t)b);
}

/* Lowest-rank pair first, leftmost among equals: the GPT-2 / HF order. */
static int bpe_word(lp_tokenizer *t, const char *w, size_t len, lp_ids *out) {
    if (scratch(t, len)) return -1;
    int32_t *id = t->w_id, *prev = t->w_prev, *next = t->w_next;
    uint64_t *heap = t->w_heap;
    size_t n = 0, hn = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t b = t->byte_id[(unsigned char)w[i]];
        if (b < 0) continue; /* HF drops bytes missing from a vocabulary without unk */
        id[n] = b;
        prev[n] = (int32_t)n - 1;
        next[n] = (int32_t)n + 1;
        n++;
    }
    if (!n) return 0;
    next[n - 1] = -1;
    for (size_t i = 0; i + 1 < n; i++) {
        const int64_t *m = find_merge(t, id[i], id[i + 1]);
        if (m) heap_push(heap, &hn, ((uint64_t)*m & 0xffffffff00000000ull) | i);
    }
    while (hn) {
        uint64_t e = heap_pop(heap, &hn);
        uint32_t rank = (uint32_t)(e >> 32);
        int32_t p = (int32_t)(e & 0xffffffffu);
        if (id[p] < 0 || next[p] < 0) continue;
        const int64_t *m = find_merge(t, id[p], id[next[p]]);
        if (!m || (uint32_t)((uint64_t)*m >> 32) != rank) continue; /* stale */
        int32_t q = next[p];
        id[p] = (int32_t)(*m & 0xffffffff);
        id[q] = -1;
        next[p] = next[q];
        if (next[q] >= 0) prev[next[q]] = p;
        if (prev[p] >= 0) {
            const int64_t *l = find_merge(t, id[prev[p]], id[p]);
            if (l) heap_push(heap, &hn, ((uint64_t)*l & 0xffffffff00000000ull) | (uint32_t)prev[p]);
        }
        if (next[p] >= 0) {
            const int64_t *r = find_merge(t, id[p], id[next[p]]);
            if (r) heap_push(heap, &hn, ((uint64_t)*r & 0xffffffff00000000ull) | (uint32_t)p);
        }
    }
    for (int32_t i = 0; i >= 0; i = next[i])
        if (lp_ids_push(out, id[i])) return -1;
    return 0;
}

typedef struct {
    lp_tokenizer *t;
    lp_ids *out;
    int failed;
} enc_ctx;

static int encode_piece(void *vctx, const char *w, size_t len) {
    enc_ctx *c = vctx;
    lp_tokenizer *t = c->t;
    int32_t *hit = lpt_strmap_find(t->cache, w, len);
    if (hit) {
        const int32_t *v = t->cache_ids + *hit;
        for (int32_t i = 1; i <= v[0]; i++)
            if (lp_ids_push(c->out, v[i])) return c->failed = 1;
        return 0;
    }
    size_t start = c->out->n;
    if (t->ignore_merges) {
        int32_t *whole = lpt_strmap_find(t->by_bytes, w, len);
        if (whole && !t->tok[*whole].special) {
            if (lp_ids_push(c->out, *whole)) return c->failed = 1;
            return 0;
        }
    }
    if (bpe_word(t, w, len, c->out)) return c->failed = 1;
    size_t k = c->out->n - start;
    if (len > 256) return 0; /* long words rarely repeat: not worth caching */
    if (lpt_strmap_size(t->cache) >= CACHE_MAX_WORDS) lpt_cache_clear(t);
    if (t->cache_n + k + 1 > t->cache_cap) {
        size_t nc = t->cache_cap ? t->cache_cap * 2 : 65536;
        while (nc < t->cache_n + k + 1) nc *= 2;
        int32_t *ni = realloc(t->cache_ids, nc * sizeof *ni);
        if (!ni) return 0; /* the cache is optional */
        t->cache_ids = ni;
        t->cache_cap = nc;
    }
    int32_t *slot = lpt_strmap_upsert(t->cache, w, len, (int32_t)t->cache_n, NULL);
    if (!slot) return 0;
    t->cache_ids[t->cache_n] = (int32_t)k;
    memcpy(t->cache_ids + t->cache_n + 1, c->out->v + start, k * sizeof(int32_t));
    t->cache_n += k + 1;
    return 0;
}

static int encode_plain(lp_tokenizer *t, const char *text, size_t len, lp_ids *out, char *err, size_t errsz) {
    enc_ctx c = {t, out, 0};
    if (lpt_pretok_split(t->pre, text, len, encode_piece, &c, err, errsz)) return -1;
    if (c.failed) return lp_errf(err, errsz, "encode: out of memory");
    return 0;
}

int lp_tokenizer_encode(lp_tokenizer *t, const char *text, size_t len, int allow_special, lp_ids *out,
                        char *err, size_t errsz) {
    if (!allow_special || !t->nspecials) return encode_plain(t, text, len, out, err, errsz);
    /* next[i]: next occurrence of special i at or after pos (SIZE_MAX: none) */
    size_t *nextpos = malloc((size_t)t->nspecials * sizeof *nextpos);
    if (!nextpos) return lp_errf(err, errsz, "encode: out of memory");
    for (int i = 0; i < t->nspecials; i++) nextpos[i] = 0;
    size_t pos = 0;
    int rc = 0;
    int need_scan = 1;
    while (pos < len && rc == 0) {
        size_t best = SIZE_MAX;
        int bi = -1;
        for (int i = 0; i < t->nspecials; i++) {
            const lpt_token *s = &t->tok[t->specials[i]];
            if (need_scan || (nextpos[i] != SIZE_MAX && nextpos[i] < pos)) {
                const char *f = memmem(text + pos, len - pos, s->bytes, s->len);
                nextpos[i] = f ? (size_t)(f - text) : SIZE_MAX;
            }
            /* specials are sorted longest first: ties go to the longest */
            if (nextpos[i] < best) {
                best = nextpos[i];
                bi = i;
            }
        }
        need_scan = 0;
        size_t stop = bi < 0 ? len : best;
        if (stop > pos) rc = encode_plain(t, text + pos, stop - pos, out, err, errsz);
        if (rc || bi < 0) break;
        if (lp_ids_push(out, t->specials[bi])) {
            lp_errf(err, errsz, "encode: out of memory");
            rc = -1;
        }
        pos = best + t->tok[t->specials[bi]].len;
    }
    free(nextpos);
    return rc;
}

int lp_tokenizer_decode(const lp_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **out,
                        size_t *len, char *err, size_t errsz) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->ntok)
            return lp_errf(err, errsz, "decode: id %d at position %zu is outside the vocabulary (size %d)",
                           ids[i], i, t->ntok);
        if (!(skip_special && t->tok[ids[i]].special)) total += t->tok[ids[i]].len;
    }
    char *o = malloc(total + 1), *p = o;
    if (!o) return lp_errf(err, errsz, "decode: out of memory");
    for (size_t i = 0; i < n; i++) {
        const lpt_token *k = &t->tok[ids[i]];
        if (skip_special && k->special) continue;
        memcpy(p, k->bytes, k->len);
        p += k->len;
    }
    *p = 0;
    *out = o;
    *len = total;
    return 0;
}
