/* The on-policy check: answers sampled from the starting (SFT) model for
 * held-out tasks, labelled right or wrong by the programmatic checkers,
 * then ranked by the reward model: how often a right answer scores above a
 * wrong one to the same task, the distribution PPO will see. */
#ifndef LLMPIPE_REWARD_ONPOLICY_H
#define LLMPIPE_REWARD_ONPOLICY_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/data.h"
#include "llmpipe/model.h"
#include "llmpipe/tokenizer.h"

typedef struct rm_onpolicy {
    size_t n;       /* samples: prompts * per prompt */
    int per_prompt; /* samples of one prompt are consecutive */
    int32_t **seq;  /* prompt + answer + end-of-text, as lp_response_tokenize makes it */
    int32_t *len;
    int *right;                  /* 1 right, 0 wrong */
    char **family;               /* of each sample's task */
    char **answer;               /* the decoded answer */
    float *scores;               /* of the last rm_onpolicy_rank */
    long n_right, prompts_mixed; /* prompts with both a right and a wrong answer */
} rm_onpolicy;

typedef struct rm_onpolicy_opts {
    size_t prompts;
    int per_prompt, max_new, batch;
    float temperature;
    uint64_t seed;
    int keep; /* the reward model's context: a sample keeps its last `keep` tokens */
} rm_onpolicy_opts;

int rm_onpolicy_sample(rm_onpolicy *op, lp_model *m, lp_tokenizer *tok, const lp_dataset *tasks,
                       const rm_onpolicy_opts *o, char *err, size_t n);
/* Scores every sample; *acc: share of (right, wrong) pairs of one prompt
 * with the right one above (NaN without such pairs), *pairs their count. */
int rm_onpolicy_rank(rm_onpolicy *op, lp_model *m, int batch, int32_t pad, double *acc, long *pairs,
                     char *err, size_t n);
void rm_onpolicy_free(rm_onpolicy *op);
/* Up to max (right, wrong) pairs of one task that the last rank put in the
 * wrong order: their sample indices in right[] and wrong[]; returns the count. */
int rm_onpolicy_misses(const rm_onpolicy *op, size_t *right, size_t *wrong, int max);

#endif
