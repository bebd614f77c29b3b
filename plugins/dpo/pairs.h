/* The DPO stage's data: preference pairs and ranked lists (expanded into
 * pairs) read, split into training and held-out pairs, tokenized as
 * prompt + response + end-of-text with the loss mask on the response; a
 * seeded per-epoch order with an exact saved position; and micro-batch
 * rows that hold one pair each, the chosen then the rejected sequence as
 * two segments of a packed row, so both share one forward. */
#ifndef LLMPIPE_DPO_PAIRS_H
#define LLMPIPE_DPO_PAIRS_H

#include <stdint.h>

#include "llmpipe/data.h"
#include "params.h"

typedef struct dpo_pair {
    lp_sft_tokens c, r; /* chosen, rejected: ids and response mask */
} dpo_pair;

typedef struct dpo_pairs {
    dpo_pair *train, *val;
    size_t n_train, n_val;
    size_t from_ranked;    /* training pairs that came from ranked lists */
    size_t bad;            /* malformed records skipped (skip_bad) */
    size_t truncated;      /* sequences cut to seq_len */
    size_t skipped_long;   /* pairs left out because a sequence is over-long (overlong "skip") */
    size_t skipped_prompt; /* pairs whose prompt alone fills seq_len */
    size_t longest;        /* tokens of the longest sequence before any cut */
    int64_t target_tokens; /* response tokens of the training pairs */
    uint64_t fingerprint;  /* of every pair's tokens, to match a saved cache */
    char first_bad[512];
} dpo_pairs;

/* Reads p->data and p->ranked_data (and p->val_data), holds out
 * p->val_fraction of the records by a seeded draw of their own when there
 * is no val_data, and tokenizes every sequence into at most T tokens. */
int dpo_pairs_load(dpo_pairs *e, const dpo_params *p, lp_tokenizer *tok, int T, uint64_t seed, char *err,
                   size_t errsz);
void dpo_pairs_free(dpo_pairs *e);

/* ---- order: every training pair once an epoch, shuffled by (seed, epoch) */
typedef struct dpo_order {
    size_t n, pos;
    uint64_t seed, epoch;
    size_t *perm;
} dpo_order;

#define DPO_ORDER_STATE_SIZE 32
int dpo_order_init(dpo_order *o, size_t n, uint64_t seed);
void dpo_order_free(dpo_order *o);
size_t dpo_order_next(dpo_order *o);
void dpo_order_save(const dpo_order *o, uint8_t st[DPO_ORDER_STATE_SIZE]);
int dpo_order_restore(dpo_order *o, const uint8_t *st, size_t len, char *err, size_t errsz);

/* ---- rows: one pair a row, segment 0 chosen, 1 rejected, -1 padding ---- */
typedef struct dpo_rows {
    int B, T;           /* this micro-batch */
    int32_t *ids, *seg; /* [B*T] */
    int32_t *tgt;       /* [B*T]: the next token where it is a response target, else -1 */
    int64_t tokens;     /* tokens that are not padding */
    size_t cap;         /* cells allocated */
} dpo_rows;

void dpo_rows_free(dpo_rows *r);
/* Rows for pairs[idx[0..n)]; padding has id pad. */
int dpo_rows_build(dpo_rows *r, const dpo_pair *pairs, const size_t *idx, int n, int32_t pad, char *err,
                   size_t errsz);
/* Sums per-token log-probabilities logp[B*T] over each row's chosen and
 * rejected targets into pc[B], pr[B] (in double). */
void dpo_rows_sums(const dpo_rows *r, const float *logp, double *pc, double *pr);
/* The per-token upstream gradient: dpc[b] on row b's chosen targets, dpr[b]
 * on its rejected ones, 0 elsewhere. */
void dpo_rows_dlogp(const dpo_rows *r, const double *dpc, const double *dpr, float *dlogp);

#endif
