/* Private helpers shared by the sdk/text sources (not installed). */
#ifndef LLMPIPE_TEXT_INTERNAL_H
#define LLMPIPE_TEXT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/error.h"  /* lp_errf */
#include "llmpipe/fsutil.h" /* lp_read_file, lp_write_file_atomic */
#include "llmpipe/mix.h"    /* lp_mix64, lp_splitmix64, lp_fnv1a64 */
#include "llmpipe/tokenizer.h"

/* Internal symbols stay out of the SDK's exported ABI when it is built as a
 * shared library. */
#pragma GCC visibility push(hidden)

/* Hash map from byte strings to int32 values; keys are copied. */
typedef struct lpt_strmap lpt_strmap;
lpt_strmap *lpt_strmap_create(size_t hint);
void lpt_strmap_destroy(lpt_strmap *m);
/* Returns a pointer to the value slot, inserting init when absent (NULL on OOM). */
int32_t *lpt_strmap_upsert(lpt_strmap *m, const char *key, size_t len, int32_t init, int *inserted);
int32_t *lpt_strmap_find(const lpt_strmap *m, const char *key, size_t len);
size_t lpt_strmap_size(const lpt_strmap *m);
void lpt_strmap_clear(lpt_strmap *m);
/* Iteration: i from 0 while lpt_strmap_at returns 0 or 1 (1 = slot used). */
int lpt_strmap_at(const lpt_strmap *m, size_t i, const char **key, size_t *len, int32_t *val);
size_t lpt_strmap_slots(const lpt_strmap *m);

/* Open-addressing map from uint64 keys (never UINT64_MAX) to int64 values. */
typedef struct lpt_u64map {
    uint64_t *keys;
    int64_t *vals;
    size_t cap, n;
} lpt_u64map;
int lpt_u64map_init(lpt_u64map *m, size_t hint);
void lpt_u64map_free(lpt_u64map *m);
int64_t *lpt_u64map_upsert(lpt_u64map *m, uint64_t key, int64_t init, int *inserted);
const int64_t *lpt_u64map_find(const lpt_u64map *m, uint64_t key);

static inline uint64_t lpt_hash_bytes(const char *s, size_t n) {
    uint64_t h = lp_fnv1a64(s, n); /* then a final mix for the map's low bits */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* GPT-2 byte <-> printable unicode mapping used in vocab files. */
void lpt_bytelevel_tables(const uint32_t **byte_to_cp);
/* Encodes bytes as their byte-level unicode string (UTF-8). Returns malloc'ed. */
char *lpt_bytelevel_encode(const char *s, size_t n, size_t *outlen);
/* Decodes a byte-level unicode string back to bytes; -1 if a char is not in the map. */
int lpt_bytelevel_decode(const char *s, size_t n, char **out, size_t *outlen);

/* GPT-2 pre-tokenizer over PCRE2. */
typedef struct lpt_pretok lpt_pretok;
lpt_pretok *lpt_pretok_create(char *err, size_t errsz);
void lpt_pretok_destroy(lpt_pretok *p);
/* Calls fn for each piece of text, in order; pieces cover every byte, so
 * invalid UTF-8 becomes pieces of its own. fn returning nonzero stops. */
typedef int (*lpt_piece_fn)(void *ctx, const char *piece, size_t len);
int lpt_pretok_split(lpt_pretok *p, const char *text, size_t len, lpt_piece_fn fn, void *ctx, char *err,
                     size_t errsz);

/* Tokenizer internals, shared by encode, training and the file formats. */
typedef struct lpt_token {
    char *bytes;
    uint32_t len;
    uint8_t special;
} lpt_token;

struct lp_tokenizer {
    lpt_token *tok;
    int32_t ntok, captok;
    lpt_strmap *by_bytes; /* raw bytes -> id (all tokens) */
    int32_t byte_id[256]; /* id of each single byte, -1 when absent */
    /* merges: key (a << 32 | b) -> (rank << 32 | result id) */
    lpt_u64map merges;
    int32_t *merge_a, *merge_b; /* by rank, for saving */
    int32_t nmerges, capmerges;
    int ignore_merges; /* HF option: whole-word vocabulary hit first */
    int32_t eot;
    lpt_pretok *pre;
    /* word -> ids cache: strmap value is an offset into cache_ids */
    lpt_strmap *cache;
    int32_t *cache_ids;
    size_t cache_n, cache_cap;
    int32_t *specials; /* ids of special tokens, longest first for matching */
    int nspecials;
    /* encode scratch: linked list of symbols and a heap of candidate merges */
    int32_t *w_id, *w_prev, *w_next;
    uint64_t *w_heap;
    size_t w_cap;
};

lp_tokenizer *lpt_tokenizer_new(char *err, size_t errsz);
/* Appends a token; returns its id or -1 (duplicate bytes or OOM). */
int32_t lpt_add_token(lp_tokenizer *t, const char *bytes, size_t len, int special);
int lpt_add_merge(lp_tokenizer *t, int32_t a, int32_t b, int32_t result);
void lpt_cache_clear(lp_tokenizer *t);
int lpt_refresh_specials(lp_tokenizer *t);

#pragma GCC visibility pop

#endif
