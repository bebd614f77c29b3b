/* The reward-model stage: a scalar head on the SFT model's trunk, read at
 * the closing end-of-text of prompt + response, trained with the pairwise
 * loss on preference pairs or the K-wise ranking loss on ranked lists.
 * Held-out accuracy per flaw and family at every eval_every and at the
 * end, the on-policy check on answers sampled from the starting model,
 * and the score normalisation stored with the exported
 * GPT2ForSequenceClassification folder. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "examples.h"
#include "llmpipe/clock.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/reward.h"
#include "onpolicy.h"
#include "params.h"

typedef struct rm {
    const lp_host_services *h;
    rm_params p;
    lpk_ctx *ctx;
    lp_model *m;
    lp_tokenizer *tok;
    int32_t eot;
    int ranked, max_len;
    rm_examples ex;
    rm_order order;
    lp_score_batch *sb;
    /* one step's sequences, flattened */
    const int32_t **seqs;
    int32_t *lens;
    float *scores, *dscores;
    /* evaluation */
    size_t n_eval, n_eval_seq;
    const int32_t **eval_seqs;
    int32_t *eval_lens;
    float *eval_scores;
    lp_pref_tally by_flaw, by_family;
    double ranked_order, onpolicy_acc, eval_loss;
    long onpolicy_pairs;
    int64_t eval_step;
    lp_dataset *tasks;
    rm_onpolicy op;
    lp_trainer *tr;
    char start[4096], tok_json[4200], ckdir[4200];
} rm;

static int model_fail(rm *s, const char *what, char *err, size_t n) {
    return lp_errf(err, n, "reward %s: %s", what, lp_model_error(s->m));
}

/* ---- trainer hooks ------------------------------------------------------ */

static double item_loss(const rm_item *it, const float *sc, float *d) {
    if (it->k == 2) return lp_pair_loss(sc[0], sc[1], it->margin, &d[0], &d[1]);
    return lp_kwise_loss(sc, it->k, d);
}

static int micro(void *user, lp_model *m, int k, int n_micro, double *loss, int64_t *tokens, char *err,
                 size_t n) {
    (void)k;
    (void)n_micro;
    rm *s = user;
    int B = (int)s->p.batch_size, R = 0;
    const rm_item *items[1024];
    for (int i = 0; i < B; i++) {
        const rm_item *it = &s->ex.train[rm_order_next(&s->order)];
        items[i] = it;
        for (int j = 0; j < it->k; j++, R++) {
            s->seqs[R] = it->seq[j];
            s->lens[R] = it->len[j];
        }
    }
    if (lp_score_batch_run(s->sb, m, s->seqs, s->lens, R, 0, 0, s->eot, s->scores, err, n)) return -1;
    double sum = 0;
    for (int i = 0, at = 0; i < B; at += items[i]->k, i++) {
        sum += item_loss(items[i], s->scores + at, s->dscores + at);
    }
    for (int r = 0; r < R; r++) s->dscores[r] /= (float)B;
    if (lp_score_batch_grad(s->sb, m, s->dscores, err, n) || lp_model_backward(m))
        return lp_model_error(m)[0] ? model_fail(s, "step", err, n) : -1;
    *loss = sum / B;
    *tokens = lp_score_batch_tokens(s->sb);
    return 0;
}

static void put_metric(lp_metric *mt, size_t *k, char (*names)[80], const char *prefix, const char *name,
                       double v) {
    snprintf(names[*k], 80, "%s%s", prefix, name);
    mt[*k] = (lp_metric){names[*k], v};
    (*k)++;
}

/* Held-out accuracy per flaw and family, the ranked-order share and the
 * on-policy figure, published at the trainer's current step. */
static int evaluate_now(rm *s, lp_model *m, char *err, size_t n) {
    double t0 = lp_mono_s();
    if (lp_score_sequences(m, s->eval_seqs, s->eval_lens, s->n_eval_seq, (int)s->p.eval_batch, s->eot,
                           s->eval_scores, err, n))
        return -1;
    memset(&s->by_flaw, 0, sizeof s->by_flaw);
    memset(&s->by_family, 0, sizeof s->by_family);
    long orders = 0;
    double loss = 0;
    float d[64];
    for (size_t i = 0, at = 0; i < s->n_eval; at += (size_t)s->ex.val[i].k, i++) {
        const rm_item *it = &s->ex.val[i];
        const float *sc = s->eval_scores + at;
        loss += item_loss(it, sc, d);
        int ordered = 1;
        for (int a = 0; a < it->k; a++)
            for (int b = a + 1; b < it->k; b++) {
                char grp[48];
                if (it->k == 2)
                    snprintf(grp, sizeof grp, "%s", it->flaw ? it->flaw : "other");
                else
                    snprintf(grp, sizeof grp, "rank%d>rank%d", a + 1, b + 1);
                lp_pref_tally_add(&s->by_flaw, grp, sc[a] - sc[b]);
                lp_pref_tally_add(&s->by_family, it->family, sc[a] - sc[b]);
                ordered &= sc[a] > sc[b];
            }
        orders += ordered;
    }
    s->eval_loss = s->n_eval ? loss / (double)s->n_eval : NAN;
    s->ranked_order = s->n_eval ? (double)orders / (double)s->n_eval : NAN;
    if (rm_onpolicy_rank(&s->op, m, (int)s->p.eval_batch, s->eot, &s->onpolicy_acc, &s->onpolicy_pairs, err,
                         n))
        return -1;
    int64_t step = s->tr ? lp_trainer_steps_done(s->tr) : 0;
    s->eval_step = step;
    lp_metric mt[2 * LP_TALLY_MAX + 8];
    char names[2 * LP_TALLY_MAX + 8][80];
    size_t k = 0;
    put_metric(mt, &k, names, "eval/", "accuracy", lp_pref_tally_accuracy(&s->by_flaw, -1));
    put_metric(mt, &k, names, "eval/", "margin", lp_pref_tally_margin(&s->by_flaw, -1));
    put_metric(mt, &k, names, "eval/", "loss", s->eval_loss);
    if (s->ranked) put_metric(mt, &k, names, "eval/", "ranked_order", s->ranked_order);
    for (int g = 0; g < s->by_flaw.groups; g++)
        put_metric(mt, &k, names, "eval/flaw/", s->by_flaw.name[g], lp_pref_tally_accuracy(&s->by_flaw, g));
    for (int g = 0; g < s->by_family.groups; g++)
        put_metric(mt, &k, names, "eval/family/", s->by_family.name[g],
                   lp_pref_tally_accuracy(&s->by_family, g));
    if (s->onpolicy_pairs) put_metric(mt, &k, names, "onpolicy/", "accuracy", s->onpolicy_acc);
    s->h->emit_metrics(s->h->host, step, mt, k);
    char line[2048];
    size_t at = 0;
    for (int g = 0; g < s->by_flaw.groups && at < sizeof line - 64; g++)
        at += (size_t)snprintf(line + at, sizeof line - at, "%s%s %.1f%%", g ? ", " : "", s->by_flaw.name[g],
                               100.0 * lp_pref_tally_accuracy(&s->by_flaw, g));
    lp_stage_logf(
        s->h, LP_LOG_INFO,
        "step %lld: held-out accuracy %.1f%% of %ld pairs (%s), margin %.3f%s; on-policy %.1f%% of %ld "
        "pairs (%.1f s)",
        (long long)step, 100.0 * lp_pref_tally_accuracy(&s->by_flaw, -1),
        lp_pref_tally_count(&s->by_flaw, -1), at ? line : "", lp_pref_tally_margin(&s->by_flaw, -1),
        s->ranked ? "" : "", 100.0 * s->onpolicy_acc, s->onpolicy_pairs, lp_mono_s() - t0);
    if (s->ranked)
        lp_stage_logf(s->h, LP_LOG_INFO, "step %lld: %.1f%% of held-out lists fully in order",
                      (long long)step, 100.0 * s->ranked_order);
    return 0;
}

static int evaluate(void *user, lp_model *m, double *vl, char *err, size_t n) {
    rm *s = user;
    *vl = NAN;
    if (!s->n_eval && !s->op.n) return 0;
    if (evaluate_now(s, m, err, n)) return -1;
    *vl = s->eval_loss;
    return 0;
}

static int save(void *user, lp_state_writer *w, const char *dir, char *err, size_t n) {
    (void)dir;
    (void)err;
    (void)n;
    rm *s = user;
    uint8_t st[RM_ORDER_STATE_SIZE];
    rm_order_save(&s->order, st);
    return lp_state_put(w, "reward.order", st, sizeof st);
}

static int load(void *user, const lp_state *st, const char *dir, char *err, size_t n) {
    rm *s = user;
    size_t len;
    const void *d = lp_state_get(st, "reward.order", &len);
    if (!d) return lp_errf(err, n, "%s: trainer state has no reward batch position", dir);
    return rm_order_restore(&s->order, d, len, err, n);
}

/* ---- lifecycle ---------------------------------------------------------- */

static int create(const lp_host_services *h, void **state, char *err, size_t n) {
    rm *s = calloc(1, sizeof *s);
    if (!s) return lp_errf(err, n, "reward: out of memory");
    s->h = h;
    if (rm_params_read(h, &s->p, err, n)) {
        free(s);
        return -1;
    }
    s->ranked = !strcmp(s->p.data_kind, "ranked");
    s->onpolicy_acc = NAN;
    s->eval_step = -1;
    *state = s;
    return 0;
}

/* The starting model with a new (or its own) scalar head, its tokenizer and
 * the kernel context. */
static int open_model(rm *s, char *err, size_t n) {
    const lp_host_services *h = s->h;
    lp_stage_start st;
    if (lp_stage_open_start(h, LP_INPUT_MODEL | LP_INPUT_REWARD_MODEL, s->p.model, s->p.tokenizer, &st, err,
                            n))
        return -1;
    s->tok = st.tok;
    s->eot = st.eot;
    snprintf(s->tok_json, sizeof s->tok_json, "%s", st.tok_json);
    snprintf(s->start, sizeof s->start, "%s", st.dir);
    lp_model_config cfg = st.cfg;
    cfg.scalar_head = 1;
    lp_import_opts io = {(float)s->p.head_std, h->seed(h->host) ^ 0x5eedull};
    if (!(s->ctx = lp_stage_kernel_ctx(h, s->p.precision, err, n)) ||
        !(s->m = lp_model_create(&cfg, s->ctx, err, n)) || lp_model_import_ex(s->m, s->start, &io, err, n))
        return -1;
    s->max_len = (int)(s->p.context ? s->p.context : cfg.n_ctx);
    if (s->max_len > cfg.n_ctx || s->max_len < 2)
        return lp_errf(err, n, "reward: context %d: expected 2..%d (the starting model's n_ctx)", s->max_len,
                       cfg.n_ctx);
    return 0;
}

/* The same model with a context of max_len tokens: the position table's
 * first rows, every other parameter as it is. */
static int shrink_context(rm *s, char *err, size_t n) {
    lp_model_config cfg = *lp_model_get_config(s->m);
    if (s->max_len == cfg.n_ctx) return 0;
    cfg.n_ctx = s->max_len;
    lp_model *small = lp_model_create(&cfg, s->ctx, err, n);
    if (!small) return -1;
    size_t cap = 0;
    for (int i = 0; i < lp_model_num_params(s->m); i++)
        if (lp_model_param(s->m, i)->numel > cap) cap = lp_model_param(s->m, i)->numel;
    float *buf = malloc(cap * sizeof *buf);
    int rc = buf ? 0 : lp_errf(err, n, "reward: out of memory");
    for (int i = 0; i < lp_model_num_params(s->m) && !rc; i++) {
        const lp_param *a = lp_model_param(s->m, i), *b = lp_model_param(small, i);
        if (strcmp(a->name, b->name) || (a->numel != b->numel && strcmp(a->name, "transformer.wpe.weight")))
            rc = lp_errf(err, n, "reward: context: parameter %s does not match %s", a->name, b->name);
        /* wpe is [n_ctx, n_embd] row-major: its first rows are a prefix */
        else if (lp_model_param_read(s->m, i, buf) || lp_model_param_write(small, i, buf))
            rc = lp_errf(err, n, "reward: context: %s", lp_model_error(s->m));
    }
    free(buf);
    if (rc) {
        lp_model_destroy(small);
        return -1;
    }
    lp_model_destroy(s->m);
    s->m = small;
    return 0;
}

static int open_data(rm *s, char *err, size_t n) {
    const lp_host_services *h = s->h;
    const rm_params *p = &s->p;
    uint64_t seed = h->seed(h->host);
    if (rm_examples_load(&s->ex, p, s->tok, s->max_len, seed, err, n)) return -1;
    if (s->ex.bad)
        lp_stage_logf(h, LP_LOG_WARN, "skipped %zu malformed records (skip_bad); the first: %s", s->ex.bad,
                      s->ex.first_bad);
    if (s->ex.truncated)
        lp_stage_logf(h, LP_LOG_INFO, "%zu records longer than the context of %d tokens kept their end",
                      s->ex.truncated, s->max_len);
    if (rm_order_init(&s->order, s->ex.n_train, seed) || !(s->sb = lp_score_batch_create()))
        return lp_errf(err, n, "reward: out of memory");
    int kmax = 2;
    for (size_t i = 0; i < s->ex.n_train; i++)
        if (s->ex.train[i].k > kmax) kmax = s->ex.train[i].k;
    for (size_t i = 0; i < s->ex.n_val; i++)
        if (s->ex.val[i].k > kmax) kmax = s->ex.val[i].k;
    if (kmax > 64)
        return lp_errf(err, n, "reward: a ranked record has %d responses, at most 64 are supported", kmax);
    if (p->batch_size > 1024)
        return lp_errf(err, n, "reward: batch_size %lld: at most 1024", (long long)p->batch_size);
    size_t R = (size_t)p->batch_size * (size_t)kmax;
    s->seqs = malloc(R * sizeof *s->seqs);
    s->lens = malloc(R * sizeof *s->lens);
    s->scores = malloc(R * sizeof *s->scores);
    s->dscores = malloc(R * sizeof *s->dscores);
    s->n_eval = s->ex.n_val < (size_t)p->eval_max ? s->ex.n_val : (size_t)p->eval_max;
    for (size_t i = 0; i < s->n_eval; i++) s->n_eval_seq += (size_t)s->ex.val[i].k;
    size_t E = s->n_eval_seq ? s->n_eval_seq : 1;
    s->eval_seqs = malloc(E * sizeof *s->eval_seqs);
    s->eval_lens = malloc(E * sizeof *s->eval_lens);
    s->eval_scores = malloc(E * sizeof *s->eval_scores);
    if (!s->seqs || !s->lens || !s->scores || !s->dscores || !s->eval_seqs || !s->eval_lens ||
        !s->eval_scores)
        return lp_errf(err, n, "reward: out of memory");
    for (size_t i = 0, at = 0; i < s->n_eval; i++)
        for (int j = 0; j < s->ex.val[i].k; j++, at++) {
            s->eval_seqs[at] = s->ex.val[i].seq[j];
            s->eval_lens[at] = s->ex.val[i].len[j];
        }
    if (p->onpolicy_tasks[0] && p->onpolicy_prompts > 0) {
        if (lp_dataset_load(&s->tasks, p->onpolicy_tasks, LP_DATA_PROMPTS, 0, err, n)) return -1;
        rm_onpolicy_opts oo = {(size_t)p->onpolicy_prompts,
                               (int)p->onpolicy_samples,
                               (int)p->onpolicy_max_new,
                               (int)p->eval_batch,
                               (float)p->onpolicy_temperature,
                               seed ^ 0x0b5e7ull,
                               s->max_len};
        double t0 = lp_mono_s();
        /* before any step or resume: these are the starting model's answers */
        if (rm_onpolicy_sample(&s->op, s->m, s->tok, s->tasks, &oo, err, n)) return -1;
        lp_stage_logf(
            h, LP_LOG_INFO,
            "on-policy: %zu answers sampled from %s for %zu tasks (%.1f s): %ld right (%.1f%%), %ld "
            "tasks with both right and wrong answers",
            s->op.n, s->start, s->op.n / (size_t)s->op.per_prompt, lp_mono_s() - t0, s->op.n_right,
            s->op.n ? 100.0 * (double)s->op.n_right / (double)s->op.n : 0.0, s->op.prompts_mixed);
    }
    return 0;
}

/* Mean and spread of the final scores on the reference set: the on-policy
 * answers when there are any (what PPO will score), else the held-out
 * responses, else the training responses. */
static int normalisation(rm *s, lp_reward_norm *nm, char *err, size_t n) {
    int fresh = s->eval_step == lp_trainer_steps_done(s->tr);
    if (s->op.n) {
        double acc;
        long pairs;
        /* the final evaluation has just scored them with these weights */
        if (!fresh && rm_onpolicy_rank(&s->op, s->m, (int)s->p.eval_batch, s->eot, &acc, &pairs, err, n))
            return -1;
        return lp_reward_norm_compute(s->op.scores, s->op.n, "onpolicy", nm, err, n);
    }
    if (s->n_eval_seq) {
        if (!fresh && lp_score_sequences(s->m, s->eval_seqs, s->eval_lens, s->n_eval_seq,
                                         (int)s->p.eval_batch, s->eot, s->eval_scores, err, n))
            return -1;
        return lp_reward_norm_compute(s->eval_scores, s->n_eval_seq, "heldout", nm, err, n);
    }
    size_t cap = 1024, k = 0;
    const int32_t **sq = malloc(cap * sizeof *sq);
    int32_t *ln = malloc(cap * sizeof *ln);
    float *sc = malloc(cap * sizeof *sc);
    int rc = !sq || !ln || !sc ? lp_errf(err, n, "reward: out of memory") : 0;
    for (size_t i = 0; !rc && i < s->ex.n_train && k < cap; i++)
        for (int j = 0; j < s->ex.train[i].k && k < cap; j++, k++) {
            sq[k] = s->ex.train[i].seq[j];
            ln[k] = s->ex.train[i].len[j];
        }
    if (!rc) rc = lp_score_sequences(s->m, sq, ln, k, (int)s->p.eval_batch, s->eot, sc, err, n);
    if (!rc) rc = lp_reward_norm_compute(sc, k, "train", nm, err, n);
    free(sq);
    free(ln);
    free(sc);
    return rc;
}

static int publish(rm *s, const lp_reward_norm *nm, char *err, size_t n) {
    const lp_host_services *h = s->h;
    if (!h->output_name(h->host)) return 0;
    char out[4200], why[1024];
    snprintf(out, sizeof out, "%s/output", h->work_dir(h->host));
    if (lp_mkdir_p(out, why, sizeof why) ||
        lp_model_export_as(s->m, out, LP_EXPORT_SEQ_CLS, s->eot, s->tok_json, why, sizeof why) ||
        lp_reward_norm_save(out, nm, why, sizeof why))
        return lp_errf(err, n, "stage '%s': output: %s", h->stage_name(h->host), why);
    if (h->artifact_put(h->host, out))
        return lp_errf(err, n, "stage '%s': output: %s", h->stage_name(h->host), h->last_error(h->host));
    return 0;
}

static void final_report(rm *s, double secs, double tps, const lp_reward_norm *nm) {
    const lp_host_services *h = s->h;
    int64_t steps = lp_trainer_steps_done(s->tr);
    lp_stage_logf(h, LP_LOG_INFO, "done: %lld steps, %.1f s, %.0f tokens/s, epoch %llu, %lld skipped steps",
                  (long long)steps, secs, tps, (unsigned long long)s->order.epoch,
                  (long long)lp_trainer_skipped_total(s->tr));
    const lp_pref_tally *tabs[2] = {&s->by_flaw, &s->by_family};
    const char *what[2] = {s->ranked ? "pair" : "flaw", "family"};
    for (int t = 0; t < 2 && s->n_eval; t++)
        for (int g = -(t == 0); g < tabs[t]->groups; g++)
            lp_stage_logf(h, LP_LOG_INFO,
                          "held-out %-6s %-14s %5ld pairs  accuracy %5.1f%%  mean margin %7.3f", what[t],
                          g < 0 ? "all" : tabs[t]->name[g], lp_pref_tally_count(tabs[t], g),
                          100.0 * lp_pref_tally_accuracy(tabs[t], g), lp_pref_tally_margin(tabs[t], g));
    if (s->op.n)
        lp_stage_logf(
            h, LP_LOG_INFO,
            "on-policy: a right answer above a wrong one in %.1f%% of %ld pairs (%ld tasks with both)",
            100.0 * s->onpolicy_acc, s->onpolicy_pairs, s->op.prompts_mixed);
    size_t ri[3], wi[3];
    int misses = s->op.n ? rm_onpolicy_misses(&s->op, ri, wi, 3) : 0;
    for (int i = 0; i < misses; i++) {
        char *a = lp_utf8_sanitize(s->op.answer[ri[i]], strlen(s->op.answer[ri[i]]));
        char *b = lp_utf8_sanitize(s->op.answer[wi[i]], strlen(s->op.answer[wi[i]]));
        lp_stage_logf(
            h, LP_LOG_INFO, "on-policy miss [%s]: right \"%s\" (%.3f) not above wrong \"%s\" (%.3f)",
            s->op.family[ri[i]], a ? a : "?", s->op.scores[ri[i]], b ? b : "?", s->op.scores[wi[i]]);
        free(a);
        free(b);
    }
    lp_stage_logf(h, LP_LOG_INFO, "normalisation over %lld %s scores: mean %.4f, std %.4f", (long long)nm->n,
                  nm->source, nm->mean, nm->std);
    lp_metric fm[] = {{"final_accuracy", s->n_eval ? lp_pref_tally_accuracy(&s->by_flaw, -1) : NAN},
                      {"final_onpolicy_accuracy", s->onpolicy_acc},
                      {"final_ranked_order", s->ranked ? s->ranked_order : NAN},
                      {"train_seconds", secs},
                      {"train_tokens_per_s", tps},
                      {"reward_mean", nm->mean},
                      {"reward_std", nm->std},
                      {"records_truncated", (double)s->ex.truncated},
                      {"records_skipped_bad", (double)s->ex.bad}};
    h->emit_metrics(h->host, steps, fm, sizeof fm / sizeof fm[0]);
}

static int run(void *state, char *err, size_t n) {
    rm *s = state;
    const lp_host_services *h = s->h;
    /* the on-policy answers come from the starting model's full context */
    if (open_model(s, err, n) || open_data(s, err, n) || shrink_context(s, err, n)) return -1;
    lp_trainer_opts o = s->p.o;
    if (!o.max_steps) {
        double steps = ceil(s->p.epochs * (double)s->ex.n_train / (double)s->p.batch_size);
        o.max_steps = steps < 1 ? 1 : (int64_t)steps;
    }
    o.lr.total = o.max_steps;
    o.micro_steps = 1;
    lp_stage_ckpt_dir(h, s->ckdir, sizeof s->ckdir);
    o.ckpt_dir = s->ckdir;
    o.eot = s->eot;
    o.tokenizer_json = s->tok_json;
    lp_train_hooks hooks = {s, micro, evaluate, NULL, save, load};
    if (!(s->tr = lp_trainer_create(s->m, &o, &hooks, h, err, n)) ||
        lp_stage_trainer_start(h, s->tr, s->ckdir, err, n))
        return -1;
    lp_stage_logf(h, LP_LOG_INFO,
                  "%zu training %s (%lld tokens), %zu held out (%zu evaluated); %lld steps of %lld records, "
                  "%.2f epochs; starting from %s; %zu parameters, %d threads, %s",
                  s->ex.n_train, s->ranked ? "ranked lists" : "pairs", (long long)s->ex.tokens, s->ex.n_val,
                  s->n_eval, (long long)o.max_steps, (long long)s->p.batch_size,
                  (double)o.max_steps * (double)s->p.batch_size / (double)s->ex.n_train, s->start,
                  lp_model_numel(s->m), lpk_ctx_threads(s->ctx), s->p.precision);
    if (s->p.eval_at_start && lp_trainer_steps_done(s->tr) == 0 && (s->n_eval || s->op.n) &&
        evaluate_now(s, s->m, err, n))
        return -1;
    double t0 = lp_mono_s();
    int64_t tok0 = lp_trainer_tokens_seen(s->tr);
    if (lp_stage_trainer_run(s->tr, err, n)) return -1;
    double secs = lp_mono_s() - t0;
    double tps = secs > 0 ? (double)(lp_trainer_tokens_seen(s->tr) - tok0) / secs : 0;
    /* the end always has an evaluation, whatever eval_every is */
    if ((s->n_eval || s->op.n) && s->eval_step != lp_trainer_steps_done(s->tr) &&
        evaluate_now(s, s->m, err, n))
        return -1;
    lp_reward_norm nm;
    if (normalisation(s, &nm, err, n)) return -1;
    final_report(s, secs, tps, &nm);
    return publish(s, &nm, err, n);
}

static void destroy(void *state) {
    rm *s = state;
    if (!s) return;
    lp_trainer_destroy(s->tr);
    rm_examples_free(&s->ex);
    rm_order_free(&s->order);
    rm_onpolicy_free(&s->op);
    lp_dataset_destroy(s->tasks);
    lp_score_batch_destroy(s->sb);
    lp_model_destroy(s->m);
    lpk_ctx_destroy(s->ctx);
    lp_tokenizer_destroy(s->tok);
    free(s->seqs);
    free(s->lens);
    free(s->scores);
    free(s->dscores);
    free(s->eval_seqs);
    free(s->eval_lens);
    free(s->eval_scores);
    free(s);
}

LP_PLUGIN_EXPORT const lp_stage_desc *lp_plugin_entry(void) {
    static lp_stage_desc d = {
        LP_STAGE_DESC_INIT,
        .name = "reward",
        .version = "0.1.0",
        .description =
            "reward model: scalar head at the closing end-of-text, pairwise or K-wise ranking loss, "
            "accuracy per flaw and family, on-policy check, stored normalisation, exact resume",
        .create = create,
        .run = run,
        .request_stop = NULL,
        .destroy = destroy,
        .flags = LP_STAGE_RESUMABLE,
    };
    size_t count;
    d.params = rm_param_specs(&count);
    d.param_count = (uint32_t)count;
    return &d;
}
