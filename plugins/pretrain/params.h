/* The pretrain stage's parameters, read once from the host services. */
#ifndef LLMPIPE_PRETRAIN_PARAMS_H
#define LLMPIPE_PRETRAIN_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/stage.h"

#define PT_MAX_LIST 16

typedef struct pt_params {
    int64_t n_layer, n_head, n_embd, n_ctx, vocab_size;
    int64_t batch_size, seq_len, tokens_per_step, max_tokens;
    int64_t eval_batches, sample_every, sample_tokens;
    double temperature;
    int64_t top_k;
    double peak_gflops;
    const char *data_dir, *tokenizer, *precision;
    const char *prompts[PT_MAX_LIST];
    size_t n_prompts;
    int64_t debug_nan_step;      /* tests: poison the loss of this step */
    int64_t debug_step_sleep_ms; /* tests: slow every step down (kill windows) */
    lp_trainer_opts o;           /* the shared trainer parameters, max_steps resolved */
} pt_params;

/* The stage's schema: its own parameters and the shared trainer ones. */
const lp_param_spec *pt_param_specs(size_t *count);

int pt_params_read(const lp_host_services *h, pt_params *p, char *err, size_t errsz);

#endif
