/* Parameter schema of the SFT stage and the typed read into sft_params. */
#include "params.h"

#include <stdio.h>
#include <string.h>

static const lp_param_spec own[] = {
    {"data", LP_PARAM_STRING, NULL, 1,
     "instruction records: Alpaca JSON array or JSONL (instruction, optional input, output)"},
    {"val_data", LP_PARAM_STRING, "\"\"", 0,
     "held-out records for the validation loss (\"\": val_fraction of data is held out)"},
    {"val_fraction", LP_PARAM_FLOAT, "0.02", 0, "share of data held out when val_data is not given"},
    {"val_max", LP_PARAM_INT, "400", 0, "at most this many held-out records in the validation loss"},
    {"eval_tasks", LP_PARAM_STRING, "\"\"", 0,
     "held-out tasks (prompt, family or reference; e.g. `llmpipe data synth`'s eval.jsonl) for exact "
     "match at every eval_every and at the end (\"\": none)"},
    {"eval_limit", LP_PARAM_INT, "0", 0, "evaluate at most this many tasks (0: all)"},
    {"eval_max_new", LP_PARAM_INT, "48", 0, "answer length limit of the exact-match evaluation, in tokens"},
    {"eval_batch", LP_PARAM_INT, "32", 0, "tasks decoded together"},
    {"eval_at_start", LP_PARAM_BOOL, "true", 0, "exact match of the input model before the first step too"},
    {"samples", LP_PARAM_INT, "3", 0, "sample answers logged at each evaluation"},
    {"template", LP_PARAM_STRING, "\"\"", 0,
     "prompt template for records with input, with {instruction} and {input} (\"\": Alpaca's)"},
    {"template_no_input", LP_PARAM_STRING, "\"\"", 0,
     "prompt template for records without input, with {instruction} (\"\": Alpaca's)"},
    {"seq_len", LP_PARAM_INT, "0", 0, "tokens per row (0: the model's n_ctx)"},
    {"batch_size", LP_PARAM_INT, "8", 0, "rows per micro-batch"},
    {"tokens_per_step", LP_PARAM_INT, "0", 0,
     "row tokens per optimizer step, a multiple of batch_size*seq_len (0: one micro-batch)"},
    {"packing", LP_PARAM_BOOL, "true", 0,
     "pack several examples into a row, each attending only to itself (false: one example a row, "
     "padded)"},
    {"share_prefix", LP_PARAM_BOOL, "true", 0,
     "with packing: the prompt preamble common to all records (at least 4 tokens) computed once a row, "
     "every example of the row attending to it (exact; false: each example computes its own)"},
    {"overlong", LP_PARAM_STRING, "\"truncate\"", 0,
     "records longer than seq_len: \"truncate\" (keep the start) or \"skip\""},
    {"skip_bad", LP_PARAM_BOOL, "false", 0, "skip and count malformed records instead of failing"},
    {"epochs", LP_PARAM_FLOAT, "3", 0, "passes over the training records when max_steps is 0"},
    {"lr", LP_PARAM_FLOAT, "1e-3", 0, "peak learning rate"},
    {"min_lr", LP_PARAM_FLOAT, "1e-4", 0, "floor reached by the cosine decay at the last step"},
    {"warmup_steps", LP_PARAM_INT, "10", 0, "linear warmup steps"},
    {"weight_decay", LP_PARAM_FLOAT, "0.0", 0, "AdamW decoupled weight decay (matrices only)"},
    {"model", LP_PARAM_STRING, "\"\"", 0,
     "starting model folder (llmpipe or Hugging Face GPT-2) when no input artifact is one"},
    {"tokenizer", LP_PARAM_STRING, "\"\"", 0, "tokenizer.json overriding the input model's"},
    {"debug_step_sleep_ms", LP_PARAM_INT, "0", 0, "testing: sleep this long in every step"},
};

const lp_param_spec *sft_param_specs(size_t *count) {
    static lp_param_spec all[64];
    static size_t n;
    if (!n) n = lp_stage_schema(own, sizeof own / sizeof own[0], all, sizeof all / sizeof all[0]);
    *count = n;
    return all;
}

int sft_params_read(const lp_host_services *h, sft_params *p, char *err, size_t errsz) {
    memset(p, 0, sizeof *p);
    lp_host *H = h->host;
    if (lp_stage_trainer_opts(h, &p->o, &p->precision, err, errsz)) return -1;
    if (h->param_string(H, "data", &p->data) || h->param_string(H, "val_data", &p->val_data) ||
        h->param_float(H, "val_fraction", &p->val_fraction) || h->param_int(H, "val_max", &p->val_max) ||
        h->param_string(H, "eval_tasks", &p->eval_tasks) || h->param_int(H, "eval_limit", &p->eval_limit) ||
        h->param_int(H, "eval_max_new", &p->eval_max_new) || h->param_int(H, "eval_batch", &p->eval_batch) ||
        h->param_bool(H, "eval_at_start", &p->eval_at_start) || h->param_int(H, "samples", &p->samples) ||
        h->param_string(H, "template", &p->template_input) ||
        h->param_string(H, "template_no_input", &p->template_no_input) ||
        h->param_int(H, "seq_len", &p->seq_len) || h->param_int(H, "batch_size", &p->batch_size) ||
        h->param_int(H, "tokens_per_step", &p->tokens_per_step) || h->param_bool(H, "packing", &p->pack) ||
        h->param_string(H, "overlong", &p->overlong) || h->param_bool(H, "skip_bad", &p->skip_bad) ||
        h->param_float(H, "epochs", &p->epochs) || h->param_string(H, "tokenizer", &p->tokenizer) ||
        h->param_string(H, "model", &p->model) || h->param_bool(H, "share_prefix", &p->share_prefix) ||
        h->param_int(H, "debug_step_sleep_ms", &p->debug_step_sleep_ms))
        return lp_errf(err, errsz, "stage '%s': parameters: %s", h->stage_name(H), h->last_error(H));
    const char *bad = NULL;
    if (strcmp(p->overlong, "truncate") && strcmp(p->overlong, "skip"))
        bad = "overlong \"truncate\" or \"skip\"";
    else if (!(p->val_fraction >= 0 && p->val_fraction < 1))
        bad = "0 <= val_fraction < 1";
    else if (p->batch_size < 1 || p->seq_len < 0 || p->tokens_per_step < 0)
        bad = "batch_size >= 1, seq_len >= 0, tokens_per_step >= 0";
    else if (p->o.max_steps == 0 && !(p->epochs > 0))
        bad = "max_steps > 0 or epochs > 0";
    else if (p->eval_limit < 0 || p->eval_max_new < 1 || p->eval_batch < 1 || p->samples < 0 ||
             p->val_max < 1)
        bad = "eval_limit >= 0, eval_max_new >= 1, eval_batch >= 1, samples >= 0, val_max >= 1";
    if (bad) return lp_errf(err, errsz, "stage '%s': parameters: expected %s", h->stage_name(H), bad);
    return 0;
}
