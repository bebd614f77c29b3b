/* The training loop every stage reuses: learning-rate schedule, gradient
 * accumulation, global-norm clipping, AdamW, non-finite step skipping,
 * periodic validation and samples, metrics and progress through the host
 * services, and in-stage checkpoints with exact resume.
 *
 * A stage supplies hooks: `micro` runs forward + loss + backward on one
 * micro-batch (gradients accumulate in the model), the rest are optional.
 * The trainer owns the optimizer step and everything around it.
 *
 * Resume is exact: weights (fp32), AdamW moments and step, the trainer's
 * counters and RNG, and whatever the stage's `save` hook writes (its data
 * loader position) are restored, so on the same thread count the loss curve
 * after a resume equals the uninterrupted one bit for bit.
 *
 * int functions return 0 on success and -1 with a one-line message in err. */
#ifndef LLMPIPE_TRAIN_H
#define LLMPIPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/ckpt.h"
#include "llmpipe/model.h"
#include "llmpipe/optim.h"
#include "llmpipe/plugin.h"
#include "llmpipe/sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- learning-rate schedule ---------------------------------------------
 * Steps count from 0. Linear warmup: lr(s) = lr_max * (s + 1) / warmup for
 * s < warmup; then cosine from lr_max down to lr_min, reached at s = total;
 * lr_min afterwards. warmup = 0 starts at lr_max; total <= warmup holds
 * lr_max after the warmup. */
typedef struct lp_lr_schedule {
    double lr_max, lr_min;
    int64_t warmup, total;
} lp_lr_schedule;

double lp_lr_at(const lp_lr_schedule *s, int64_t step);

/* ---- trainer ------------------------------------------------------------ */

typedef struct lp_trainer_opts {
    lp_lr_schedule lr;
    lp_adamw_config adamw;      /* .lr is ignored: the schedule sets it */
    int micro_steps;            /* micro-batches accumulated per update (>= 1) */
    double clip;                /* global gradient-norm limit; <= 0: off */
    int64_t max_steps;          /* optimizer steps in total (resume included) */
    int64_t eval_every;         /* validation every N steps (and at the end); 0: off */
    int64_t sample_every;       /* sample hook every N steps; 0: off */
    int64_t ckpt_every;         /* in-stage checkpoint every N steps; 0: only at the end */
    int keep_last;              /* in-stage checkpoints kept (<= 0: all) */
    int max_bad_steps;          /* stop after this many non-finite steps in a row (>= 1) */
    const char *ckpt_dir;       /* where in-stage checkpoints go; NULL: none */
    int eot;                    /* written to config.json (-1: none) */
    const char *tokenizer_json; /* copied into each checkpoint (may be NULL) */
    double flops_per_token;     /* training FLOPs per token, for MFU (0: no MFU) */
    double peak_flops;          /* the machine's peak FLOP/s, for MFU */
    uint64_t seed;              /* seeds lp_trainer_rng */
} lp_trainer_opts;

typedef struct lp_train_hooks {
    void *user;
    /* Micro-batch `micro` of n_micro in this step: forward, loss, backward.
     * Scale the loss so that the n_micro contributions sum to the step's
     * mean loss (e.g. norm = all tokens of the step); return that
     * contribution in *loss and the tokens consumed in *tokens. */
    int (*micro)(void *user, lp_model *m, int micro, int n_micro, double *loss, int64_t *tokens, char *err,
                 size_t errsz);
    /* Validation loss (optional). Must not change anything resume depends on. */
    int (*evaluate)(void *user, lp_model *m, double *val_loss, char *err, size_t errsz);
    /* A generated sample (optional), e.g. published with emit_text. */
    int (*sample)(void *user, lp_model *m, int64_t step, char *err, size_t errsz);
    /* The stage's own state (data-loader position, ...) into the trainer
     * state file, and files into the checkpoint folder dir (optional). */
    int (*save)(void *user, lp_state_writer *w, const char *dir, char *err, size_t errsz);
    int (*load)(void *user, const lp_state *s, const char *dir, char *err, size_t errsz);
} lp_train_hooks;

#define LP_TRAINER_MAX_GROUPS 8

typedef struct lp_step_result {
    int64_t step;     /* steps done after this one (1-based) */
    double loss;      /* mean over the step's micro-batches */
    double grad_norm; /* before clipping (the first group's) */
    double lr;        /* the first group's */
    double group_grad_norm[LP_TRAINER_MAX_GROUPS];
    double group_lr[LP_TRAINER_MAX_GROUPS];
    int64_t tokens;
    double seconds;
    int skipped; /* non-finite loss or gradient: no update */
} lp_step_result;

typedef struct lp_trainer lp_trainer;

/* host may be NULL (tests): no metrics, events, progress or cancellation. */
lp_trainer *lp_trainer_create(lp_model *m, const lp_trainer_opts *o, const lp_train_hooks *h,
                              const lp_host_services *host, char *err, size_t errsz);

/* Several models trained together (actor and critic): each group has its
 * own AdamW, learning-rate schedule and clipping; one step runs the micro
 * hook (given the first group's model; the stage reaches the others
 * itself), then clips and updates every group. A non-finite loss or any
 * group's non-finite gradient skips the update of all groups. One
 * checkpoint holds every group: the first group's model is the folder's
 * model (as with one model), the others' weights and every group's AdamW
 * state are records of trainer.state under "<name>." (the first group's
 * without a prefix, so a one-group checkpoint is the one-model one). */
typedef struct lp_trainer_group {
    const char *name;      /* unique, [A-Za-z0-9_-], at most 63 bytes */
    lp_model *model;       /* trainable (not frozen) */
    lp_adamw_config adamw; /* .lr is ignored: the schedule sets it */
    lp_lr_schedule lr;
    double clip; /* this group's gradient-norm limit; <= 0: off */
} lp_trainer_group;

/* o->lr, o->adamw and o->clip are ignored (each group has its own). */
lp_trainer *lp_trainer_create_groups(const lp_trainer_group *groups, int n_groups, const lp_trainer_opts *o,
                                     const lp_train_hooks *h, const lp_host_services *host, char *err,
                                     size_t errsz);
int lp_trainer_num_groups(const lp_trainer *t);
lp_adamw *lp_trainer_group_optimizer(lp_trainer *t, int k);
void lp_trainer_destroy(lp_trainer *t);

/* Restores the newest valid in-stage checkpoint of ckpt_dir. Returns 1 when
 * resumed, 0 when there was none, -1 on error. */
int lp_trainer_resume(lp_trainer *t, char *err, size_t errsz);
/* Steps until max_steps, with validation, samples, checkpoints and metrics;
 * writes a final checkpoint when ckpt_dir is set. Returns 0 when the budget
 * is done, 1 when the host asked to stop (a checkpoint was written: resume
 * continues from it), -1 on error — also after max_bad_steps non-finite
 * steps in a row. */
int lp_trainer_run(lp_trainer *t, char *err, size_t errsz);
/* One optimizer step (the building block of run). */
int lp_trainer_step(lp_trainer *t, lp_step_result *r, char *err, size_t errsz);
/* Writes an in-stage checkpoint of the current state now; its folder in dir. */
int lp_trainer_checkpoint(lp_trainer *t, char *dir, size_t dir_size, char *err, size_t errsz);

int64_t lp_trainer_steps_done(const lp_trainer *t);
int64_t lp_trainer_max_steps(const lp_trainer *t);
int64_t lp_trainer_tokens_seen(const lp_trainer *t);
int64_t lp_trainer_skipped_total(const lp_trainer *t);
double lp_trainer_last_val_loss(const lp_trainer *t); /* NaN before any */
/* Folder of the newest checkpoint written or restored ("" when none). */
const char *lp_trainer_last_checkpoint(const lp_trainer *t);
lp_adamw *lp_trainer_optimizer(lp_trainer *t);
/* A stream for the stage's own randomness, saved with the checkpoints. */
lp_rng *lp_trainer_rng(lp_trainer *t);

/* A malloc'ed, NUL-terminated copy of text[0..n) with every byte that is not
 * part of valid UTF-8 (and NUL) replaced by U+FFFD: generated samples end at
 * arbitrary byte-level tokens. NULL when out of memory. */
char *lp_utf8_sanitize(const char *text, size_t n);

/* Training FLOPs per token of a GPT (6N + 12 L T C, N without positions). */
double lp_gpt_flops_per_token(const lp_model_config *c, int T);

#ifdef __cplusplus
}
#endif
#endif
