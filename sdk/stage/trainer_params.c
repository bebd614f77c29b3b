/* The trainer parameters every training stage shares, and the resume / stop
 * handling around lp_trainer_run. */
#include <stdio.h>
#include <string.h>

#include "stage_internal.h"

/* The defaults are pretrain's, the stage the others are modelled on. */
const lp_param_spec lp_trainer_param_specs[] = {
    {"max_steps", LP_PARAM_INT, "0", 0, "optimizer steps"},
    {"warmup_steps", LP_PARAM_INT, "20", 0, "linear warmup steps"},
    {"lr", LP_PARAM_FLOAT, "1e-3", 0, "peak learning rate"},
    {"min_lr", LP_PARAM_FLOAT, "1e-4", 0, "floor reached by the cosine decay at the last step"},
    {"weight_decay", LP_PARAM_FLOAT, "0.1", 0, "AdamW decoupled weight decay (matrices only)"},
    {"beta1", LP_PARAM_FLOAT, "0.9", 0, "AdamW beta1"},
    {"beta2", LP_PARAM_FLOAT, "0.95", 0, "AdamW beta2"},
    {"grad_clip", LP_PARAM_FLOAT, "1.0", 0, "global gradient-norm limit (0: off)"},
    {"eval_every", LP_PARAM_INT, "50", 0, "validation every N steps and at the end (0: off)"},
    {"ckpt_every", LP_PARAM_INT, "100", 0, "in-stage checkpoint every N steps (0: only at the end)"},
    {"keep_last", LP_PARAM_INT, "2", 0, "in-stage checkpoints kept"},
    {"max_bad_steps", LP_PARAM_INT, "5", 0, "stop after this many non-finite steps in a row"},
    {"precision", LP_PARAM_STRING, "\"fp32\"", 0, "\"fp32\" or \"bf16\" (bf16 GEMMs, fp32 master weights)"},
};
const size_t lp_trainer_param_count = sizeof lp_trainer_param_specs / sizeof lp_trainer_param_specs[0];

size_t lp_stage_schema(const lp_param_spec *own, size_t n_own, lp_param_spec *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < n_own; i++) {
        if (n == cap) return 0;
        out[n++] = own[i];
    }
    for (size_t j = 0; j < lp_trainer_param_count; j++) {
        int listed = 0;
        for (size_t i = 0; i < n_own && !listed; i++)
            listed = !strcmp(own[i].name, lp_trainer_param_specs[j].name);
        if (listed) continue;
        if (n == cap) return 0;
        out[n++] = lp_trainer_param_specs[j];
    }
    return n;
}

int lp_stage_trainer_opts(const lp_host_services *h, lp_trainer_opts *o, const char **precision, char *err,
                          size_t errsz) {
    lp_host *H = h->host;
    int64_t max_steps, warmup, eval_every, ckpt_every, keep_last, max_bad;
    double lr, min_lr, wd, b1, b2, clip;
    const char *prec;
    if (h->param_int(H, "max_steps", &max_steps) || h->param_int(H, "warmup_steps", &warmup) ||
        h->param_float(H, "lr", &lr) || h->param_float(H, "min_lr", &min_lr) ||
        h->param_float(H, "weight_decay", &wd) || h->param_float(H, "beta1", &b1) ||
        h->param_float(H, "beta2", &b2) || h->param_float(H, "grad_clip", &clip) ||
        h->param_int(H, "eval_every", &eval_every) || h->param_int(H, "ckpt_every", &ckpt_every) ||
        h->param_int(H, "keep_last", &keep_last) || h->param_int(H, "max_bad_steps", &max_bad) ||
        h->param_string(H, "precision", &prec))
        return lp_errf(err, errsz, "stage '%s': parameters: %s", lp_stage_name(h), h->last_error(H));
    const char *bad = NULL;
    if (max_steps < 0)
        bad = "max_steps >= 0";
    else if (!(lr > 0) || min_lr < 0 || min_lr > lr)
        bad = "lr > 0 and 0 <= min_lr <= lr";
    else if (warmup < 0 || eval_every < 0 || ckpt_every < 0 || max_bad < 1)
        bad = "warmup_steps, eval_every, ckpt_every >= 0 and max_bad_steps >= 1";
    else if (!(b1 >= 0 && b1 < 1) || !(b2 >= 0 && b2 < 1) || wd < 0)
        bad = "0 <= beta1, beta2 < 1 and weight_decay >= 0";
    else if (strcmp(prec, "fp32") && strcmp(prec, "bf16"))
        bad = "precision \"fp32\" or \"bf16\"";
    if (bad) return lp_errf(err, errsz, "stage '%s': parameters: expected %s", lp_stage_name(h), bad);
    memset(o, 0, sizeof *o);
    o->lr = (lp_lr_schedule){lr, min_lr, warmup, max_steps};
    o->adamw = (lp_adamw_config){0, (float)b1, (float)b2, 1e-8f, (float)wd};
    o->micro_steps = 1;
    o->clip = clip;
    o->max_steps = max_steps;
    o->eval_every = eval_every;
    o->ckpt_every = ckpt_every;
    o->keep_last = (int)keep_last;
    o->max_bad_steps = (int)max_bad;
    o->eot = -1;
    o->seed = h->seed(H);
    if (precision) *precision = prec;
    return 0;
}

void lp_stage_ckpt_dir(const lp_host_services *h, char *out, size_t outsz) {
    snprintf(out, outsz, "%s/ckpt", h->work_dir(h->host));
}

int lp_stage_trainer_start(const lp_host_services *h, lp_trainer *t, const char *ckpt_dir, char *err,
                           size_t errsz) {
    if (!h->resuming(h->host)) {
        lp_ckpt_clear(ckpt_dir);
        return 0;
    }
    int r = lp_trainer_resume(t, err, errsz);
    if (r < 0) return -1;
    if (r == 0) lp_stage_logf(h, LP_LOG_INFO, "resume: no in-stage checkpoint yet, starting from step 0");
    return 0;
}

int lp_stage_trainer_run(lp_trainer *t, char *err, size_t errsz) {
    int rc = lp_trainer_run(t, err, errsz);
    if (rc <= 0) return rc;
    return lp_errf(
        err, errsz,
        "stopped on request at step %lld of %lld (checkpoint %s); `llmpipe run --resume` continues",
        (long long)lp_trainer_steps_done(t), (long long)lp_trainer_max_steps(t),
        lp_trainer_last_checkpoint(t));
}
