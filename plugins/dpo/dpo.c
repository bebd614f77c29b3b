/* The DPO stage: direct preference optimisation of the SFT model (or any
 * GPT folder) on preference pairs and ranked lists, without a reward
 * model. The reference is a frozen copy of the starting model; its
 * sequence log-probabilities are computed once per pair before the first
 * step and cached (saved with every in-stage checkpoint, so a resume reads
 * them instead of recomputing, and the reference model is freed as soon as
 * the cache is full). Each row holds one pair, the chosen and the rejected
 * sequence as two segments of a packed row, so both share one forward. The
 * loss is on response tokens only (and the closing end-of-text). Metrics:
 * loss, implicit-reward accuracy and margin, chosen and rejected
 * log-probabilities, the same on held-out pairs, and exact match per task
 * family on held-out tasks at every eval_every and at the end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmpipe/clock.h"
#include "llmpipe/eval.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/pref_loss.h"
#include "pairs.h"
#include "params.h"

typedef struct dpo {
    const lp_host_services *h;
    dpo_params p;
    lpk_ctx *ctx;
    lp_model *m;
    lp_tokenizer *tok;
    dpo_pairs d;
    dpo_order order;
    dpo_rows rows;
    size_t *idx;
    float *logp, *dlogp;
    double *pc, *pr, *dpc, *dpr;
    /* reference log-probabilities: [0, n_train) training pairs, then held out */
    double *ref_c, *ref_r;
    int have_ref;
    double ref_seconds;
    lp_pref_stats step_sum;
    lp_pref_stats val_first, val_last;
    int have_val;
    lp_dataset *tasks;
    lp_eval_result first_em, last_em;
    int have_em;
    lp_trainer *tr;
    int B, T, n_micro, eot;
    char start[4096]; /* the starting model folder, also the reference */
    char tok_json[4200], ckdir[4200];
} dpo;

static int model_fail(lp_model *m, const char *what, char *err, size_t n) {
    return lp_errf(err, n, "dpo %s: %s", what, lp_model_error(m));
}

/* Policy (or reference) log-probabilities of pairs[idx[0..k)] into
 * s->pc / s->pr; the model keeps the forward for a backward. */
static int seq_logprobs(dpo *s, lp_model *m, const dpo_pair *pairs, const size_t *idx, int k,
                        const char *what, char *err, size_t n) {
    if (dpo_rows_build(&s->rows, pairs, idx, k, s->eot, err, n)) return -1;
    const dpo_rows *r = &s->rows;
    if (lp_model_forward_packed(m, r->ids, r->seg, r->B, r->T) ||
        lp_model_logprobs(m, r->tgt, 1.0f, s->logp, NULL))
        return model_fail(m, what, err, n);
    dpo_rows_sums(r, s->logp, s->pc, s->pr);
    return 0;
}

/* ---- the reference cache ------------------------------------------------ */

/* Reference log-probabilities of pairs[0..count) into oc, or_, a
 * micro-batch at a time in file order. */
static int ref_pass(dpo *s, lp_model *ref, const dpo_pair *pairs, size_t count, double *oc, double *or_,
                    char *err, size_t n) {
    const lp_host_services *h = s->h;
    double t0 = lp_mono_s(), next_log = t0 + 30;
    for (size_t at = 0; at < count; at += (size_t)s->B) {
        /* the pass can take minutes on a CPU: a stop is honoured here too
         * (nothing is saved yet; a resume starts the pass again) */
        if (h->cancelled(h->host))
            return lp_errf(err, n,
                           "stopped on request during the reference pass (%zu of %zu pairs); `llmpipe run "
                           "--resume` starts it again",
                           at, count);
        if (lp_mono_s() >= next_log) {
            lp_stage_logf(h, LP_LOG_INFO, "reference pass: %zu of %zu pairs (%.0f s)", at, count,
                          lp_mono_s() - t0);
            next_log = lp_mono_s() + 30;
        }
        int k = (int)(count - at < (size_t)s->B ? count - at : (size_t)s->B);
        for (int b = 0; b < k; b++) s->idx[b] = at + (size_t)b;
        if (seq_logprobs(s, ref, pairs, s->idx, k, "reference", err, n)) return -1;
        for (int b = 0; b < k; b++) {
            oc[at + (size_t)b] = s->pc[b];
            or_[at + (size_t)b] = s->pr[b];
        }
    }
    return 0;
}

static int compute_ref(dpo *s, char *err, size_t n) {
    double t0 = lp_mono_s();
    lp_model_config cfg = *lp_model_get_config(s->m);
    lp_model *ref = lp_model_create_frozen(&cfg, s->ctx, err, n);
    if (!ref) return -1;
    size_t nt = s->d.n_train;
    int rc = lp_model_import(ref, s->start, err, n) ||
             ref_pass(s, ref, s->d.train, nt, s->ref_c, s->ref_r, err, n) ||
             ref_pass(s, ref, s->d.val, s->d.n_val, s->ref_c + nt, s->ref_r + nt, err, n);
    lp_model_destroy(ref); /* the cache is all the reference is needed for */
    if (rc) return -1;
    s->have_ref = 1;
    s->ref_seconds = lp_mono_s() - t0;
    lp_stage_logf(s->h, LP_LOG_INFO, "reference log-probabilities of %zu pairs cached in %.1f s",
                  nt + s->d.n_val, s->ref_seconds);
    return 0;
}

/* ---- trainer hooks ------------------------------------------------------ */

static void emit_stats(dpo *s, int64_t step, const char *prefix, const lp_pref_stats *m) {
    static const char *const keys[] = {"reward_accuracy", "reward_margin", "chosen_reward", "rejected_reward",
                                       "chosen_logp",     "rejected_logp", "logp_accuracy"};
    const double v[] = {m->accuracy,    m->margin,        m->chosen_reward, m->rejected_reward,
                        m->chosen_logp, m->rejected_logp, m->logp_accuracy};
    char names[7][64];
    lp_metric mt[7];
    for (int i = 0; i < 7; i++) {
        snprintf(names[i], sizeof names[i], "%s%s", prefix, keys[i]);
        mt[i] = (lp_metric){names[i], v[i]};
    }
    s->h->emit_metrics(s->h->host, step, mt, 7);
}

static int micro(void *user, lp_model *m, int k, int n_micro, double *loss, int64_t *tokens, char *err,
                 size_t n) {
    dpo *s = user;
    if (k == 0) {
        if (s->p.debug_step_sleep_ms > 0) {
            struct timespec ts = {s->p.debug_step_sleep_ms / 1000,
                                  (s->p.debug_step_sleep_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        memset(&s->step_sum, 0, sizeof s->step_sum);
    }
    for (int b = 0; b < s->B; b++) s->idx[b] = dpo_order_next(&s->order);
    if (seq_logprobs(s, m, s->d.train, s->idx, s->B, "step", err, n)) return -1;
    /* the step's loss is the mean over its pairs */
    const double scale = 1.0 / ((double)s->B * n_micro);
    double sum = 0;
    for (int b = 0; b < s->B; b++) {
        size_t i = s->idx[b];
        sum += lp_pref_loss_pair(&s->p.loss, s->pc[b], s->pr[b], s->ref_c[i], s->ref_r[i], &s->dpc[b],
                                 &s->dpr[b]);
        s->dpc[b] *= scale;
        s->dpr[b] *= scale;
        lp_pref_stats_add(&s->step_sum, &s->p.loss, s->pc[b], s->pr[b], s->ref_c[i], s->ref_r[i]);
    }
    dpo_rows_dlogp(&s->rows, s->dpc, s->dpr, s->dlogp);
    if (lp_model_logprobs_grad(m, s->rows.tgt, 1.0f, s->dlogp, NULL) || lp_model_backward(m))
        return model_fail(m, "step", err, n);
    *loss = sum * scale;
    *tokens = s->rows.tokens;
    if (k == n_micro - 1) {
        lp_pref_stats mean = lp_pref_stats_mean(&s->step_sum);
        emit_stats(s, lp_trainer_steps_done(s->tr) + 1, "", &mean);
    }
    return 0;
}

/* Held-out pairs: policy log-probabilities against the cached reference. */
static int val_pairs(dpo *s, lp_model *m, int64_t step, double *vl, char *err, size_t n) {
    lp_pref_stats sum;
    memset(&sum, 0, sizeof sum);
    for (size_t at = 0; at < s->d.n_val; at += (size_t)s->B) {
        int k = (int)(s->d.n_val - at < (size_t)s->B ? s->d.n_val - at : (size_t)s->B);
        for (int b = 0; b < k; b++) s->idx[b] = at + (size_t)b;
        if (seq_logprobs(s, m, s->d.val, s->idx, k, "validation", err, n)) return -1;
        for (int b = 0; b < k; b++) {
            size_t i = s->d.n_train + at + (size_t)b;
            lp_pref_stats_add(&sum, &s->p.loss, s->pc[b], s->pr[b], s->ref_c[i], s->ref_r[i]);
        }
    }
    lp_pref_stats mean = lp_pref_stats_mean(&sum);
    emit_stats(s, step, "val_", &mean);
    if (!s->have_val) s->val_first = mean;
    s->val_last = mean;
    s->have_val = 1;
    *vl = mean.loss;
    lp_stage_logf(s->h, LP_LOG_INFO,
                  "step %lld: held-out pairs: loss %.4f, implicit-reward accuracy %.1f%%, margin %.3f, "
                  "log-prob chosen %.2f rejected %.2f (policy ranks chosen first: %.1f%%)",
                  (long long)step, mean.loss, 100 * mean.accuracy, mean.margin, mean.chosen_logp,
                  mean.rejected_logp, 100 * mean.logp_accuracy);
    return 0;
}

/* Exact match on the held-out tasks, published as metrics at step. */
static int exact_match(dpo *s, lp_model *m, int64_t step, char *err, size_t n) {
    lp_eval_opts o = {(int)s->p.eval_batch, (int)s->p.eval_max_new, (size_t)s->p.eval_limit};
    if (lp_stage_exact_match(s->h, m, s->tok, s->tasks, s->p.eval_tasks, &o, (int)s->p.samples, step,
                             &s->last_em, err, n))
        return -1;
    if (!s->have_em) s->first_em = s->last_em;
    s->have_em = 1;
    return 0;
}

static int evaluate(void *user, lp_model *m, double *vl, char *err, size_t n) {
    dpo *s = user;
    int64_t step = lp_trainer_steps_done(s->tr);
    *vl = NAN;
    if (s->d.n_val && val_pairs(s, m, step, vl, err, n)) return -1;
    if (s->tasks && exact_match(s, m, step, err, n)) return -1;
    return 0;
}

/* The order position, and the reference cache with the fingerprint of the
 * pairs it belongs to. */
static int save(void *user, lp_state_writer *w, const char *dir, char *err, size_t n) {
    (void)dir;
    dpo *s = user;
    uint8_t st[DPO_ORDER_STATE_SIZE];
    dpo_order_save(&s->order, st);
    size_t total = s->d.n_train + s->d.n_val;
    if (lp_state_put(w, "dpo.order", st, sizeof st) ||
        lp_state_put_i64(w, "dpo.fingerprint", (int64_t)s->d.fingerprint) ||
        lp_state_put(w, "dpo.ref_chosen", s->ref_c, total * sizeof *s->ref_c) ||
        lp_state_put(w, "dpo.ref_rejected", s->ref_r, total * sizeof *s->ref_r))
        return lp_errf(err, n, "dpo: cannot write the stage state into the checkpoint");
    return 0;
}

static int load(void *user, const lp_state *st, const char *dir, char *err, size_t n) {
    dpo *s = user;
    size_t len;
    const void *o = lp_state_get(st, "dpo.order", &len);
    if (!o) return lp_errf(err, n, "%s: trainer state has no DPO pair order", dir);
    if (dpo_order_restore(&s->order, o, len, err, n)) return -1;
    int64_t fp;
    size_t total = s->d.n_train + s->d.n_val;
    if (lp_state_get_i64(st, "dpo.fingerprint", &fp, err, n)) return -1;
    if ((uint64_t)fp != s->d.fingerprint)
        return lp_errf(err, n, "%s: the reference cache is of other pairs (the data or tokenizer changed)",
                       dir);
    if (lp_state_read(st, "dpo.ref_chosen", s->ref_c, total * sizeof *s->ref_c, err, n) ||
        lp_state_read(st, "dpo.ref_rejected", s->ref_r, total * sizeof *s->ref_r, err, n))
        return -1;
    s->have_ref = 1;
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

static int create(const lp_host_services *h, void **state, char *err, size_t n) {
    dpo *s = calloc(1, sizeof *s);
    if (!s) return lp_errf(err, n, "dpo: out of memory");
    s->h = h;
    if (dpo_params_read(h, &s->p, err, n)) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

/* Policy, tokenizer and kernel context from the starting model folder (the
 * SFT stage's). */
static int open_model(dpo *s, char *err, size_t n) {
    const lp_host_services *h = s->h;
    lp_stage_start st;
    if (lp_stage_open_start(h, LP_INPUT_MODEL, s->p.model, s->p.tokenizer, &st, err, n)) return -1;
    s->tok = st.tok;
    s->eot = st.eot;
    snprintf(s->tok_json, sizeof s->tok_json, "%s", st.tok_json);
    snprintf(s->start, sizeof s->start, "%s", st.dir);
    lp_model_config cfg = st.cfg;
    cfg.scalar_head = 0;
    if (!(s->ctx = lp_stage_kernel_ctx(h, s->p.precision, err, n)) ||
        !(s->m = lp_model_create(&cfg, s->ctx, err, n)) || lp_model_import(s->m, st.dir, err, n))
        return -1;
    s->T = (int)(s->p.seq_len ? s->p.seq_len : cfg.n_ctx);
    if (s->T > cfg.n_ctx || s->T < 2)
        return lp_errf(err, n, "dpo: seq_len %d: expected 2..%d (the model's n_ctx)", s->T, cfg.n_ctx);
    return 0;
}

static int open_data(dpo *s, char *err, size_t n) {
    const lp_host_services *h = s->h;
    const dpo_params *p = &s->p;
    uint64_t seed = h->seed(h->host);
    if (dpo_pairs_load(&s->d, p, s->tok, s->T, seed, err, n)) return -1;
    const dpo_pairs *d = &s->d;
    if (d->bad)
        lp_stage_logf(h, LP_LOG_WARN, "skipped %zu malformed records (skip_bad); the first: %s", d->bad,
                      d->first_bad);
    if (d->truncated || d->skipped_long || d->skipped_prompt)
        lp_stage_logf(
            h, LP_LOG_WARN,
            "over-long sequences (longest %zu tokens, seq_len %d): %zu truncated, %zu pairs skipped, "
            "%zu pairs skipped because the prompt alone fills seq_len",
            d->longest, s->T, d->truncated, d->skipped_long, d->skipped_prompt);
    s->B = (int)p->batch_size;
    s->n_micro = p->pairs_per_step ? (int)(p->pairs_per_step / p->batch_size) : 1;
    if (dpo_order_init(&s->order, d->n_train, seed)) return lp_errf(err, n, "dpo: out of memory");
    if (p->eval_tasks[0] && lp_dataset_load(&s->tasks, p->eval_tasks, LP_DATA_PROMPTS, 0, err, n)) return -1;
    size_t cells = (size_t)s->B * 2 * (size_t)s->T, total = d->n_train + d->n_val;
    s->idx = malloc((size_t)s->B * sizeof *s->idx);
    s->logp = malloc(cells * sizeof *s->logp);
    s->dlogp = malloc(cells * sizeof *s->dlogp);
    s->pc = malloc((size_t)s->B * 4 * sizeof *s->pc);
    s->ref_c = malloc(total * sizeof *s->ref_c);
    s->ref_r = malloc(total * sizeof *s->ref_r);
    if (!s->idx || !s->logp || !s->dlogp || !s->pc || !s->ref_c || !s->ref_r)
        return lp_errf(err, n, "dpo: out of memory");
    s->pr = s->pc + s->B;
    s->dpc = s->pr + s->B;
    s->dpr = s->dpc + s->B;
    return 0;
}

static void line_of(const lp_eval_result *r, char *line, size_t cap) {
    size_t at = 0;
    line[0] = 0;
    for (int i = 0; i < r->families && at < cap - 64; i++)
        at += (size_t)snprintf(line + at, cap - at, "%s%s %.0f%%", i ? ", " : "", r->name[i],
                               100.0 * lp_eval_accuracy(r, i));
}

static void final_report(dpo *s, double secs, double tps) {
    const lp_host_services *h = s->h;
    int64_t steps = lp_trainer_steps_done(s->tr);
    lp_stage_logf(
        h, LP_LOG_INFO,
        "done: %lld steps, %.1f s (+ %.1f s reference), %.0f tokens/s, epoch %llu, %lld skipped steps",
        (long long)steps, secs, s->ref_seconds, tps, (unsigned long long)s->order.epoch,
        (long long)lp_trainer_skipped_total(s->tr));
    if (s->have_val)
        lp_stage_logf(
            h, LP_LOG_INFO,
            "held-out pairs: implicit-reward accuracy %.1f%% (margin %.3f); policy ranks chosen first "
            "%.1f%% (%.1f%% at this run's first evaluation); chosen log-prob %.2f (%.2f), rejected %.2f "
            "(%.2f)",
            100 * s->val_last.accuracy, s->val_last.margin, 100 * s->val_last.logp_accuracy,
            100 * s->val_first.logp_accuracy, s->val_last.chosen_logp, s->val_first.chosen_logp,
            s->val_last.rejected_logp, s->val_first.rejected_logp);
    if (s->have_em) {
        char line[4096];
        line_of(&s->last_em, line, sizeof line);
        lp_stage_logf(h, LP_LOG_INFO, "exact match %.1f%% (%.1f%% at the first evaluation): %s",
                      100.0 * lp_eval_accuracy(&s->last_em, -1), 100.0 * lp_eval_accuracy(&s->first_em, -1),
                      line);
    }
    lp_metric fm[12];
    size_t k = 0;
    fm[k++] = (lp_metric){"train_seconds", secs};
    fm[k++] = (lp_metric){"reference_seconds", s->ref_seconds};
    fm[k++] = (lp_metric){"train_tokens_per_s", tps};
    fm[k++] = (lp_metric){"pairs_train", (double)s->d.n_train};
    fm[k++] = (lp_metric){"pairs_held_out", (double)s->d.n_val};
    fm[k++] = (lp_metric){"sequences_truncated", (double)s->d.truncated};
    fm[k++] = (lp_metric){"pairs_skipped_long", (double)(s->d.skipped_long + s->d.skipped_prompt)};
    fm[k++] = (lp_metric){"records_skipped_bad", (double)s->d.bad};
    if (s->have_val) {
        fm[k++] = (lp_metric){"final_val_reward_accuracy", s->val_last.accuracy};
        fm[k++] = (lp_metric){"final_val_loss", s->val_last.loss};
    }
    if (s->have_em) fm[k++] = (lp_metric){"final_exact_match", lp_eval_accuracy(&s->last_em, -1)};
    h->emit_metrics(h->host, steps, fm, k);
}

static int run(void *state, char *err, size_t n) {
    dpo *s = state;
    const lp_host_services *h = s->h;
    if (open_model(s, err, n) || open_data(s, err, n)) return -1;
    lp_trainer_opts o = s->p.o;
    if (!o.max_steps) {
        double per_step = (double)s->B * s->n_micro;
        o.max_steps = (int64_t)ceil(s->p.epochs * (double)s->d.n_train / per_step);
        if (o.max_steps < 1) o.max_steps = 1;
    }
    o.lr.total = o.max_steps;
    o.micro_steps = s->n_micro;
    lp_stage_ckpt_dir(h, s->ckdir, sizeof s->ckdir);
    o.ckpt_dir = s->ckdir;
    o.eot = s->eot;
    o.tokenizer_json = s->tok_json;
    lp_train_hooks hooks = {s, micro, (s->d.n_val || s->tasks) ? evaluate : NULL, NULL, save, load};
    if (!(s->tr = lp_trainer_create(s->m, &o, &hooks, h, err, n)) ||
        lp_stage_trainer_start(h, s->tr, s->ckdir, err, n))
        return -1;
    if (!s->have_ref && compute_ref(s, err, n)) return -1;
    const dpo_pairs *d = &s->d;
    lp_stage_logf(
        h, LP_LOG_INFO,
        "%zu training pairs (%zu from ranked lists, %lld response tokens), %zu held out; %s, beta %g; "
        "%lld steps of %d x %d pairs; %zu parameters, %d threads, %s",
        d->n_train, d->from_ranked, (long long)d->target_tokens, d->n_val, lp_pref_loss_name(s->p.loss.kind),
        s->p.loss.beta, (long long)o.max_steps, s->n_micro, s->B, lp_model_numel(s->m),
        lpk_ctx_threads(s->ctx), s->p.precision);
    if (s->p.eval_at_start && lp_trainer_steps_done(s->tr) == 0) {
        double vl;
        if (d->n_val && val_pairs(s, s->m, 0, &vl, err, n)) return -1;
        if (s->tasks && exact_match(s, s->m, 0, err, n)) return -1;
    }
    double t0 = lp_mono_s();
    int64_t tok0 = lp_trainer_tokens_seen(s->tr);
    if (lp_stage_trainer_run(s->tr, err, n)) return -1;
    double secs = lp_mono_s() - t0;
    double tps = secs > 0 ? (double)(lp_trainer_tokens_seen(s->tr) - tok0) / secs : 0;
    final_report(s, secs, tps);
    return lp_stage_publish_model(h, s->m, LP_EXPORT_LM, s->eot, s->tok_json, err, n);
}

static void destroy(void *state) {
    dpo *s = state;
    if (!s) return;
    lp_trainer_destroy(s->tr);
    lp_dataset_destroy(s->tasks);
    dpo_pairs_free(&s->d);
    dpo_order_free(&s->order);
    dpo_rows_free(&s->rows);
    lp_model_destroy(s->m);
    lpk_ctx_destroy(s->ctx);
    lp_tokenizer_destroy(s->tok);
    free(s->idx);
    free(s->logp);
    free(s->dlogp);
    free(s->pc);
    free(s->ref_c);
    free(s->ref_r);
    free(s);
}

LP_PLUGIN_EXPORT const lp_stage_desc *lp_plugin_entry(void) {
    static lp_stage_desc d = {
        LP_STAGE_DESC_INIT,
        .name = "dpo",
        .version = "0.1.0",
        .description =
            "direct preference optimisation (DPO, conservative DPO, IPO) against a frozen reference: "
            "cached reference log-probabilities, chosen and rejected in one packed forward, "
            "implicit-reward accuracy, exact match per task family, exact resume",
        .create = create,
        .run = run,
        .request_stop = NULL,
        .destroy = destroy,
        .flags = LP_STAGE_RESUMABLE,
    };
    size_t count;
    d.params = dpo_param_specs(&count);
    d.param_count = (uint32_t)count;
    return &d;
}
