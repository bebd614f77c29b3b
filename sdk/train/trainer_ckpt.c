/* In-stage checkpoints of the trainer: the model folder (safetensors,
 * config.json, tokenizer) plus trainer.state, sealed by lp_ckpt_commit. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "train_internal.h"

int lp_trainer_checkpoint(lp_trainer *t, char *dir, size_t dir_size, char *err, size_t errsz) {
    if (!t->o.ckpt_dir) { snprintf(err, errsz, "trainer: no checkpoint folder configured"); return -1; }
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
    lp_state_put_i64(w, "adamw.steps", lp_adamw_steps(t->opt));
    lp_state_put_i64(w, "model.num_params", lp_model_num_params(t->m));
    for (int i = 0; i < lp_model_num_params(t->m); i++) {
        const lp_param *p = lp_model_param(t->m, i);
        char name[256];
        snprintf(name, sizeof name, "adamw.m.%s", p->name);
        lp_state_put(w, name, lp_adamw_m(t->opt, i), p->numel * sizeof(float));
        snprintf(name, sizeof name, "adamw.v.%s", p->name);
        lp_state_put(w, name, lp_adamw_v(t->opt, i), p->numel * sizeof(float));
    }
    if (t->h.save && t->h.save(t->h.user, w, tmp, err, errsz)) {
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
    if (found < 0) { snprintf(err, errsz, "%s", why); return -1; }
    if (why[0] && t->host) t->host->log(t->host->host, LP_LOG_WARN, why);
    if (!found) return 0;
    lp_model_config fc;
    if (lp_model_folder_config(dir, &fc, err, errsz)) return -1;
    const lp_model_config *mc = lp_model_get_config(t->m);
    if (fc.n_layer != mc->n_layer || fc.n_head != mc->n_head || fc.n_embd != mc->n_embd ||
        fc.vocab_size != mc->vocab_size || fc.n_ctx != mc->n_ctx) {
        snprintf(err, errsz, "%s: checkpoint model (n_layer=%d n_head=%d n_embd=%d vocab=%d n_ctx=%d) differs from the "
                 "configured one; use a fresh run folder",
                 dir, fc.n_layer, fc.n_head, fc.n_embd, fc.vocab_size, fc.n_ctx);
        return -1;
    }
    if (lp_model_import(t->m, dir, err, errsz)) return -1;
    snprintf(path, sizeof path, "%s/trainer.state", dir);
    lp_state *s;
    if (lp_state_load(&s, path, err, errsz)) return -1;
    int rc = -1;
    int64_t v, np;
    if (lp_state_get_i64(s, "trainer.step", &t->step, err, errsz) ||
        lp_state_get_i64(s, "trainer.tokens", &t->tokens, err, errsz) ||
        lp_state_get_i64(s, "trainer.skipped_total", &t->skipped_total, err, errsz) ||
        lp_state_get_i64(s, "trainer.bad_run", &v, err, errsz) ||
        lp_state_get_f64(s, "trainer.last_val", &t->last_val, err, errsz) ||
        lp_state_read(s, "trainer.rng", t->rng.s, sizeof t->rng.s, err, errsz) ||
        lp_state_get_i64(s, "model.num_params", &np, err, errsz))
        goto out;
    t->bad_run = (int)v;
    if (np != lp_model_num_params(t->m)) {
        snprintf(err, errsz, "%s: %lld parameters in the state, the model has %d", path, (long long)np,
                 lp_model_num_params(t->m));
        goto out;
    }
    if (lp_state_get_i64(s, "adamw.steps", &v, err, errsz)) goto out;
    lp_adamw_set_steps(t->opt, (long)v);
    for (int i = 0; i < lp_model_num_params(t->m); i++) {
        const lp_param *p = lp_model_param(t->m, i);
        char name[256];
        snprintf(name, sizeof name, "adamw.m.%s", p->name);
        if (lp_state_read(s, name, lp_adamw_m(t->opt, i), p->numel * sizeof(float), err, errsz)) goto out;
        snprintf(name, sizeof name, "adamw.v.%s", p->name);
        if (lp_state_read(s, name, lp_adamw_v(t->opt, i), p->numel * sizeof(float), err, errsz)) goto out;
    }
    if (t->h.load && t->h.load(t->h.user, s, dir, err, errsz)) goto out;
    snprintf(t->last_ckpt, sizeof t->last_ckpt, "%s", dir);
    if (t->host) {
        char msg[4300];
        snprintf(msg, sizeof msg, "resumed from %s (step %" PRId64 ")", dir, t->step);
        t->host->log(t->host->host, LP_LOG_INFO, msg);
    }
    rc = 1;
out:
    lp_state_free(s);
    return rc;
}
