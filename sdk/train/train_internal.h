/* Trainer internals shared by the loop and its checkpoint code. */
#ifndef LLMPIPE_TRAIN_INTERNAL_H
#define LLMPIPE_TRAIN_INTERNAL_H

#include "llmpipe/error.h"
#include "llmpipe/train.h"

typedef struct trainer_group {
    char name[64];
    char prefix[72]; /* "" for the first group, "<name>." for the others */
    lp_model *m;
    lp_adamw *opt;
    lp_lr_schedule lr;
    double clip;
} trainer_group;

struct lp_trainer {
    lp_model *m; /* the first group's */
    lp_trainer_opts o;
    lp_train_hooks h;
    const lp_host_services *host;
    lp_adamw *opt; /* the first group's */
    trainer_group g[LP_TRAINER_MAX_GROUPS];
    int ng;
    lp_rng rng;
    int64_t step, tokens, skipped_total;
    int bad_run; /* non-finite steps in a row */
    double last_val;
    char last_ckpt[4096];
};

#endif
