/* The SFT stage's training and held-out examples: records read, split,
 * rendered with the template and tokenized, over-long ones truncated or
 * skipped, and everything left out counted. */
#ifndef LLMPIPE_SFT_EXAMPLES_H
#define LLMPIPE_SFT_EXAMPLES_H

#include "llmpipe/data.h"
#include "params.h"

typedef struct sft_examples {
    lp_sft_tokens *train, *val;
    size_t n_train, n_val;
    size_t bad;            /* malformed records skipped (skip_bad) */
    size_t truncated;      /* over-long records cut to seq_len */
    size_t skipped_long;   /* over-long records left out (overlong "skip") */
    size_t skipped_prompt; /* prompt alone fills seq_len: nothing to learn */
    size_t longest;        /* tokens of the longest record before any cut */
    int64_t target_tokens; /* response tokens of the training examples */
    char first_bad[512];   /* the first skipped record's message */
} sft_examples;

/* Reads p->data (and p->val_data), holds out p->val_fraction of the data
 * by a seeded draw when there is no val_data, and tokenizes with tpl into
 * examples of at most T tokens. */
int sft_examples_load(sft_examples *e, const sft_params *p, lp_tokenizer *tok, const lp_prompt_template *tpl,
                      int T, uint64_t seed, char *err, size_t errsz);
void sft_examples_free(sft_examples *e);

#endif
