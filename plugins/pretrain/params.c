/* Parameter schema of the pretrain stage (the host validates configs against
 * it and fills the defaults) and the typed read into pt_params. */
#include <stdio.h>
#include <string.h>

#include "params.h"

static const lp_param_spec own[] = {
    {"n_layer", LP_PARAM_INT, "4", 0, "transformer blocks"},
    {"n_head", LP_PARAM_INT, "4", 0, "attention heads"},
    {"n_embd", LP_PARAM_INT, "128", 0, "model width (a multiple of n_head)"},
    {"n_ctx", LP_PARAM_INT, "128", 0, "context length (position table size)"},
    {"vocab_size", LP_PARAM_INT, "0", 0, "0: the tokenizer's vocabulary size"},
    {"batch_size", LP_PARAM_INT, "8", 0, "sequences per micro-batch"},
    {"seq_len", LP_PARAM_INT, "0", 0, "tokens per sequence (0: n_ctx)"},
    {"tokens_per_step", LP_PARAM_INT, "0", 0,
     "tokens per optimizer step, a multiple of batch_size*seq_len (0: one micro-batch); gradient "
     "accumulation"},
    {"max_steps", LP_PARAM_INT, "0", 0, "optimizer steps (0: from max_tokens)"},
    {"max_tokens", LP_PARAM_INT, "0", 0, "token budget when max_steps is 0"},
    {"eval_batches", LP_PARAM_INT, "8", 0, "validation micro-batches (always the same windows)"},
    {"sample_every", LP_PARAM_INT, "0", 0,
     "generate samples every N steps and at the end (0: only at the end)"},
    {"sample_tokens", LP_PARAM_INT, "48", 0, "tokens per sample"},
    {"sample_prompts", LP_PARAM_STRING_LIST, "[\"The\", \"人生\"]", 0,
     "prompts of the samples (no trailing space: byte-level BPE puts spaces before words)"},
    {"temperature", LP_PARAM_FLOAT, "0.8", 0, "sampling temperature"},
    {"top_k", LP_PARAM_INT, "40", 0, "sampling top-k (0: off)"},
    {"peak_gflops", LP_PARAM_FLOAT, "0", 0,
     "machine peak for MFU (0: threads x 204.8, AVX-512 FMA at 3.2 GHz)"},
    {"data_dir", LP_PARAM_STRING, "\"\"", 0,
     "folder with train.bin, val.bin, tokenizer.json when no input artifact provides them"},
    {"tokenizer", LP_PARAM_STRING, "\"\"", 0, "tokenizer.json overriding the data folder's"},
    {"debug_nan_step", LP_PARAM_INT, "0", 0, "testing: make the loss of this step NaN (0: off)"},
    {"debug_step_sleep_ms", LP_PARAM_INT, "0", 0, "testing: sleep this long in every step"},
};

const lp_param_spec *pt_param_specs(size_t *count) {
    static lp_param_spec all[64];
    static size_t n;
    if (!n) n = lp_stage_schema(own, sizeof own / sizeof own[0], all, sizeof all / sizeof all[0]);
    *count = n;
    return all;
}

#define GI(k) \
    if (h->param_int(h->host, #k, &p->k)) goto fail
#define GF(k) \
    if (h->param_float(h->host, #k, &p->k)) goto fail
#define GS(k) \
    if (h->param_string(h->host, #k, &p->k)) goto fail

int pt_params_read(const lp_host_services *h, pt_params *p, char *err, size_t errsz) {
    memset(p, 0, sizeof *p);
    if (lp_stage_trainer_opts(h, &p->o, &p->precision, err, errsz)) return -1;
    GI(n_layer);
    GI(n_head);
    GI(n_embd);
    GI(n_ctx);
    GI(vocab_size);
    GI(batch_size);
    GI(seq_len);
    GI(tokens_per_step);
    GI(max_tokens);
    GI(eval_batches);
    GI(sample_every);
    GI(sample_tokens);
    GF(temperature);
    GI(top_k);
    GF(peak_gflops);
    GS(data_dir);
    GS(tokenizer);
    GI(debug_nan_step);
    GI(debug_step_sleep_ms);
    if (h->param_list_size(h->host, "sample_prompts", &p->n_prompts)) goto fail;
    if (p->n_prompts > PT_MAX_LIST)
        return lp_errf(err, errsz, "parameter sample_prompts: %zu prompts, at most %d", p->n_prompts,
                       PT_MAX_LIST);
    for (size_t i = 0; i < p->n_prompts; i++)
        if (h->param_list_string(h->host, "sample_prompts", i, &p->prompts[i])) goto fail;
    if (p->seq_len == 0) p->seq_len = p->n_ctx;
    const char *bad = NULL;
    if (p->n_layer < 1 || p->n_head < 1 || p->n_embd < 1 || p->n_embd % p->n_head)
        bad = "n_layer, n_head >= 1 and n_embd a positive multiple of n_head";
    else if (p->batch_size < 1 || p->seq_len < 1 || p->seq_len > p->n_ctx)
        bad = "batch_size >= 1 and 1 <= seq_len <= n_ctx";
    else if (p->tokens_per_step < 0 || (p->tokens_per_step % (p->batch_size * p->seq_len)))
        bad = "tokens_per_step a multiple of batch_size * seq_len";
    else if (p->max_tokens < 0 || (p->o.max_steps == 0 && p->max_tokens == 0))
        bad = "max_steps or max_tokens > 0";
    else if (p->eval_batches < 1 || p->sample_every < 0 || p->sample_tokens < 1)
        bad = "sample_every >= 0; eval_batches, sample_tokens >= 1";
    if (bad) return lp_errf(err, errsz, "pretrain parameters: expected %s", bad);
    if (p->tokens_per_step == 0) p->tokens_per_step = p->batch_size * p->seq_len;
    p->o.micro_steps = (int)(p->tokens_per_step / (p->batch_size * p->seq_len));
    if (!p->o.max_steps) p->o.max_steps = (p->max_tokens + p->tokens_per_step - 1) / p->tokens_per_step;
    p->o.lr.total = p->o.max_steps;
    p->o.sample_every = p->sample_every;
    return 0;
fail:
    return lp_errf(err, errsz, "pretrain parameters: %s", h->last_error(h->host));
}
