/* The pretrain stage's parameters, read once from the host services. */
#ifndef LLMPIPE_PRETRAIN_PARAMS_H
#define LLMPIPE_PRETRAIN_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/plugin.h"

#define PT_MAX_LIST 16

typedef struct pt_params {
    int64_t n_layer, n_head, n_embd, n_ctx, vocab_size;
    int64_t batch_size, seq_len, tokens_per_step;
    int64_t max_steps, max_tokens, warmup_steps;
    double lr, min_lr, weight_decay, beta1, beta2, grad_clip;
    int64_t eval_every, eval_batches, sample_every, sample_tokens;
    double temperature;
    int64_t top_k;
    int64_t ckpt_every, keep_last, max_bad_steps;
    const char *precision;
    double peak_gflops;
    const char *data_dir, *tokenizer;
    const char *prompts[PT_MAX_LIST];
    size_t n_prompts;
    int64_t debug_nan_step;      /* tests: poison the loss of this step */
    int64_t debug_step_sleep_ms; /* tests: slow every step down (kill windows) */
} pt_params;

extern const lp_param_spec pt_param_specs[];
extern const size_t pt_param_count;

int pt_params_read(const lp_host_services *h, pt_params *p, char *err, size_t errsz);

#endif
