/* Parameter schema of the reward stage and the typed read into rm_params. */
#include "params.h"

#include <stdio.h>
#include <string.h>

static const lp_param_spec own[] = {
    {"data", LP_PARAM_STRING, NULL, 1,
     "training records: preference pairs (prompt, chosen, rejected, optional margin, family, flaw) or "
     "ranked lists (prompt, responses best first), JSONL or a JSON array"},
    {"data_kind", LP_PARAM_STRING, "\"pref\"", 0,
     "\"pref\" (pairwise loss) or \"ranked\" (K-wise loss over all C(K,2) pairs)"},
    {"eval_data", LP_PARAM_STRING, "\"\"", 0,
     "held-out records of data_kind (\"\": val_fraction of data is held out)"},
    {"val_fraction", LP_PARAM_FLOAT, "0.1", 0, "share of data held out when eval_data is not given"},
    {"eval_max", LP_PARAM_INT, "400", 0, "at most this many held-out records are evaluated"},
    {"eval_batch", LP_PARAM_INT, "32", 0, "sequences scored together in evaluation"},
    {"eval_at_start", LP_PARAM_BOOL, "false", 0, "evaluate the starting model before the first step too"},
    {"batch_size", LP_PARAM_INT, "16", 0, "records (pairs or ranked lists) per step"},
    {"context", LP_PARAM_INT, "0", 0,
     "tokens the reward model reads (0: the starting model's n_ctx): a longer prompt + response + "
     "end-of-text keeps its last `context` tokens, and the exported model's n_ctx is `context`, so "
     "`llmpipe score` and PPO, which keep the end of an over-long input, score what training saw"},
    {"skip_bad", LP_PARAM_BOOL, "false", 0, "skip and count malformed records instead of failing"},
    {"epochs", LP_PARAM_FLOAT, "1", 0, "passes over the training records when max_steps is 0"},
    {"margin_scale", LP_PARAM_FLOAT, "1", 0,
     "a record's margin is multiplied by this in the pairwise loss (0: margins ignored)"},
    {"head_std", LP_PARAM_FLOAT, "0", 0, "standard deviation of the new scalar head (0: 1/sqrt(n_embd + 1))"},
    {"onpolicy_tasks", LP_PARAM_STRING, "\"\"", 0,
     "held-out tasks (prompt, family or reference; e.g. `llmpipe data synth`'s eval.jsonl): answers "
     "sampled from the starting model, labelled by the checkers, ranked by the reward model (\"\": off)"},
    {"onpolicy_prompts", LP_PARAM_INT, "48", 0, "tasks of onpolicy_tasks used"},
    {"onpolicy_samples", LP_PARAM_INT, "4", 0, "answers sampled per task"},
    {"onpolicy_max_new", LP_PARAM_INT, "32", 0, "answer length limit in tokens"},
    {"onpolicy_temperature", LP_PARAM_FLOAT, "1.0", 0, "sampling temperature of the on-policy answers"},
    {"lr", LP_PARAM_FLOAT, "3e-4", 0, "peak learning rate"},
    {"min_lr", LP_PARAM_FLOAT, "3e-5", 0, "floor reached by the cosine decay at the last step"},
    {"warmup_steps", LP_PARAM_INT, "10", 0, "linear warmup steps"},
    {"weight_decay", LP_PARAM_FLOAT, "0.0", 0, "AdamW decoupled weight decay (matrices only)"},
    {"model", LP_PARAM_STRING, "\"\"", 0,
     "starting model folder (llmpipe or Hugging Face GPT-2) when no input artifact is one"},
    {"tokenizer", LP_PARAM_STRING, "\"\"", 0, "tokenizer.json overriding the input model's"},
};

const lp_param_spec *rm_param_specs(size_t *count) {
    static lp_param_spec all[64];
    static size_t n;
    if (!n) n = lp_stage_schema(own, sizeof own / sizeof own[0], all, sizeof all / sizeof all[0]);
    *count = n;
    return all;
}

int rm_params_read(const lp_host_services *h, rm_params *p, char *err, size_t errsz) {
    memset(p, 0, sizeof *p);
    lp_host *H = h->host;
    if (lp_stage_trainer_opts(h, &p->o, &p->precision, err, errsz)) return -1;
    if (h->param_string(H, "data", &p->data) || h->param_string(H, "data_kind", &p->data_kind) ||
        h->param_string(H, "eval_data", &p->eval_data) ||
        h->param_float(H, "val_fraction", &p->val_fraction) || h->param_int(H, "eval_max", &p->eval_max) ||
        h->param_int(H, "eval_batch", &p->eval_batch) ||
        h->param_bool(H, "eval_at_start", &p->eval_at_start) ||
        h->param_int(H, "batch_size", &p->batch_size) || h->param_int(H, "context", &p->context) ||
        h->param_bool(H, "skip_bad", &p->skip_bad) || h->param_float(H, "epochs", &p->epochs) ||
        h->param_float(H, "margin_scale", &p->margin_scale) || h->param_float(H, "head_std", &p->head_std) ||
        h->param_string(H, "onpolicy_tasks", &p->onpolicy_tasks) ||
        h->param_int(H, "onpolicy_prompts", &p->onpolicy_prompts) ||
        h->param_int(H, "onpolicy_samples", &p->onpolicy_samples) ||
        h->param_int(H, "onpolicy_max_new", &p->onpolicy_max_new) ||
        h->param_float(H, "onpolicy_temperature", &p->onpolicy_temperature) ||
        h->param_string(H, "model", &p->model) || h->param_string(H, "tokenizer", &p->tokenizer))
        return lp_errf(err, errsz, "stage '%s': parameters: %s", h->stage_name(H), h->last_error(H));
    const char *bad = NULL;
    if (strcmp(p->data_kind, "pref") && strcmp(p->data_kind, "ranked"))
        bad = "data_kind \"pref\" or \"ranked\"";
    else if (!(p->val_fraction >= 0 && p->val_fraction < 1))
        bad = "0 <= val_fraction < 1";
    else if (p->batch_size < 1 || p->context < 0 || p->eval_max < 1 || p->eval_batch < 1)
        bad = "batch_size >= 1, context >= 0, eval_max >= 1, eval_batch >= 1";
    else if (p->o.max_steps == 0 && !(p->epochs > 0))
        bad = "max_steps > 0 or epochs > 0";
    else if (!(p->margin_scale >= 0) || !(p->head_std >= 0))
        bad = "margin_scale >= 0, head_std >= 0";
    else if (p->onpolicy_prompts < 0 || p->onpolicy_samples < 2 || p->onpolicy_max_new < 1 ||
             !(p->onpolicy_temperature >= 0))
        bad =
            "onpolicy_prompts >= 0, onpolicy_samples >= 2, onpolicy_max_new >= 1, onpolicy_temperature >= 0";
    if (bad) return lp_errf(err, errsz, "stage '%s': parameters: expected %s", h->stage_name(H), bad);
    return 0;
}
