/* Reward-model building blocks shared by the reward stage, `llmpipe score`
 * and PPO: the ranking losses, padding-safe batched scoring at each
 * sequence's closing token, accuracy tallies per group, the score
 * normalisation stored in a reward-model folder, and the record tags
 * (family, flaw) the record reader does not keep.
 *
 * int functions return 0 on success and -1 with a one-line message in err. */
#ifndef LLMPIPE_REWARD_H
#define LLMPIPE_REWARD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "llmpipe/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- losses ---------------------------------------------------------------
 * Both return the loss and write d(loss)/d(score) (unscaled: a batch mean
 * divides by the batch). */

/* -log sigmoid(chosen - rejected - margin), computed without overflow. */
double lp_pair_loss(float chosen, float rejected, float margin, float *d_chosen, float *d_rejected);
/* K-wise ranking (InstructGPT): scores[0..k) of k >= 2 responses to one
 * prompt, best first; the mean over all C(k,2) pairs i < j of
 * -log sigmoid(scores[i] - scores[j]). grad[k] may be NULL. */
double lp_kwise_loss(const float *scores, int k, float *grad);

/* ---- batched scoring --------------------------------------------------------
 * Each sequence is prompt + response + end-of-text; its score is the scalar
 * head at its last token. Padding is tracked by the lengths, never by a
 * token id (the pad id may be end-of-text itself), so a score does not
 * depend on the padding side, the padding amount or the other rows. */
enum {
    /* pad on the left: the padding is a segment of its own and the
     * sequence's positions start at 0 (lp_model_forward_packed); the
     * default is right padding, which causal attention keeps out of every
     * real token */
    LP_SCORE_LEFT_PAD = 1,
};

typedef struct lp_score_batch lp_score_batch;
lp_score_batch *lp_score_batch_create(void);
void lp_score_batch_destroy(lp_score_batch *b);

/* Forward of seqs[0..B) (lens[b] >= 1) padded with pad to T tokens a row
 * (T 0: the longest), scores[B] from the scalar head. The activations stay
 * for lp_score_batch_grad + lp_model_backward. */
int lp_score_batch_run(lp_score_batch *b, lp_model *m, const int32_t *const *seqs, const int32_t *lens, int B,
                       int T, unsigned flags, int32_t pad, float *scores, char *err, size_t errsz);
/* Records d(objective)/d(scores[B]) of the last run for lp_model_backward. */
int lp_score_batch_grad(lp_score_batch *b, lp_model *m, const float *dscores, char *err, size_t errsz);
/* Non-padding tokens of the last run. */
int64_t lp_score_batch_tokens(const lp_score_batch *b);

/* Scores n sequences in batches of at most max_batch rows, sorted by
 * length so rows of a batch need little padding (the order changes no
 * score). */
int lp_score_sequences(lp_model *m, const int32_t *const *seqs, const int32_t *lens, size_t n, int max_batch,
                       int32_t pad, float *scores, char *err, size_t errsz);

/* ---- accuracy per group --------------------------------------------------- */
#define LP_TALLY_MAX 64

/* Pairs (better, worse) counted per group in order of first appearance; a
 * pair is right when its margin (score of the better minus the worse) is
 * > 0. */
typedef struct lp_pref_tally {
    int groups;
    char name[LP_TALLY_MAX][48];
    long n[LP_TALLY_MAX], right[LP_TALLY_MAX];
    double margin[LP_TALLY_MAX]; /* sums */
} lp_pref_tally;

/* group NULL or "" counts as "other"; past LP_TALLY_MAX groups the rest
 * count in the last. */
void lp_pref_tally_add(lp_pref_tally *t, const char *group, double margin);
/* Accuracy and mean margin of group g, or of all pairs (g = -1); NaN when
 * empty. */
double lp_pref_tally_accuracy(const lp_pref_tally *t, int g);
double lp_pref_tally_margin(const lp_pref_tally *t, int g);
long lp_pref_tally_count(const lp_pref_tally *t, int g);
/* "TITLE  n  right  accuracy  mean margin" rows, then "all" when title is
 * the first table (all_row 1). */
void lp_pref_tally_print(const lp_pref_tally *t, const char *title, int all_row, FILE *f);

/* ---- score normalisation stored with a reward model ---------------------- */
#define LP_REWARD_NORM_FILE "reward_norm.json"

typedef struct lp_reward_norm {
    double mean, std; /* normalised = (score - mean) / std */
    int64_t n;        /* scores it was computed from */
    char source[64];  /* what they were ("onpolicy", "pairs", ...) */
} lp_reward_norm;

/* Mean and population standard deviation (at least 1e-6) of s[0..n). */
int lp_reward_norm_compute(const float *s, size_t n, const char *source, lp_reward_norm *out, char *err,
                           size_t errsz);
/* dir/reward_norm.json: {"mean": , "std": , "n": , "source": }. */
int lp_reward_norm_save(const char *dir, const lp_reward_norm *nm, char *err, size_t errsz);
/* 1 when loaded, 0 when dir has no such file (*nm = mean 0, std 1), -1 when
 * it is malformed. */
int lp_reward_norm_load(const char *dir, lp_reward_norm *nm, char *err, size_t errsz);
double lp_reward_normalize(const lp_reward_norm *nm, double score);

/* ---- record tags ------------------------------------------------------------
 * String fields the record reader ignores (e.g. "family" and "flaw" of
 * preference records), read from the same JSONL or JSON-array file. */
typedef struct lp_record_tags lp_record_tags;
int lp_record_tags_load(lp_record_tags **out, const char *path, const char *key, char *err, size_t errsz);
void lp_record_tags_destroy(lp_record_tags *t);
/* The tag of the record at `line` (lp_record.line) when the file is JSONL;
 * else of the index-th object. NULL when absent or not a string. */
const char *lp_record_tag(const lp_record_tags *t, size_t index, int line);

#ifdef __cplusplus
}
#endif
#endif
