/* Parameter schema of the DPO stage and the typed read into dpo_params. */
#include "params.h"

#include <stdio.h>
#include <string.h>

static const lp_param_spec own[] = {
    {"data", LP_PARAM_STRING, "\"\"", 0,
     "preference pairs, JSONL or a JSON array of {prompt (rendered), chosen, rejected} (`llmpipe data "
     "synth`'s pref.jsonl)"},
    {"ranked_data", LP_PARAM_STRING, "\"\"", 0,
     "ranked lists {prompt, responses best first}, expanded into pairs (ranked.jsonl); data, ranked_data "
     "or both"},
    {"ranked_pairs", LP_PARAM_STRING, "\"all\"", 0,
     "pairs from a ranked list of K: \"all\" (every better-worse pair, K(K-1)/2) or \"adjacent\" (K-1)"},
    {"loss", LP_PARAM_STRING, "\"dpo\"", 0,
     "\"dpo\" (sigmoid), \"cdpo\" (conservative DPO: label_smoothing) or \"ipo\""},
    {"beta", LP_PARAM_FLOAT, "0.1", 0, "strength of the pull towards the reference model"},
    {"label_smoothing", LP_PARAM_FLOAT, "0.1", 0,
     "cdpo: the probability that a preference label is wrong (0 <= eps < 0.5)"},
    {"val_data", LP_PARAM_STRING, "\"\"", 0,
     "held-out preference pairs for the implicit-reward accuracy (\"\": val_fraction of the data)"},
    {"val_fraction", LP_PARAM_FLOAT, "0.05", 0,
     "share of the records held out when val_data is not given (a ranked list stays whole)"},
    {"val_max", LP_PARAM_INT, "400", 0, "at most this many held-out pairs"},
    {"max_pairs", LP_PARAM_INT, "0", 0,
     "at most this many training pairs, the first ones in file order (pairs, then ranked lists; 0: all)"},
    {"eval_tasks", LP_PARAM_STRING, "\"\"", 0,
     "held-out tasks (prompt, family or reference; `llmpipe data synth`'s eval.jsonl) for exact match at "
     "every eval_every and at the end (\"\": none)"},
    {"eval_limit", LP_PARAM_INT, "0", 0, "evaluate at most this many tasks (0: all)"},
    {"eval_max_new", LP_PARAM_INT, "48", 0, "answer length limit of the exact-match evaluation, in tokens"},
    {"eval_batch", LP_PARAM_INT, "32", 0, "tasks decoded together"},
    {"eval_at_start", LP_PARAM_BOOL, "true", 0,
     "exact match and held-out log-probabilities of the input model before the first step too"},
    {"samples", LP_PARAM_INT, "3", 0, "sample answers logged at each exact-match evaluation"},
    {"seq_len", LP_PARAM_INT, "0", 0,
     "tokens of prompt + response + end-of-text per sequence (0: the model's n_ctx); a row holds the "
     "chosen and the rejected sequence of one pair"},
    {"batch_size", LP_PARAM_INT, "8", 0, "pairs per micro-batch (one row each)"},
    {"pairs_per_step", LP_PARAM_INT, "0", 0,
     "pairs per optimizer step, a multiple of batch_size (0: one "
     "micro-batch)"},
    {"overlong", LP_PARAM_STRING, "\"truncate\"", 0,
     "sequences longer than seq_len: \"truncate\" (keep the start) or \"skip\" (the pair)"},
    {"skip_bad", LP_PARAM_BOOL, "false", 0, "skip and count malformed records instead of failing"},
    {"epochs", LP_PARAM_FLOAT, "1", 0, "passes over the training pairs when max_steps is 0"},
    {"lr", LP_PARAM_FLOAT, "1e-4", 0, "peak learning rate"},
    {"min_lr", LP_PARAM_FLOAT, "1e-5", 0, "floor reached by the cosine decay at the last step"},
    {"warmup_steps", LP_PARAM_INT, "10", 0, "linear warmup steps"},
    {"weight_decay", LP_PARAM_FLOAT, "0.0", 0, "AdamW decoupled weight decay (matrices only)"},
    {"model", LP_PARAM_STRING, "\"\"", 0,
     "starting model folder (llmpipe or Hugging Face GPT-2; normally the SFT artifact) when no input "
     "artifact is one; the reference is a frozen copy of it"},
    {"tokenizer", LP_PARAM_STRING, "\"\"", 0, "tokenizer.json overriding the input model's"},
    {"debug_step_sleep_ms", LP_PARAM_INT, "0", 0, "testing: sleep this long in every step"},
};

const lp_param_spec *dpo_param_specs(size_t *count) {
    static lp_param_spec all[64];
    static size_t n;
    if (!n) n = lp_stage_schema(own, sizeof own / sizeof own[0], all, sizeof all / sizeof all[0]);
    *count = n;
    return all;
}

int dpo_params_read(const lp_host_services *h, dpo_params *p, char *err, size_t errsz) {
    memset(p, 0, sizeof *p);
    lp_host *H = h->host;
    const char *loss = NULL;
    if (lp_stage_trainer_opts(h, &p->o, &p->precision, err, errsz)) return -1;
    if (h->param_string(H, "data", &p->data) || h->param_string(H, "ranked_data", &p->ranked_data) ||
        h->param_string(H, "ranked_pairs", &p->ranked_pairs) || h->param_string(H, "loss", &loss) ||
        h->param_float(H, "beta", &p->loss.beta) ||
        h->param_float(H, "label_smoothing", &p->loss.label_smoothing) ||
        h->param_string(H, "val_data", &p->val_data) || h->param_float(H, "val_fraction", &p->val_fraction) ||
        h->param_int(H, "val_max", &p->val_max) || h->param_int(H, "max_pairs", &p->max_pairs) ||
        h->param_string(H, "eval_tasks", &p->eval_tasks) || h->param_int(H, "eval_limit", &p->eval_limit) ||
        h->param_int(H, "eval_max_new", &p->eval_max_new) || h->param_int(H, "eval_batch", &p->eval_batch) ||
        h->param_bool(H, "eval_at_start", &p->eval_at_start) || h->param_int(H, "samples", &p->samples) ||
        h->param_int(H, "seq_len", &p->seq_len) || h->param_int(H, "batch_size", &p->batch_size) ||
        h->param_int(H, "pairs_per_step", &p->pairs_per_step) ||
        h->param_string(H, "overlong", &p->overlong) || h->param_bool(H, "skip_bad", &p->skip_bad) ||
        h->param_float(H, "epochs", &p->epochs) || h->param_string(H, "model", &p->model) ||
        h->param_string(H, "tokenizer", &p->tokenizer) ||
        h->param_int(H, "debug_step_sleep_ms", &p->debug_step_sleep_ms))
        return lp_errf(err, errsz, "stage '%s': parameters: %s", h->stage_name(H), h->last_error(H));
    const char *bad = NULL;
    char why[256];
    if (lp_pref_loss_parse(loss, &p->loss.kind))
        bad = "loss \"dpo\", \"cdpo\" or \"ipo\"";
    else if (lp_pref_loss_check(&p->loss, why, sizeof why))
        return lp_errf(err, errsz, "stage '%s': parameters: %s", h->stage_name(H), why);
    else if (!p->data[0] && !p->ranked_data[0])
        bad = "data (preference pairs) or ranked_data (ranked lists)";
    else if (strcmp(p->overlong, "truncate") && strcmp(p->overlong, "skip"))
        bad = "overlong \"truncate\" or \"skip\"";
    else if (strcmp(p->ranked_pairs, "all") && strcmp(p->ranked_pairs, "adjacent"))
        bad = "ranked_pairs \"all\" or \"adjacent\"";
    else if (!(p->val_fraction >= 0 && p->val_fraction < 1))
        bad = "0 <= val_fraction < 1";
    else if (p->batch_size < 1 || p->seq_len < 0 || p->pairs_per_step < 0 ||
             (p->pairs_per_step && p->pairs_per_step % p->batch_size))
        bad = "batch_size >= 1, seq_len >= 0, pairs_per_step a multiple of batch_size (or 0)";
    else if (p->o.max_steps == 0 && !(p->epochs > 0))
        bad = "max_steps > 0 or epochs > 0";
    else if (p->eval_limit < 0 || p->eval_max_new < 1 || p->eval_batch < 1 || p->samples < 0 ||
             p->val_max < 1 || p->max_pairs < 0)
        bad =
            "eval_limit >= 0, eval_max_new >= 1, eval_batch >= 1, samples >= 0, val_max >= 1, max_pairs >= 0";
    if (bad) return lp_errf(err, errsz, "stage '%s': parameters: expected %s", h->stage_name(H), bad);
    return 0;
}
