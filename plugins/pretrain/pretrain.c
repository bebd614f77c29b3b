/* The pretrain stage: trains a GPT from scratch (or continues from a model
 * folder given as input) on token shards, through the SDK trainer and the
 * stage helpers (llmpipe/stage.h). Inputs are recognised by content: a data
 * folder (train.bin, from the tokenize stage) and optionally a starting
 * model folder. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "llmpipe/clock.h"
#include "llmpipe/data.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/tokenizer.h"
#include "params.h"

typedef struct pretrain {
    const lp_host_services *h;
    pt_params p;
    lpk_ctx *ctx;
    lp_model *m;
    lp_tokenizer *tok;
    lp_loader *train, *val;
    uint8_t val_start[LP_LOADER_STATE_SIZE];
    lp_trainer *tr;
    int32_t *x, *y;
    lp_stage_inputs in;
    char tok_path[4096], tok_json[4200], ckdir[4200];
    int eot;
} pretrain;

/* ---- trainer hooks ------------------------------------------------------ */

static int micro(void *user, lp_model *m, int k, int n_micro, double *loss, int64_t *tokens, char *err,
                 size_t errsz) {
    pretrain *s = user;
    const int B = (int)s->p.batch_size, T = (int)s->p.seq_len;
    if (k == 0 && s->p.debug_step_sleep_ms > 0) {
        struct timespec ts = {s->p.debug_step_sleep_ms / 1000, (s->p.debug_step_sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    lp_loader_next(s->train, s->x, s->y);
    if (lp_model_forward(m, s->x, B, T) ||
        lp_model_lm_loss(m, s->y, NULL, (double)B * T * n_micro, NULL, loss) || lp_model_backward(m)) {
        return lp_errf(err, errsz, "pretrain: %s", lp_model_error(m));
    }
    if (s->p.debug_nan_step > 0 && lp_trainer_steps_done(s->tr) + 1 == s->p.debug_nan_step) *loss = NAN;
    *tokens = (int64_t)B * T;
    return 0;
}

static int evaluate(void *user, lp_model *m, double *val_loss, char *err, size_t errsz) {
    pretrain *s = user;
    const int B = (int)s->p.batch_size, T = (int)s->p.seq_len;
    /* the same windows every time, so validation losses compare */
    if (lp_loader_state_restore(s->val, s->val_start, sizeof s->val_start, err, errsz)) return -1;
    double sum = 0;
    for (int64_t i = 0; i < s->p.eval_batches; i++) {
        double l;
        lp_loader_next(s->val, s->x, s->y);
        if (lp_model_forward(m, s->x, B, T) || lp_model_lm_loss(m, s->y, NULL, 0, NULL, &l)) {
            return lp_errf(err, errsz, "pretrain validation: %s", lp_model_error(m));
        }
        sum += l;
    }
    *val_loss = sum / (double)s->p.eval_batches;
    return 0;
}

static int sample(void *user, lp_model *m, int64_t step, char *err, size_t errsz) {
    pretrain *s = user;
    lp_stage_sample_opts o = {
        s->p.prompts,    s->p.n_prompts, (int)s->p.sample_tokens, (float)s->p.temperature,
        (int)s->p.top_k, s->eot};
    return lp_stage_emit_samples(s->h, m, s->tok, &o, step, err, errsz);
}

static int save(void *user, lp_state_writer *w, const char *dir, char *err, size_t errsz) {
    (void)dir;
    pretrain *s = user;
    uint8_t st[LP_LOADER_STATE_SIZE];
    if (lp_loader_state_save(s->train, st))
        return lp_errf(err, errsz, "pretrain: cannot save the loader position");
    return lp_state_put(w, "loader.train", st, sizeof st);
}

static int load(void *user, const lp_state *st, const char *dir, char *err, size_t errsz) {
    (void)dir;
    pretrain *s = user;
    size_t n;
    const void *d = lp_state_get(st, "loader.train", &n);
    if (!d) return lp_errf(err, errsz, "%s: trainer state has no loader position", dir);
    return lp_loader_state_restore(s->train, d, n, err, errsz);
}

/* ---- lifecycle ---------------------------------------------------------- */

static int create(const lp_host_services *h, void **state, char *err, size_t n) {
    pretrain *s = calloc(1, sizeof *s);
    if (!s) return lp_errf(err, n, "pretrain: out of memory");
    s->h = h;
    if (pt_params_read(h, &s->p, err, n)) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int find_inputs(pretrain *s, char *err, size_t n) {
    lp_stage_inputs *in = &s->in;
    if (lp_stage_find_inputs(s->h, 0, LP_INPUT_DATA | LP_INPUT_MODEL, in, err, n)) return -1;
    if (!in->data[0]) snprintf(in->data, sizeof in->data, "%s", s->p.data_dir);
    if (!in->data[0] || lp_stage_classify(in->data) != LP_INPUT_DATA)
        return lp_errf(
            err, n,
            "pretrain: no training data: give an input artifact with train.bin or set data_dir (got \"%s\")",
            in->data);
    const char *dirs[] = {in->data, in->model};
    return lp_stage_find_tokenizer(s->h, s->p.tokenizer, dirs, 2, s->tok_path, sizeof s->tok_path, err, n);
}

/* The tokenizer, the model config (the input model's when there is one),
 * the data loaders, the kernel context and the model. */
static int build(pretrain *s, char *err, size_t n) {
    const pt_params *p = &s->p;
    const lp_host_services *h = s->h;
    const char *init = s->in.model, *data = s->in.data;
    if (lp_tokenizer_open(&s->tok, s->tok_path, err, n)) return -1;
    s->eot = lp_tokenizer_eot(s->tok);
    /* checkpoints carry a tokenizer.json whatever form the input had */
    snprintf(s->tok_json, sizeof s->tok_json, "%s/tokenizer.json", h->work_dir(h->host));
    if (lp_mkdir_p(h->work_dir(h->host), err, n) || lp_tokenizer_save(s->tok, s->tok_json, err, n)) return -1;
    lp_model_config cfg = {(int)p->n_layer,
                           (int)p->n_head,
                           (int)p->n_embd,
                           (int)(p->vocab_size ? p->vocab_size : lp_tokenizer_vocab_size(s->tok)),
                           (int)p->n_ctx,
                           0,
                           0};
    if (init[0]) {
        if (lp_model_folder_config(init, &cfg, err, n)) return -1;
        if (p->seq_len > cfg.n_ctx)
            return lp_errf(err, n, "pretrain: seq_len %lld exceeds the input model's n_ctx %d",
                           (long long)p->seq_len, cfg.n_ctx);
        lp_stage_logf(h, LP_LOG_INFO,
                      "continuing from %s (n_layer=%d n_head=%d n_embd=%d vocab=%d n_ctx=%d); the model "
                      "parameters of the config are ignored",
                      init, cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.vocab_size, cfg.n_ctx);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/train.bin", data);
    const char *tp = path;
    lp_shard *sh;
    if (lp_shard_open(&sh, path, err, n)) return -1;
    int shard_vocab = lp_shard_vocab_size(sh);
    lp_shard_close(sh);
    if (shard_vocab > cfg.vocab_size)
        return lp_errf(err, n, "pretrain: %s was tokenized with a vocabulary of %d, the model has %d", path,
                       shard_vocab, cfg.vocab_size);
    const int B = (int)p->batch_size, T = (int)p->seq_len;
    uint64_t seed = h->seed(h->host);
    if (lp_loader_create(&s->train, &tp, 1, B, T, seed, 1, err, n)) return -1;
    snprintf(path, sizeof path, "%s/val.bin", data);
    if (p->o.eval_every > 0) {
        if (access(path, R_OK) || lp_loader_create(&s->val, &tp, 1, B, T, seed, 0, err, n))
            return lp_errf(err, n, "pretrain: eval_every is set but %s/val.bin is missing or too short",
                           data);
        lp_loader_state_save(s->val, s->val_start);
    }
    if (!(s->ctx = lp_stage_kernel_ctx(h, p->precision, err, n)) ||
        !(s->m = lp_model_create(&cfg, s->ctx, err, n)))
        return -1;
    if (init[0] && lp_model_import(s->m, init, err, n)) return -1;
    if (!init[0] && lp_model_init_gpt2(s->m, seed))
        return lp_errf(err, n, "pretrain: %s", lp_model_error(s->m));
    s->x = malloc((size_t)B * T * sizeof *s->x);
    s->y = malloc((size_t)B * T * sizeof *s->y);
    if (!s->x || !s->y) return lp_errf(err, n, "pretrain: out of memory");
    return 0;
}

static int run(void *state, char *err, size_t n) {
    pretrain *s = state;
    const lp_host_services *h = s->h;
    const pt_params *p = &s->p;
    if (find_inputs(s, err, n) || build(s, err, n)) return -1;
    const lp_model_config *cfg = lp_model_get_config(s->m);
    lp_stage_ckpt_dir(h, s->ckdir, sizeof s->ckdir);
    lp_trainer_opts o = p->o;
    o.ckpt_dir = s->ckdir;
    o.eot = s->eot;
    o.tokenizer_json = s->tok_json;
    o.flops_per_token = lp_gpt_flops_per_token(cfg, (int)p->seq_len);
    o.peak_flops = p->peak_gflops > 0 ? p->peak_gflops * 1e9 : 204.8e9 * lpk_ctx_threads(s->ctx);
    lp_train_hooks hooks = {s,    micro, o.eval_every ? evaluate : NULL, p->n_prompts ? sample : NULL,
                            save, load};
    if (!(s->tr = lp_trainer_create(s->m, &o, &hooks, h, err, n)) ||
        lp_stage_trainer_start(h, s->tr, s->ckdir, err, n))
        return -1;
    lp_stage_logf(h, LP_LOG_INFO,
                  "model: %zu parameters, %d layers, width %d, vocab %d; %lld steps of %lld tokens "
                  "(%lld x %lld x %d micro-batches), %d threads, %s",
                  lp_model_numel(s->m), cfg->n_layer, cfg->n_embd, cfg->vocab_size, (long long)o.max_steps,
                  (long long)p->tokens_per_step, (long long)p->batch_size, (long long)p->seq_len,
                  o.micro_steps, lpk_ctx_threads(s->ctx), p->precision);
    double t0 = lp_mono_s();
    int64_t tok0 = lp_trainer_tokens_seen(s->tr), steps;
    if (lp_stage_trainer_run(s->tr, err, n)) return -1;
    double secs = lp_mono_s() - t0;
    double tps = secs > 0 ? (double)(lp_trainer_tokens_seen(s->tr) - tok0) / secs : 0;
    steps = lp_trainer_steps_done(s->tr);
    if (p->n_prompts && (p->sample_every == 0 || steps % p->sample_every) && sample(s, s->m, steps, err, n))
        return -1;
    lp_stage_logf(h, LP_LOG_INFO,
                  "done: %lld steps, %.1f s, %.0f tokens/s, final validation loss %.4f, %lld skipped steps",
                  (long long)steps, secs, tps, lp_trainer_last_val_loss(s->tr),
                  (long long)lp_trainer_skipped_total(s->tr));
    lp_metric fm[3] = {{"final_val_loss", lp_trainer_last_val_loss(s->tr)},
                       {"train_seconds", secs},
                       {"train_tokens_per_s", tps}};
    h->emit_metrics(h->host, steps, fm, 3);
    return lp_stage_publish_model(h, s->m, LP_EXPORT_LM, s->eot, s->tok_json, err, n);
}

static void destroy(void *state) {
    pretrain *s = state;
    if (!s) return;
    lp_trainer_destroy(s->tr);
    lp_loader_destroy(s->train);
    lp_loader_destroy(s->val);
    lp_model_destroy(s->m);
    lpk_ctx_destroy(s->ctx);
    lp_tokenizer_destroy(s->tok);
    free(s->x);
    free(s->y);
    free(s);
}

LP_PLUGIN_EXPORT const lp_stage_desc *lp_plugin_entry(void) {
    static lp_stage_desc d = {
        LP_STAGE_DESC_INIT,
        .name = "pretrain",
        .version = "0.1.0",
        .description =
            "GPT pretraining on token shards: AdamW, warmup+cosine, accumulation, clipping, exact resume",
        .create = create,
        .run = run,
        .request_stop = NULL, /* the trainer polls host->cancelled() */
        .destroy = destroy,
        .flags = LP_STAGE_RESUMABLE,
    };
    size_t count;
    d.params = pt_param_specs(&count);
    d.param_count = (uint32_t)count;
    return &d;
}
