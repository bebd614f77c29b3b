/* The reward stage's parameters, read once from the host services. */
#ifndef LLMPIPE_REWARD_PARAMS_H
#define LLMPIPE_REWARD_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/stage.h"

typedef struct rm_params {
    const char *data, *data_kind, *eval_data, *model, *tokenizer, *precision;
    const char *onpolicy_tasks;
    double val_fraction, epochs, head_std, margin_scale, onpolicy_temperature;
    int64_t batch_size, context, eval_max, eval_batch;
    int64_t onpolicy_prompts, onpolicy_samples, onpolicy_max_new;
    int skip_bad, eval_at_start;
    lp_trainer_opts o; /* shared trainer parameters; max_steps 0 = from epochs */
} rm_params;

const lp_param_spec *rm_param_specs(size_t *count);

int rm_params_read(const lp_host_services *h, rm_params *p, char *err, size_t errsz);

#endif
