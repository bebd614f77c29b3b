/* The DPO stage's parameters, read once from the host services. */
#ifndef LLMPIPE_DPO_PARAMS_H
#define LLMPIPE_DPO_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/pref_loss.h"
#include "llmpipe/stage.h"

typedef struct dpo_params {
    const char *data, *ranked_data, *val_data, *eval_tasks, *model, *tokenizer, *precision;
    const char *overlong;     /* "truncate" or "skip" */
    const char *ranked_pairs; /* "all" or "adjacent" */
    lp_pref_loss_cfg loss;
    double val_fraction, epochs;
    int64_t batch_size, pairs_per_step, seq_len;
    int64_t eval_limit, eval_max_new, eval_batch, samples, val_max, max_pairs;
    int skip_bad, eval_at_start;
    int64_t debug_step_sleep_ms;
    lp_trainer_opts o; /* shared trainer parameters; max_steps 0 = from epochs */
} dpo_params;

const lp_param_spec *dpo_param_specs(size_t *count);

int dpo_params_read(const lp_host_services *h, dpo_params *p, char *err, size_t errsz);

#endif
