/* Small shared helpers: error text, hash maps. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text_internal.h"

/* ---- string map ---- */

typedef struct {
    uint64_t hash;
    size_t off;
    uint32_t len;
    int32_t val;
    int used;
} slot_t;

struct lpt_strmap {
    slot_t *slots;
    size_t cap, n;
    char *arena;
    size_t arena_n, arena_cap;
};

lpt_strmap *lpt_strmap_create(size_t hint) {
    lpt_strmap *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    size_t cap = 64;
    while (cap < hint * 2) cap *= 2;
    m->slots = calloc(cap, sizeof *m->slots);
    m->arena_cap = 4096;
    m->arena = malloc(m->arena_cap);
    if (!m->slots || !m->arena) {
        lpt_strmap_destroy(m);
        return NULL;
    }
    m->cap = cap;
    return m;
}

void lpt_strmap_destroy(lpt_strmap *m) {
    if (!m) return;
    free(m->slots);
    free(m->arena);
    free(m);
}

void lpt_strmap_clear(lpt_strmap *m) {
    memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->n = 0;
    m->arena_n = 0;
}

size_t lpt_strmap_size(const lpt_strmap *m) { return m->n; }
size_t lpt_strmap_slots(const lpt_strmap *m) { return m->cap; }

int lpt_strmap_at(const lpt_strmap *m, size_t i, const char **key, size_t *len, int32_t *val) {
    const slot_t *s = &m->slots[i];
    if (!s->used) return 0;
    *key = m->arena + s->off;
    *len = s->len;
    *val = s->val;
    return 1;
}

static slot_t *probe(const lpt_strmap *m, const char *key, size_t len, uint64_t h) {
    size_t mask = m->cap - 1, i = h & mask;
    for (;;) {
        slot_t *s = &m->slots[i];
        if (!s->used) return s;
        if (s->hash == h && s->len == len && memcmp(m->arena + s->off, key, len) == 0) return s;
        i = (i + 1) & mask;
    }
}

int32_t *lpt_strmap_find(const lpt_strmap *m, const char *key, size_t len) {
    slot_t *s = probe(m, key, len, lpt_hash_bytes(key, len));
    return s->used ? &s->val : NULL;
}

static int grow(lpt_strmap *m) {
    size_t ncap = m->cap * 2;
    slot_t *ns = calloc(ncap, sizeof *ns);
    if (!ns) return -1;
    for (size_t i = 0; i < m->cap; i++) {
        slot_t *s = &m->slots[i];
        if (!s->used) continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].used) j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int32_t *lpt_strmap_upsert(lpt_strmap *m, const char *key, size_t len, int32_t init, int *inserted) {
    uint64_t h = lpt_hash_bytes(key, len);
    slot_t *s = probe(m, key, len, h);
    if (inserted) *inserted = 0;
    if (s->used) return &s->val;
    if ((m->n + 1) * 4 > m->cap * 3) {
        if (grow(m)) return NULL;
        s = probe(m, key, len, h);
    }
    if (m->arena_n + len > m->arena_cap) {
        size_t nc = m->arena_cap * 2;
        while (nc < m->arena_n + len) nc *= 2;
        char *na = realloc(m->arena, nc);
        if (!na) return NULL;
        m->arena = na;
        m->arena_cap = nc;
    }
    memcpy(m->arena + m->arena_n, key, len);
    s->off = m->arena_n;
    m->arena_n += len;
    s->len = (uint32_t)len;
    s->hash = h;
    s->val = init;
    s->used = 1;
    m->n++;
    if (inserted) *inserted = 1;
    return &s->val;
}

/* ---- u64 map ---- */

#define EMPTY_KEY UINT64_MAX

int lpt_u64map_init(lpt_u64map *m, size_t hint) {
    size_t cap = 64;
    while (cap < hint * 2) cap *= 2;
    m->keys = malloc(cap * sizeof *m->keys);
    m->vals = malloc(cap * sizeof *m->vals);
    m->cap = cap;
    m->n = 0;
    if (!m->keys || !m->vals) {
        lpt_u64map_free(m);
        return -1;
    }
    memset(m->keys, 0xff, cap * sizeof *m->keys);
    return 0;
}

void lpt_u64map_free(lpt_u64map *m) {
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->n = 0;
}

static size_t u64probe(const lpt_u64map *m, uint64_t key) {
    size_t mask = m->cap - 1, i = lp_mix64(key) & mask;
    while (m->keys[i] != EMPTY_KEY && m->keys[i] != key) i = (i + 1) & mask;
    return i;
}

const int64_t *lpt_u64map_find(const lpt_u64map *m, uint64_t key) {
    if (!m->cap) return NULL;
    size_t i = u64probe(m, key);
    return m->keys[i] == key ? &m->vals[i] : NULL;
}

int64_t *lpt_u64map_upsert(lpt_u64map *m, uint64_t key, int64_t init, int *inserted) {
    size_t i = u64probe(m, key);
    if (inserted) *inserted = 0;
    if (m->keys[i] == key) return &m->vals[i];
    if ((m->n + 1) * 4 > m->cap * 3) {
        lpt_u64map big;
        if (lpt_u64map_init(&big, m->cap)) return NULL;
        for (size_t j = 0; j < m->cap; j++) {
            if (m->keys[j] == EMPTY_KEY) continue;
            size_t k = u64probe(&big, m->keys[j]);
            big.keys[k] = m->keys[j];
            big.vals[k] = m->vals[j];
        }
        big.n = m->n;
        lpt_u64map_free(m);
        *m = big;
        i = u64probe(m, key);
    }
    m->keys[i] = key;
    m->vals[i] = init;
    m->n++;
    if (inserted) *inserted = 1;
    return &m->vals[i];
}
