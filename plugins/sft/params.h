/* The SFT stage's parameters, read once from the host services. */
#ifndef LLMPIPE_SFT_PARAMS_H
#define LLMPIPE_SFT_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/stage.h"

typedef struct sft_params {
    const char *data, *model, *val_data, *eval_tasks, *tokenizer, *precision;
    const char *template_input, *template_no_input; /* "" = Alpaca */
    const char *overlong;                           /* "truncate" or "skip" */
    double val_fraction, epochs;
    int64_t batch_size, seq_len, tokens_per_step;
    int64_t eval_limit, eval_max_new, eval_batch, samples, val_max;
    int pack, share_prefix, skip_bad, eval_at_start;
    int64_t debug_step_sleep_ms;
    lp_trainer_opts o; /* shared trainer parameters; max_steps 0 = from epochs */
} sft_params;

const lp_param_spec *sft_param_specs(size_t *count);

int sft_params_read(const lp_host_services *h, sft_params *p, char *err, size_t errsz);

#endif
