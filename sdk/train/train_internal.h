/* Trainer internals shared by the loop and its checkpoint code. */
#ifndef LLMPIPE_TRAIN_INTERNAL_H
#define LLMPIPE_TRAIN_INTERNAL_H

#include "llmpipe/train.h"

struct lp_trainer {
    lp_model *m;
    lp_trainer_opts o;
    lp_train_hooks h;
    const lp_host_services *host;
    lp_adamw *opt;
    lp_rng rng;
    int64_t step, tokens, skipped_total;
    int bad_run; /* non-finite steps in a row */
    double last_val;
    char last_ckpt[4096];
};

#endif
