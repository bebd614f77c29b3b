/* The SFT stage: instruction tuning of a GPT (the pretrain artifact or a
 * Hugging Face GPT-2 folder) on Alpaca records, the loss on the response
 * and its closing end-of-text only, short examples packed into rows where
 * each attends only to itself. Validation loss on held-out records and
 * exact match per task family on held-out tasks at every eval_every. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "examples.h"
#include "llmpipe/clock.h"
#include "llmpipe/eval.h"
#include "llmpipe/fsutil.h"
#include "params.h"

typedef struct sft {
    const lp_host_services *h;
    sft_params p;
    lp_prompt_template tpl;
    lpk_ctx *ctx;
    lp_model *m;
    lp_tokenizer *tok;
    sft_examples ex;
    lp_sft_batcher *train, *val;
    lp_dataset *tasks;
    lp_eval_result last_em;
    int have_em;
    lp_trainer *tr;
    int B, T, n_micro, eot;
    /* the micro-batches of the current step, drawn at its first micro-step
     * so the loss can be normalised by the step's target tokens */
    int32_t *ids, *targets, *seg;
    int *rows_T, packed;
    int64_t *tok_n, step_targets;
    char tok_json[4200], ckdir[4200];
} sft;

static int model_fail(sft *s, const char *what, char *err, size_t n) {
    return lp_errf(err, n, "sft %s: %s", what, lp_model_error(s->m));
}

static int forward(lp_model *m, const int32_t *ids, const int32_t *seg, int B, int T) {
    return seg ? lp_model_forward_packed(m, ids, seg, B, T) : lp_model_forward(m, ids, B, T);
}

/* ---- trainer hooks ------------------------------------------------------ */

static int draw_step(sft *s, char *err, size_t n) {
    size_t cells = (size_t)s->B * (size_t)s->T;
    s->step_targets = 0;
    for (int k = 0; k < s->n_micro; k++) {
        lp_sft_batch b;
        if (lp_sft_batcher_next(s->train, &b, err, n) < 0) return -1;
        memcpy(s->ids + k * cells, b.ids, (size_t)b.B * b.T * sizeof *s->ids);
        memcpy(s->targets + k * cells, b.targets, (size_t)b.B * b.T * sizeof *s->targets);
        if (b.seg) memcpy(s->seg + k * cells, b.seg, (size_t)b.B * b.T * sizeof *s->seg);
        s->rows_T[k] = b.T;
        s->tok_n[k] = b.tokens;
        s->step_targets += b.targets_n;
    }
    return 0;
}

static int micro(void *user, lp_model *m, int k, int n_micro, double *loss, int64_t *tokens, char *err,
                 size_t n) {
    (void)n_micro;
    sft *s = user;
    if (k == 0) {
        if (s->p.debug_step_sleep_ms > 0) {
            struct timespec ts = {s->p.debug_step_sleep_ms / 1000,
                                  (s->p.debug_step_sleep_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (draw_step(s, err, n)) return -1;
    }
    size_t at = (size_t)k * s->B * s->T;
    int T = s->rows_T[k];
    /* an all-prompt step (possible only with tiny outputs) has nothing to learn */
    double norm = s->step_targets > 0 ? (double)s->step_targets : 1.0;
    if (forward(m, s->ids + at, s->packed ? s->seg + at : NULL, s->B, T) ||
        lp_model_lm_loss(m, s->targets + at, NULL, norm, NULL, loss) || lp_model_backward(m))
        return model_fail(s, "step", err, n);
    *tokens = s->tok_n[k];
    return 0;
}

static int val_loss(sft *s, lp_model *m, double *out, char *err, size_t n) {
    double sum = 0;
    int64_t count = 0;
    lp_sft_batch b;
    int rc;
    lp_sft_batcher_rewind(s->val);
    while ((rc = lp_sft_batcher_next(s->val, &b, err, n)) == 0) {
        double l;
        if (forward(m, b.ids, b.seg, b.B, b.T) || lp_model_lm_loss(m, b.targets, NULL, 1.0, NULL, &l))
            return model_fail(s, "validation", err, n);
        sum += l;
        count += b.targets_n;
    }
    if (rc < 0) return -1;
    *out = count ? sum / (double)count : NAN;
    return 0;
}

/* Exact match on the held-out tasks, published as metrics at step. */
static int exact_match(sft *s, lp_model *m, int64_t step, char *err, size_t n) {
    lp_eval_opts o = {(int)s->p.eval_batch, (int)s->p.eval_max_new, (size_t)s->p.eval_limit};
    if (lp_stage_exact_match(s->h, m, s->tok, s->tasks, s->p.eval_tasks, &o, (int)s->p.samples, step,
                             &s->last_em, err, n))
        return -1;
    s->have_em = 1;
    return 0;
}

static int evaluate(void *user, lp_model *m, double *vl, char *err, size_t n) {
    sft *s = user;
    *vl = NAN;
    if (s->val && val_loss(s, m, vl, err, n)) return -1;
    if (s->tasks && exact_match(s, m, lp_trainer_steps_done(s->tr), err, n)) return -1;
    return 0;
}

static int save(void *user, lp_state_writer *w, const char *dir, char *err, size_t n) {
    (void)dir;
    (void)err;
    (void)n;
    sft *s = user;
    uint8_t st[LP_SFT_BATCHER_STATE_SIZE];
    lp_sft_batcher_state_save(s->train, st);
    return lp_state_put(w, "sft.batches", st, sizeof st);
}

static int load(void *user, const lp_state *st, const char *dir, char *err, size_t n) {
    sft *s = user;
    size_t len;
    const void *d = lp_state_get(st, "sft.batches", &len);
    if (!d) return lp_errf(err, n, "%s: trainer state has no SFT batch position", dir);
    return lp_sft_batcher_state_restore(s->train, d, len, err, n);
}

/* ---- lifecycle ---------------------------------------------------------- */

static int create(const lp_host_services *h, void **state, char *err, size_t n) {
    sft *s = calloc(1, sizeof *s);
    if (!s) return lp_errf(err, n, "sft: out of memory");
    s->h = h;
    if (sft_params_read(h, &s->p, err, n)) {
        free(s);
        return -1;
    }
    s->tpl = *lp_alpaca_template();
    if (s->p.template_input[0]) s->tpl.with_input = s->p.template_input;
    if (s->p.template_no_input[0]) s->tpl.no_input = s->p.template_no_input;
    if (lp_template_check(&s->tpl, err, n)) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

/* Model, tokenizer and kernel context from the starting model folder. */
static int open_model(sft *s, char *err, size_t n) {
    const lp_host_services *h = s->h;
    lp_stage_start st;
    if (lp_stage_open_start(h, LP_INPUT_MODEL, s->p.model, s->p.tokenizer, &st, err, n)) return -1;
    s->tok = st.tok;
    s->eot = st.eot;
    snprintf(s->tok_json, sizeof s->tok_json, "%s", st.tok_json);
    lp_model_config cfg = st.cfg;
    cfg.scalar_head = 0;
    if (!(s->ctx = lp_stage_kernel_ctx(h, s->p.precision, err, n)) ||
        !(s->m = lp_model_create(&cfg, s->ctx, err, n)) || lp_model_import(s->m, st.dir, err, n))
        return -1;
    s->T = (int)(s->p.seq_len ? s->p.seq_len : cfg.n_ctx);
    if (s->T > cfg.n_ctx || s->T < 2)
        return lp_errf(err, n, "sft: seq_len %d: expected 2..%d (the model's n_ctx)", s->T, cfg.n_ctx);
    return 0;
}

static int open_data(sft *s, char *err, size_t n) {
    const lp_host_services *h = s->h;
    const sft_params *p = &s->p;
    uint64_t seed = h->seed(h->host);
    if (sft_examples_load(&s->ex, p, s->tok, &s->tpl, s->T, seed, err, n)) return -1;
    const sft_examples *e = &s->ex;
    if (e->bad)
        lp_stage_logf(h, LP_LOG_WARN, "skipped %zu malformed records (skip_bad); the first: %s", e->bad,
                      e->first_bad);
    if (e->truncated || e->skipped_long || e->skipped_prompt)
        lp_stage_logf(h, LP_LOG_WARN,
                      "over-long records (longest %zu tokens, seq_len %d): %zu truncated, %zu skipped, %zu "
                      "skipped because the prompt alone fills seq_len",
                      e->longest, s->T, e->truncated, e->skipped_long, e->skipped_prompt);
    s->B = (int)p->batch_size;
    s->packed = p->pack;
    unsigned fl = (p->pack ? LP_SFT_PACK : 0) | (p->pack && p->share_prefix ? LP_SFT_SHARE_PREFIX : 0);
    if (lp_sft_batcher_create(&s->train, e->train, e->n_train, s->B, s->T, fl | LP_SFT_SHUFFLE, s->eot, seed,
                              err, n))
        return -1;
    if (e->n_val &&
        lp_sft_batcher_create(&s->val, e->val, e->n_val, s->B, s->T, fl | LP_SFT_ONCE, s->eot, seed, err, n))
        return -1;
    if (p->eval_tasks[0] && lp_dataset_load(&s->tasks, p->eval_tasks, LP_DATA_PROMPTS, 0, err, n)) return -1;
    int64_t row_tokens = (int64_t)s->B * s->T;
    if (p->tokens_per_step % row_tokens)
        return lp_errf(err, n, "sft: tokens_per_step %lld is not a multiple of batch_size*seq_len %lld",
                       (long long)p->tokens_per_step, (long long)row_tokens);
    s->n_micro = p->tokens_per_step ? (int)(p->tokens_per_step / row_tokens) : 1;
    size_t cells = (size_t)s->n_micro * row_tokens;
    s->ids = malloc(cells * sizeof *s->ids);
    s->targets = malloc(cells * sizeof *s->targets);
    s->seg = malloc(cells * sizeof *s->seg);
    s->rows_T = malloc((size_t)s->n_micro * sizeof *s->rows_T);
    s->tok_n = malloc((size_t)s->n_micro * sizeof *s->tok_n);
    if (!s->ids || !s->targets || !s->seg || !s->rows_T || !s->tok_n)
        return lp_errf(err, n, "sft: out of memory");
    return 0;
}

static void final_report(sft *s, double secs, double tps) {
    const lp_host_services *h = s->h;
    int64_t steps = lp_trainer_steps_done(s->tr);
    lp_stage_logf(h, LP_LOG_INFO,
                  "done: %lld steps, %.1f s, %.0f useful tokens/s, epoch %llu, final validation loss %.4f, "
                  "%lld skipped steps",
                  (long long)steps, secs, tps, (unsigned long long)lp_sft_batcher_epoch(s->train),
                  lp_trainer_last_val_loss(s->tr), (long long)lp_trainer_skipped_total(s->tr));
    if (s->have_em) {
        char line[4096];
        size_t at = 0;
        for (int i = 0; i < s->last_em.families && at < sizeof line - 64; i++)
            at += (size_t)snprintf(line + at, sizeof line - at, "%s%s %.0f%%", i ? ", " : "",
                                   s->last_em.name[i], 100.0 * lp_eval_accuracy(&s->last_em, i));
        lp_stage_logf(h, LP_LOG_INFO, "exact match %.1f%%: %s", 100.0 * lp_eval_accuracy(&s->last_em, -1),
                      at ? line : "");
    }
    lp_metric fm[] = {{"final_val_loss", lp_trainer_last_val_loss(s->tr)},
                      {"train_seconds", secs},
                      {"train_tokens_per_s", tps},
                      {"records_truncated", (double)s->ex.truncated},
                      {"records_skipped_long", (double)(s->ex.skipped_long + s->ex.skipped_prompt)},
                      {"records_skipped_bad", (double)s->ex.bad},
                      {"final_exact_match", s->have_em ? lp_eval_accuracy(&s->last_em, -1) : NAN}};
    h->emit_metrics(h->host, steps, fm, s->have_em ? 7 : 6);
}

static int run(void *state, char *err, size_t n) {
    sft *s = state;
    const lp_host_services *h = s->h;
    if (open_model(s, err, n) || open_data(s, err, n)) return -1;
    lp_trainer_opts o = s->p.o;
    if (!o.max_steps) {
        uint64_t mb = lp_sft_batcher_count(s->train, s->p.epochs);
        o.max_steps = (int64_t)((mb + (uint64_t)s->n_micro - 1) / (uint64_t)s->n_micro);
        if (o.max_steps < 1) o.max_steps = 1;
    }
    o.lr.total = o.max_steps;
    o.micro_steps = s->n_micro;
    lp_stage_ckpt_dir(h, s->ckdir, sizeof s->ckdir);
    o.ckpt_dir = s->ckdir;
    o.eot = s->eot;
    o.tokenizer_json = s->tok_json;
    lp_train_hooks hooks = {s, micro, (s->val || s->tasks) ? evaluate : NULL, NULL, save, load};
    if (!(s->tr = lp_trainer_create(s->m, &o, &hooks, h, err, n)) ||
        lp_stage_trainer_start(h, s->tr, s->ckdir, err, n))
        return -1;
    const sft_examples *e = &s->ex;
    char layout[96];
    int pre = lp_sft_batcher_prefix(s->train);
    if (!s->packed)
        snprintf(layout, sizeof layout, "padded");
    else if (pre > 0)
        snprintf(layout, sizeof layout, "packed behind a shared %d-token prompt prefix", pre);
    else
        snprintf(layout, sizeof layout, "packed");
    /* epochs the budget covers, from the exact count of one epoch's micro-batches */
    uint64_t per_epoch = lp_sft_batcher_count(s->train, 1.0);
    double epochs = per_epoch ? (double)o.max_steps * s->n_micro / (double)per_epoch : 0.0;
    lp_stage_logf(h, LP_LOG_INFO,
                  "%zu training records (%lld response tokens), %zu held out; %lld steps of %d x %d x %d "
                  "micro-batches, %s, %.2f epochs; %zu parameters, %d threads, %s",
                  e->n_train, (long long)e->target_tokens, e->n_val, (long long)o.max_steps, s->B, s->T,
                  s->n_micro, layout, epochs, lp_model_numel(s->m), lpk_ctx_threads(s->ctx), s->p.precision);
    if (s->tasks && s->p.eval_at_start && lp_trainer_steps_done(s->tr) == 0 &&
        exact_match(s, s->m, 0, err, n))
        return -1;
    double t0 = lp_mono_s();
    int64_t tok0 = lp_trainer_tokens_seen(s->tr);
    if (lp_stage_trainer_run(s->tr, err, n)) return -1;
    double secs = lp_mono_s() - t0;
    double tps = secs > 0 ? (double)(lp_trainer_tokens_seen(s->tr) - tok0) / secs : 0;
    final_report(s, secs, tps);
    return lp_stage_publish_model(h, s->m, LP_EXPORT_LM, s->eot, s->tok_json, err, n);
}

static void destroy(void *state) {
    sft *s = state;
    if (!s) return;
    lp_trainer_destroy(s->tr);
    lp_sft_batcher_destroy(s->train);
    lp_sft_batcher_destroy(s->val);
    lp_dataset_destroy(s->tasks);
    sft_examples_free(&s->ex);
    lp_model_destroy(s->m);
    lpk_ctx_destroy(s->ctx);
    lp_tokenizer_destroy(s->tok);
    free(s->ids);
    free(s->targets);
    free(s->seg);
    free(s->rows_T);
    free(s->tok_n);
    free(s);
}

LP_PLUGIN_EXPORT const lp_stage_desc *lp_plugin_entry(void) {
    static lp_stage_desc d = {
        LP_STAGE_DESC_INIT,
        .name = "sft",
        .version = "0.1.0",
        .description =
            "supervised fine-tuning on Alpaca records: response-only loss, isolated packing, "
            "exact match per task family, exact resume",
        .create = create,
        .run = run,
        .request_stop = NULL,
        .destroy = destroy,
        .flags = LP_STAGE_RESUMABLE,
    };
    size_t count;
    d.params = sft_param_specs(&count);
    d.param_count = (uint32_t)count;
    return &d;
}
