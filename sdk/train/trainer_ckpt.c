/* In-stage checkpoints of the trainer: the model folder (safetensors,
 * config.json, tokenizer) plus trainer.state, sealed by lp_ckpt_commit. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

/* Largest parameter of a model: the host staging size. */
static size_t largest(lp_model *m) {
    size_t n = 0;
    for (int i = 0; i < lp_model_num_params(m); i++)
        if (lp_model_param(m, i)->numel > n) n = lp_model_param(m, i)->numel;
    return n;
}

/* One group's records: its AdamW step and moments, and for every group but
 * the first (whose weights are the folder's model) its weights. */
static int save_group(lp_state_writer *w, const trainer_group *g, int weights, float *host, char *err,
                      size_t errsz) {
    char name[320];
    snprintf(name, sizeof name, "%sadamw.steps", g->prefix);
    lp_state_put_i64(w, name, lp_adamw_steps(g->opt));
    snprintf(name, sizeof name, "%smodel.num_params", g->prefix);
    lp_state_put_i64(w, name, lp_model_num_params(g->m));
    for (int i = 0; i < lp_model_num_params(g->m); i++) {
        const lp_param *p = lp_model_param(g->m, i);
        static const char *const kind[3] = {"adamw.m.", "adamw.v.", "weight."};
        for (int k = 0; k < (weights ? 3 : 2); k++) {
            int rc = k < 2 ? lp_adamw_state_read(g->opt, k, i, host) : lp_model_param_read(g->m, i, host);
            if (rc) {
                return lp_errf(err, errsz, "trainer checkpoint, group '%s': %s", g->name,
                               lp_model_error(g->m));
            }
            snprintf(name, sizeof name, "%s%s%s", g->prefix, kind[k], p->name);
            lp_state_put(w, name, host, p->numel * sizeof(float));
        }
    }
    return 0;
}

static int load_group(const lp_state *s, const char *path, trainer_group *g, int weights, float *host,
                      char *err, size_t errsz) {
    char name[320];
    int64_t v, np;
    snprintf(name, sizeof name, "%smodel.num_params", g->prefix);
    if (lp_state_get_i64(s, name, &np, err, errsz)) return -1;
    if (np != lp_model_num_params(g->m)) {
        return lp_errf(err, errsz, "%s: %lld parameters in the state of group '%s', the model has %d", path,
                       (long long)np, g->name, lp_model_num_params(g->m));
    }
    snprintf(name, sizeof name, "%sadamw.steps", g->prefix);
    if (lp_state_get_i64(s, name, &v, err, errsz)) return -1;
    lp_adamw_set_steps(g->opt, (long)v);
    for (int i = 0; i < lp_model_num_params(g->m); i++) {
        const lp_param *p = lp_model_param(g->m, i);
        static const char *const kind[3] = {"adamw.m.", "adamw.v.", "weight."};
        for (int k = 0; k < (weights ? 3 : 2); k++) {
            snprintf(name, sizeof name, "%s%s%s", g->prefix, kind[k], p->name);
            if (lp_state_read(s, name, host, p->numel * sizeof(float), err, errsz)) return -1;
            int rc = k < 2 ? lp_adamw_state_write(g->opt, k, i, host) : lp_model_param_write(g->m, i, host);
            if (rc) {
                return lp_errf(err, errsz, "%s: group '%s': %s", path, g->name, lp_model_error(g->m));
            }
        }
    }
    return 0;
}

static float *staging(const lp_trainer *t, char *err, size_t errsz) {
    size_t n = 0;
    for (int k = 0; k < t->ng; k++) {
        size_t g = largest(t->g[k].m);
        n = g > n ? g : n;
    }
    float *host = malloc(n * sizeof *host);
    if (!host) snprintf(err, errsz, "trainer checkpoint: out of memory");
    return host;
}

int lp_trainer_checkpoint(lp_trainer *t, char *dir, size_t dir_size, char *err, size_t errsz) {
    if (!t->o.ckpt_dir) return lp_errf(err, errsz, "trainer: no checkpoint folder configured");
    char tmp[4096], path[4200];
    if (lp_ckpt_begin(t->o.ckpt_dir, t->step, tmp, sizeof tmp, err, errsz)) return -1;
    if (lp_model_export(t->m, tmp, t->o.eot, t->o.tokenizer_json, err, errsz)) return -1;
    snprintf(path, sizeof path, "%s/trainer.state", tmp);
    lp_state_writer *w;
    if (lp_state_writer_open(&w, path, err, errsz)) return -1;
    lp_state_put_i64(w, "trainer.step", t->step);
    lp_state_put_i64(w, "trainer.tokens", t->tokens);
    lp_state_put_i64(w, "trainer.skipped_total", t->skipped_total);
    lp_state_put_i64(w, "trainer.bad_run", t->bad_run);
    lp_state_put_f64(w, "trainer.last_val", t->last_val);
    lp_state_put(w, "trainer.rng", t->rng.s, sizeof t->rng.s);
    lp_state_put_i64(w, "trainer.groups", t->ng);
    float *host = staging(t, err, errsz);
    int bad = !host;
    for (int k = 0; k < t->ng && !bad; k++) bad = save_group(w, &t->g[k], k > 0, host, err, errsz) != 0;
    free(host);
    if (bad || (t->h.save && t->h.save(t->h.user, w, tmp, err, errsz))) {
        lp_state_writer_abort(w);
        return -1;
    }
    if (lp_state_writer_close(w, NULL, err, errsz)) return -1;
    if (lp_ckpt_commit(t->o.ckpt_dir, t->step, t->o.keep_last, t->last_ckpt, sizeof t->last_ckpt, err, errsz))
        return -1;
    if (dir) snprintf(dir, dir_size, "%s", t->last_ckpt);
    if (t->host) {
        char msg[4300];
        snprintf(msg, sizeof msg, "checkpoint at step %" PRId64 ": %s", t->step, t->last_ckpt);
        t->host->log(t->host->host, LP_LOG_INFO, msg);
    }
    return 0;
}

int lp_trainer_resume(lp_trainer *t, char *err, size_t errsz) {
    if (!t->o.ckpt_dir) return 0;
    char dir[4096], why[1024] = "", path[4200];
    int64_t step;
    int found = lp_ckpt_latest(t->o.ckpt_dir, dir, sizeof dir, &step, why, sizeof why);
    if (found < 0) return lp_errf(err, errsz, "%s", why);
    if (why[0] && t->host) t->host->log(t->host->host, LP_LOG_WARN, why);
    if (!found) return 0;
    lp_model_config fc;
    if (lp_model_folder_config(dir, &fc, err, errsz)) return -1;
    const lp_model_config *mc = lp_model_get_config(t->m);
    if (fc.n_layer != mc->n_layer || fc.n_head != mc->n_head || fc.n_embd != mc->n_embd ||
        fc.vocab_size != mc->vocab_size || fc.n_ctx != mc->n_ctx) {
        snprintf(err, errsz,
                 "%s: checkpoint model (n_layer=%d n_head=%d n_embd=%d vocab=%d n_ctx=%d) differs from the "
                 "configured one; use a fresh run folder",
                 dir, fc.n_layer, fc.n_head, fc.n_embd, fc.vocab_size, fc.n_ctx);
        return -1;
    }
    if (lp_model_import(t->m, dir, err, errsz)) return -1;
    snprintf(path, sizeof path, "%s/trainer.state", dir);
    lp_state *s;
    if (lp_state_load(&s, path, err, errsz)) return -1;
    int rc = -1;
    int64_t v, ng = 1;
    float *host = NULL;
    if (lp_state_get_i64(s, "trainer.step", &t->step, err, errsz) ||
        lp_state_get_i64(s, "trainer.tokens", &t->tokens, err, errsz) ||
        lp_state_get_i64(s, "trainer.skipped_total", &t->skipped_total, err, errsz) ||
        lp_state_get_i64(s, "trainer.bad_run", &v, err, errsz) ||
        lp_state_get_f64(s, "trainer.last_val", &t->last_val, err, errsz) ||
        lp_state_read(s, "trainer.rng", t->rng.s, sizeof t->rng.s, err, errsz))
        goto out;
    t->bad_run = (int)v;
    /* older one-model checkpoints have no group count */
    if (lp_state_get(s, "trainer.groups", NULL) && lp_state_get_i64(s, "trainer.groups", &ng, err, errsz))
        goto out;
    if (ng != t->ng) {
        snprintf(err, errsz, "%s: %lld model groups in the state, the trainer has %d", path, (long long)ng,
                 t->ng);
        goto out;
    }
    if (!(host = staging(t, err, errsz))) goto out;
    for (int k = 0; k < t->ng; k++)
        if (load_group(s, path, &t->g[k], k > 0, host, err, errsz)) goto out;
    if (t->h.load && t->h.load(t->h.user, s, dir, err, errsz)) goto out;
    snprintf(t->last_ckpt, sizeof t->last_ckpt, "%s", dir);
    if (t->host) {
        char msg[4300];
        snprintf(msg, sizeof msg, "resumed from %s (step %" PRId64 ")", dir, t->step);
        t->host->log(t->host->host, LP_LOG_INFO, msg);
    }
    rc = 1;
out:
    free(host);
    lp_state_free(s);
    return rc;
}
