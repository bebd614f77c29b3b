/* Evaluation on task files: greedy answers from a model, exact match per task
 * family (the synthetic families' checkers, or the record's reference for
 * tasks of other families). Used by `llmpipe eval` and by stages that report
 * held-out accuracy. */
#ifndef LLMPIPE_EVAL_H
#define LLMPIPE_EVAL_H

#include <stddef.h>
#include <stdio.h>

#include "llmpipe/data.h"
#include "llmpipe/model.h"
#include "llmpipe/sampler.h"
#include "llmpipe/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LP_EVAL_MAX_FAMILIES 64

/* Counts per family, in order of first appearance. */
typedef struct lp_eval_result {
    int families;
    char name[LP_EVAL_MAX_FAMILIES][48];
    long n[LP_EVAL_MAX_FAMILIES], correct[LP_EVAL_MAX_FAMILIES];
    long truncated; /* prompts cut from the left to fit the context */
} lp_eval_result;

typedef struct lp_eval_opts {
    int batch;    /* prompts decoded together (<= 0: 16) */
    int max_new;  /* answer length limit in tokens (<= 0: 64) */
    size_t limit; /* evaluate at most this many records (0: all) */
} lp_eval_opts;

/* Called once per record, in file order, with the model's answer. */
typedef void (*lp_eval_answer_fn)(void *user, const lp_record *task, const char *answer, int correct);

/* Greedy-decodes an answer for every record of `tasks` (kind prompts: needs
 * `family`, or `reference` for a family the checkers do not know) and scores
 * it. Returns 0, or -1 with `file:line: reason` / a model error in err. */
int lp_eval_run(lp_model *m, lp_tokenizer *tok, const lp_dataset *tasks, const char *tasks_path,
                const lp_eval_opts *opts, lp_eval_result *res, lp_eval_answer_fn fn, void *user, char *err,
                size_t errsz);

/* Scores one answer for one task: 1 right, 0 wrong, -1 unscorable (unknown
 * family and no reference). */
int lp_eval_score(const lp_record *task, const char *answer);

/* Adds one scored answer to res (family "" counts as "other"). */
void lp_eval_count(lp_eval_result *res, const char *family, int correct);

/* Accuracy of one family (index), or of all (-1); -1.0 when empty. */
double lp_eval_accuracy(const lp_eval_result *res, int family);

/* family, n, correct, accuracy; then the total. */
void lp_eval_print(const lp_eval_result *res, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
