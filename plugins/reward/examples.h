/* The reward stage's records, tokenized: each is k >= 2 responses to one
 * prompt, best first (a preference pair is k = 2), every response as
 * prompt + response + end-of-text; held-out records chosen by prompt so no
 * prompt is in both sets; the shuffled epoch order of the training set. */
#ifndef LLMPIPE_REWARD_EXAMPLES_H
#define LLMPIPE_REWARD_EXAMPLES_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/tokenizer.h"
#include "params.h"

typedef struct rm_item {
    int k;
    int32_t **seq; /* [k] sequences, best first */
    int32_t *len;  /* [k] */
    float margin;  /* pairwise margin (already scaled) */
    char *family, *flaw;
} rm_item;

typedef struct rm_examples {
    rm_item *train, *val;
    size_t n_train, n_val;
    size_t truncated, bad; /* records that kept the end of a sequence; malformed */
    int64_t tokens;        /* of the training set */
    char first_bad[512];
} rm_examples;

/* Reads p->data (and p->eval_data) of p->data_kind, tokenized with tok,
 * sequences longer than max_len keep their last max_len tokens (counted). */
int rm_examples_load(rm_examples *e, const rm_params *p, lp_tokenizer *tok, int max_len, uint64_t seed,
                     char *err, size_t n);
void rm_examples_free(rm_examples *e);

/* Epochs of the training items in an order drawn from (seed, epoch). */
typedef struct rm_order {
    size_t n, pos;
    uint64_t epoch, seed;
    size_t *idx;
} rm_order;

int rm_order_init(rm_order *o, size_t n, uint64_t seed);
void rm_order_free(rm_order *o);
size_t rm_order_next(rm_order *o);
#define RM_ORDER_STATE_SIZE 32
void rm_order_save(const rm_order *o, uint8_t st[RM_ORDER_STATE_SIZE]);
int rm_order_restore(rm_order *o, const void *st, size_t len, char *err, size_t n);

#endif
