/* The optimizer-step loop shared by the stages. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/clock.h"
#include "train_internal.h"

static int valid_name(const char *s) {
    if (!s || !*s || strlen(s) > 63) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-'))
            return 0;
    return 1;
}

lp_trainer *lp_trainer_create_groups(const lp_trainer_group *groups, int ng, const lp_trainer_opts *o,
                                     const lp_train_hooks *h, const lp_host_services *host, char *err,
                                     size_t errsz) {
    if (!groups || ng < 1 || ng > LP_TRAINER_MAX_GROUPS || !o || !h || !h->micro) {
        snprintf(err, errsz, "trainer: 1..%d groups, options and a micro hook are required",
                 LP_TRAINER_MAX_GROUPS);
        return NULL;
    }
    if (o->micro_steps < 1 || o->max_steps < 0 || o->max_bad_steps < 1) {
        snprintf(err, errsz,
                 "trainer: invalid options (micro_steps %d >= 1, max_steps %lld >= 0, max_bad_steps %d >= 1 "
                 "expected)",
                 o->micro_steps, (long long)o->max_steps, o->max_bad_steps);
        return NULL;
    }
    for (int k = 0; k < ng; k++) {
        const lp_trainer_group *g = &groups[k];
        const char *bad = NULL;
        if (!g->model)
            bad = "no model";
        else if (lp_model_is_frozen(g->model))
            bad = "the model is frozen (no gradients to train)";
        else if (!valid_name(g->name))
            bad = "name must be 1..63 characters of [A-Za-z0-9_-]";
        else if (!(g->lr.lr_max >= 0) || !(g->lr.lr_min >= 0) || g->lr.warmup < 0)
            bad = "lr >= 0 and warmup >= 0 expected";
        for (int j = 0; j < k && !bad; j++)
            if (!strcmp(groups[j].name, g->name))
                bad = "the name is used twice";
            else if (groups[j].model == g->model)
                bad = "the model is in two groups";
        if (bad) {
            snprintf(err, errsz, "trainer: group %d ('%s'): %s", k, g->name ? g->name : "", bad);
            return NULL;
        }
    }
    lp_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errsz, "trainer: out of memory");
        return NULL;
    }
    t->o = *o;
    t->h = *h;
    t->host = host;
    t->ng = ng;
    for (int k = 0; k < ng; k++) {
        trainer_group *g = &t->g[k];
        size_t len = strlen(groups[k].name); /* <= 63, checked above */
        memcpy(g->name, groups[k].name, len + 1);
        if (k) {
            memcpy(g->prefix, g->name, len);
            memcpy(g->prefix + len, ".", 2);
        }
        g->m = groups[k].model;
        g->lr = groups[k].lr;
        g->clip = groups[k].clip;
        g->opt = lp_adamw_create(g->m, &groups[k].adamw);
        if (!g->opt) {
            snprintf(err, errsz, "trainer: cannot create the optimizer of group '%s' (out of memory?)",
                     g->name);
            lp_trainer_destroy(t);
            return NULL;
        }
    }
    t->m = t->g[0].m;
    t->opt = t->g[0].opt;
    lp_rng_seed(&t->rng, o->seed);
    t->last_val = NAN;
    return t;
}

lp_trainer *lp_trainer_create(lp_model *m, const lp_trainer_opts *o, const lp_train_hooks *h,
                              const lp_host_services *host, char *err, size_t errsz) {
    if (!m || !o) {
        snprintf(err, errsz, "trainer: a model, options and a micro hook are required");
        return NULL;
    }
    lp_trainer_group g = {"model", m, o->adamw, o->lr, o->clip};
    return lp_trainer_create_groups(&g, 1, o, h, host, err, errsz);
}

void lp_trainer_destroy(lp_trainer *t) {
    if (!t) return;
    for (int k = 0; k < t->ng; k++) lp_adamw_destroy(t->g[k].opt);
    free(t);
}

int lp_trainer_num_groups(const lp_trainer *t) { return t->ng; }
lp_adamw *lp_trainer_group_optimizer(lp_trainer *t, int k) {
    return k >= 0 && k < t->ng ? t->g[k].opt : NULL;
}

int64_t lp_trainer_steps_done(const lp_trainer *t) { return t->step; }
int64_t lp_trainer_max_steps(const lp_trainer *t) { return t->o.max_steps; }
int64_t lp_trainer_tokens_seen(const lp_trainer *t) { return t->tokens; }
int64_t lp_trainer_skipped_total(const lp_trainer *t) { return t->skipped_total; }
double lp_trainer_last_val_loss(const lp_trainer *t) { return t->last_val; }
const char *lp_trainer_last_checkpoint(const lp_trainer *t) { return t->last_ckpt; }
lp_adamw *lp_trainer_optimizer(lp_trainer *t) { return t->opt; }
lp_rng *lp_trainer_rng(lp_trainer *t) { return &t->rng; }

static void event(lp_trainer *t, const char *kind, const char *msg) {
    if (!t->host) return;
    t->host->emit_event(t->host->host, kind, msg);
    t->host->log(t->host->host, LP_LOG_WARN, msg);
}

int lp_trainer_step(lp_trainer *t, lp_step_result *r, char *err, size_t errsz) {
    double t0 = lp_mono_s();
    memset(r, 0, sizeof *r);
    for (int k = 0; k < t->ng; k++) {
        r->group_lr[k] = lp_lr_at(&t->g[k].lr, t->step);
        lp_model_zero_grad(t->g[k].m);
    }
    r->lr = r->group_lr[0];
    double loss = 0;
    int64_t tokens = 0;
    for (int k = 0; k < t->o.micro_steps; k++) {
        double l = 0;
        int64_t n = 0;
        if (t->h.micro(t->h.user, t->m, k, t->o.micro_steps, &l, &n, err, errsz)) return -1;
        loss += l;
        tokens += n;
    }
    int finite = 1;
    for (int k = 0; k < t->ng; k++) {
        const trainer_group *g = &t->g[k];
        r->group_grad_norm[k] =
            g->clip > 0 ? lp_model_clip_grad_norm(g->m, g->clip) : lp_model_grad_norm(g->m);
        /* a message means a kernel failed, not that the gradients are NaN */
        if (lp_model_error(g->m)[0])
            return lp_errf(err, errsz, "trainer: gradient norm of group '%s': %s", g->name,
                           lp_model_error(g->m));
        finite &= isfinite(r->group_grad_norm[k]) != 0;
    }
    /* the first non-finite group's norm names the failure below */
    double norm = r->group_grad_norm[0];
    for (int k = 0; k < t->ng && isfinite(norm); k++) norm = r->group_grad_norm[k];
    r->loss = loss;
    r->tokens = tokens;
    t->tokens += tokens;
    t->step++;
    r->step = t->step;
    if (!isfinite(loss) || !finite) {
        /* The update would poison the weights and both Adam moments for good;
         * dropping it costs one batch. */
        r->skipped = 1;
        t->skipped_total++;
        t->bad_run++;
        for (int k = 0; k < t->ng; k++) lp_model_zero_grad(t->g[k].m);
        char msg[256];
        snprintf(msg, sizeof msg,
                 "step %lld: non-finite %s (%g); update skipped (%d in a row, %lld in total)",
                 (long long)t->step, isfinite(loss) ? "gradient norm" : "loss", isfinite(loss) ? norm : loss,
                 t->bad_run, (long long)t->skipped_total);
        event(t, "nonfinite", msg);
        if (t->bad_run >= t->o.max_bad_steps) {
            snprintf(err, errsz,
                     "stopping: %d steps in a row with non-finite loss or gradients (last at step %lld); "
                     "lower the learning rate or check the data",
                     t->bad_run, (long long)t->step);
            r->seconds = lp_mono_s() - t0;
            return -1;
        }
    } else {
        t->bad_run = 0;
        for (int k = 0; k < t->ng; k++)
            if (lp_adamw_step(t->g[k].opt, (float)r->group_lr[k], 1.0f)) {
                return lp_errf(err, errsz, "trainer: optimizer step of group '%s' failed: %s", t->g[k].name,
                               lp_model_error(t->g[k].m));
            }
    }
    r->grad_norm = r->group_grad_norm[0];
    r->seconds = lp_mono_s() - t0;
    return 0;
}

static int cancelled(const lp_trainer *t) { return t->host && t->host->cancelled(t->host->host); }

static int do_eval(lp_trainer *t, char *err, size_t errsz) {
    double v;
    if (t->h.evaluate(t->h.user, t->m, &v, err, errsz)) return -1;
    t->last_val = v;
    if (t->host) {
        lp_metric mv[1] = {{"val_loss", v}};
        t->host->emit_metrics(t->host->host, t->step, mv, 1);
    }
    return 0;
}

int lp_trainer_run(lp_trainer *t, char *err, size_t errsz) {
    const lp_trainer_opts *o = &t->o;
    double rate_t0 = lp_mono_s();
    int64_t rate_tok = 0;
    int stopped = 0;
    while (t->step < o->max_steps) {
        if (cancelled(t)) {
            if (t->host)
                t->host->log(t->host->host, LP_LOG_WARN, "stop requested: checkpointing and returning");
            stopped = 1;
            break;
        }
        lp_step_result r;
        if (lp_trainer_step(t, &r, err, errsz)) return -1;
        rate_tok += r.tokens;
        double el = lp_mono_s() - rate_t0;
        double tps = el > 0 ? (double)rate_tok / el : 0;
        if (t->host) {
            lp_metric mv[6];
            size_t n = 0;
            mv[n++] = (lp_metric){"loss", r.loss};
            mv[n++] = (lp_metric){"lr", r.lr};
            mv[n++] = (lp_metric){"grad_norm", r.grad_norm};
            mv[n++] = (lp_metric){"tokens_per_s", tps};
            if (o->flops_per_token > 0 && o->peak_flops > 0)
                mv[n++] = (lp_metric){"mfu", o->flops_per_token * tps / o->peak_flops};
            if (t->skipped_total) mv[n++] = (lp_metric){"skipped_steps", (double)t->skipped_total};
            t->host->emit_metrics(t->host->host, t->step, mv, n);
            for (int k = 1; k < t->ng; k++) { /* the others' under their names */
                char a[96], b[96];
                snprintf(a, sizeof a, "%s.grad_norm", t->g[k].name);
                snprintf(b, sizeof b, "%s.lr", t->g[k].name);
                lp_metric gm[2] = {{a, r.group_grad_norm[k]}, {b, r.group_lr[k]}};
                t->host->emit_metrics(t->host->host, t->step, gm, 2);
            }
            t->host->progress(t->host->host, t->step, o->max_steps);
        }
        if (o->eval_every > 0 && t->h.evaluate && t->step % o->eval_every == 0 && t->step < o->max_steps)
            if (do_eval(t, err, errsz)) return -1;
        if (o->sample_every > 0 && t->h.sample && t->step % o->sample_every == 0)
            if (t->h.sample(t->h.user, t->m, t->step, err, errsz)) return -1;
        if (o->ckpt_dir && o->ckpt_every > 0 && t->step % o->ckpt_every == 0 && t->step < o->max_steps) {
            char dir[4096];
            if (lp_trainer_checkpoint(t, dir, sizeof dir, err, errsz)) return -1;
        }
    }
    if (!stopped && o->eval_every > 0 && t->h.evaluate && t->step > 0)
        if (do_eval(t, err, errsz)) return -1;
    if (o->ckpt_dir) {
        char dir[4096];
        if (lp_trainer_checkpoint(t, dir, sizeof dir, err, errsz)) return -1;
    }
    return stopped;
}
