/* The pretrain stage: trains a GPT from scratch (or continues from a model
 * folder given as input) on token shards, through the SDK trainer. Inputs
 * are recognised by content: a folder with train.bin is data (tokenize
 * stage), a folder with model.safetensors is a starting model. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "llmpipe/ckpt.h"
#include "llmpipe/data.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/plugin.h"
#include "llmpipe/sampler.h"
#include "llmpipe/tokenizer.h"
#include "llmpipe/train.h"
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
    char data_dir[4096], init_dir[4096], tok_path[4096], tok_json[4200];
    int eot;
} pretrain;

static int exists(const char *dir, const char *file) {
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return stat(p, &st) == 0;
}

static void logf_(pretrain *s, lp_log_level lv, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void logf_(pretrain *s, lp_log_level lv, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->h->log(s->h->host, lv, msg);
}

/* ---- trainer hooks ------------------------------------------------------ */

static int micro(void *user, lp_model *m, int k, int n_micro, double *loss, int64_t *tokens, char *err, size_t errsz) {
    pretrain *s = user;
    const int B = (int)s->p.batch_size, T = (int)s->p.seq_len;
    if (k == 0 && s->p.debug_step_sleep_ms > 0) {
        struct timespec ts = {s->p.debug_step_sleep_ms / 1000, (s->p.debug_step_sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    lp_loader_next(s->train, s->x, s->y);
    if (lp_model_forward(m, s->x, B, T) || lp_model_lm_loss(m, s->y, NULL, (double)B * T * n_micro, NULL, loss) ||
        lp_model_backward(m)) {
        snprintf(err, errsz, "pretrain: %s", lp_model_error(m));
        return -1;
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
            snprintf(err, errsz, "pretrain validation: %s", lp_model_error(m));
            return -1;
        }
        sum += l;
    }
    *val_loss = sum / (double)s->p.eval_batches;
    return 0;
}

static int sample(void *user, lp_model *m, int64_t step, char *err, size_t errsz) {
    pretrain *s = user;
    const int n_ctx = lp_model_get_config(m)->n_ctx;
    for (size_t i = 0; i < s->p.n_prompts; i++) {
        lp_ids ids = {0};
        if (s->eot >= 0) lp_ids_push(&ids, s->eot); /* a document start, as in training */
        if (lp_tokenizer_encode(s->tok, s->p.prompts[i], strlen(s->p.prompts[i]), 0, &ids, err, errsz)) {
            lp_ids_free(&ids);
            return -1;
        }
        int max_new = (int)s->p.sample_tokens;
        if ((int)ids.n + max_new > n_ctx) max_new = n_ctx - (int)ids.n;
        if (max_new < 1) { lp_ids_free(&ids); continue; }
        int32_t len = (int32_t)ids.n, out_len = 0;
        int32_t *out = malloc((size_t)max_new * sizeof *out);
        int32_t stop = s->eot;
        lp_generate_opts go = {.sampling = {(float)s->p.temperature, (int)s->p.top_k, 0},
                               .seed = s->h->seed(s->h->host) ^ (uint64_t)step * 0x9E3779B97F4A7C15ull,
                               .max_new = max_new, .stop = s->eot >= 0 ? &stop : NULL, .n_stop = s->eot >= 0};
        if (!out || lp_generate(m, ids.v, &len, 1, len, &go, out, &out_len)) {
            free(out);
            lp_ids_free(&ids);
            snprintf(err, errsz, "pretrain sample: generation failed: %s", lp_model_error(m));
            return -1;
        }
        char *text = NULL;
        size_t tl;
        if (lp_tokenizer_decode(s->tok, out, (size_t)out_len, 1, &text, &tl, err, errsz)) {
            free(out);
            lp_ids_free(&ids);
            return -1;
        }
        char *clean = lp_utf8_sanitize(text, tl);
        char *msg = clean ? malloc(strlen(s->p.prompts[i]) + strlen(clean) + 64) : NULL;
        if (msg) {
            sprintf(msg, "step %lld: %s%s", (long long)step, s->p.prompts[i], clean);
            s->h->emit_text(s->h->host, "sample", msg);
            s->h->log(s->h->host, LP_LOG_INFO, msg);
        }
        free(msg);
        free(clean);
        free(text);
        free(out);
        lp_ids_free(&ids);
    }
    return 0;
}

static int save(void *user, lp_state_writer *w, const char *dir, char *err, size_t errsz) {
    (void)dir;
    pretrain *s = user;
    uint8_t st[LP_LOADER_STATE_SIZE];
    if (lp_loader_state_save(s->train, st)) {
        snprintf(err, errsz, "pretrain: cannot save the loader position");
        return -1;
    }
    return lp_state_put(w, "loader.train", st, sizeof st);
}

static int load(void *user, const lp_state *st, const char *dir, char *err, size_t errsz) {
    (void)dir;
    pretrain *s = user;
    size_t n;
    const void *d = lp_state_get(st, "loader.train", &n);
    if (!d) { snprintf(err, errsz, "%s: trainer state has no loader position", dir); return -1; }
    return lp_loader_state_restore(s->train, d, n, err, errsz);
}

/* ---- lifecycle ---------------------------------------------------------- */

static int create(const lp_host_services *h, void **state, char *err, size_t n) {
    pretrain *s = calloc(1, sizeof *s);
    if (!s) { snprintf(err, n, "pretrain: out of memory"); return -1; }
    s->h = h;
    if (pt_params_read(h, &s->p, err, n)) { free(s); return -1; }
    *state = s;
    return 0;
}

static int find_inputs(pretrain *s, char *err, size_t n) {
    const lp_host_services *h = s->h;
    for (size_t i = 0; i < h->input_count(h->host); i++) {
        const char *name = h->input_name(h->host, i), *dir;
        if (h->artifact_get(h->host, name, &dir)) {
            snprintf(err, n, "pretrain: input '%s': %s", name, h->last_error(h->host));
            return -1;
        }
        if (exists(dir, "train.bin")) snprintf(s->data_dir, sizeof s->data_dir, "%s", dir);
        else if (exists(dir, "model.safetensors")) snprintf(s->init_dir, sizeof s->init_dir, "%s", dir);
        else {
            snprintf(err, n, "pretrain: input '%s' (%s) holds neither train.bin (data) nor model.safetensors (a model)",
                     name, dir);
            return -1;
        }
    }
    if (!s->data_dir[0]) snprintf(s->data_dir, sizeof s->data_dir, "%s", s->p.data_dir);
    if (!s->data_dir[0] || !exists(s->data_dir, "train.bin")) {
        snprintf(err, n, "pretrain: no training data: give an input artifact with train.bin or set data_dir (got \"%s\")",
                 s->data_dir);
        return -1;
    }
    if (s->p.tokenizer[0]) snprintf(s->tok_path, sizeof s->tok_path, "%s", s->p.tokenizer);
    else if (exists(s->data_dir, "tokenizer.json")) snprintf(s->tok_path, sizeof s->tok_path, "%s/tokenizer.json", s->data_dir);
    else if (s->init_dir[0] && (exists(s->init_dir, "tokenizer.json") || exists(s->init_dir, "vocab.json")))
        snprintf(s->tok_path, sizeof s->tok_path, "%s", s->init_dir); /* tokenizer.json or GPT-2 vocab + merges */
    else {
        snprintf(err, n, "pretrain: no tokenizer.json in %s and parameter tokenizer is empty", s->data_dir);
        return -1;
    }
    return 0;
}

static int build(pretrain *s, char *err, size_t n) {
    const pt_params *p = &s->p;
    const lp_host_services *h = s->h;
    if (lp_tokenizer_open(&s->tok, s->tok_path, err, n)) return -1;
    s->eot = lp_tokenizer_eot(s->tok);
    /* checkpoints carry a tokenizer.json whatever form the input had */
    snprintf(s->tok_json, sizeof s->tok_json, "%s/tokenizer.json", h->work_dir(h->host));
    if (lp_mkdir_p(h->work_dir(h->host), err, n) || lp_tokenizer_save(s->tok, s->tok_json, err, n)) return -1;
    lp_model_config cfg = {(int)p->n_layer, (int)p->n_head, (int)p->n_embd,
                           (int)(p->vocab_size ? p->vocab_size : lp_tokenizer_vocab_size(s->tok)), (int)p->n_ctx, 0, 0};
    if (s->init_dir[0]) {
        if (lp_model_folder_config(s->init_dir, &cfg, err, n)) return -1;
        if (p->seq_len > cfg.n_ctx) {
            snprintf(err, n, "pretrain: seq_len %lld exceeds the input model's n_ctx %d", (long long)p->seq_len, cfg.n_ctx);
            return -1;
        }
        logf_(s, LP_LOG_INFO, "continuing from %s (n_layer=%d n_head=%d n_embd=%d vocab=%d n_ctx=%d); the model "
              "parameters of the config are ignored", s->init_dir, cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.vocab_size,
              cfg.n_ctx);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/train.bin", s->data_dir);
    const char *tp = path;
    lp_shard *sh;
    if (lp_shard_open(&sh, path, err, n)) return -1;
    int shard_vocab = lp_shard_vocab_size(sh);
    lp_shard_close(sh);
    if (shard_vocab > cfg.vocab_size) {
        snprintf(err, n, "pretrain: %s was tokenized with a vocabulary of %d, the model has %d", path, shard_vocab,
                 cfg.vocab_size);
        return -1;
    }
    const int B = (int)p->batch_size, T = (int)p->seq_len;
    uint64_t seed = h->seed(h->host);
    if (lp_loader_create(&s->train, &tp, 1, B, T, seed, 1, err, n)) return -1;
    snprintf(path, sizeof path, "%s/val.bin", s->data_dir);
    if (p->eval_every > 0) {
        if (!exists(s->data_dir, "val.bin") || lp_loader_create(&s->val, &tp, 1, B, T, seed, 0, err, n)) {
            snprintf(err, n, "pretrain: eval_every is set but %s/val.bin is missing or too short", s->data_dir);
            return -1;
        }
        lp_loader_state_save(s->val, s->val_start);
    }
    lpk_ctx_opts ko = {.backend = "cpu", .num_threads = h->threads(h->host),
                       .precision = strcmp(p->precision, "bf16") ? LPK_PREC_FP32 : LPK_PREC_BF16};
    s->ctx = lpk_ctx_create(&ko, err, n);
    if (!s->ctx) return -1;
    s->m = lp_model_create(&cfg, s->ctx, err, n);
    if (!s->m) return -1;
    if (s->init_dir[0]) {
        if (lp_model_import(s->m, s->init_dir, err, n)) return -1;
    } else {
        lp_model_init_gpt2(s->m, seed);
    }
    s->x = malloc((size_t)B * T * sizeof *s->x);
    s->y = malloc((size_t)B * T * sizeof *s->y);
    if (!s->x || !s->y) { snprintf(err, n, "pretrain: out of memory"); return -1; }
    return 0;
}

static int run(void *state, char *err, size_t n) {
    pretrain *s = state;
    const lp_host_services *h = s->h;
    const pt_params *p = &s->p;
    if (find_inputs(s, err, n) || build(s, err, n)) return -1;
    const lp_model_config *cfg = lp_model_get_config(s->m);
    int64_t micro_steps = p->tokens_per_step / (p->batch_size * p->seq_len);
    int64_t max_steps = p->max_steps ? p->max_steps : (p->max_tokens + p->tokens_per_step - 1) / p->tokens_per_step;
    char ckdir[4200];
    snprintf(ckdir, sizeof ckdir, "%s/ckpt", h->work_dir(h->host));
    double peak = p->peak_gflops > 0 ? p->peak_gflops * 1e9 : 204.8e9 * lpk_ctx_threads(s->ctx);
    lp_trainer_opts o = {
        .lr = {p->lr, p->min_lr, p->warmup_steps, max_steps},
        .adamw = {0, (float)p->beta1, (float)p->beta2, 1e-8f, (float)p->weight_decay},
        .micro_steps = (int)micro_steps, .clip = p->grad_clip, .max_steps = max_steps,
        .eval_every = p->eval_every, .sample_every = p->sample_every, .ckpt_every = p->ckpt_every,
        .keep_last = (int)p->keep_last, .max_bad_steps = (int)p->max_bad_steps, .ckpt_dir = ckdir,
        .eot = s->eot, .tokenizer_json = s->tok_json,
        .flops_per_token = lp_gpt_flops_per_token(cfg, (int)p->seq_len), .peak_flops = peak,
        .seed = h->seed(h->host)};
    lp_train_hooks hooks = {s, micro, p->eval_every ? evaluate : NULL, p->n_prompts ? sample : NULL, save, load};
    s->tr = lp_trainer_create(s->m, &o, &hooks, h, err, n);
    if (!s->tr) return -1;
    if (h->resuming(h->host)) {
        int r = lp_trainer_resume(s->tr, err, n);
        if (r < 0) return -1;
        if (r == 0) logf_(s, LP_LOG_INFO, "resume: no in-stage checkpoint yet, starting from step 0");
    } else {
        lp_ckpt_clear(ckdir);
    }
    logf_(s, LP_LOG_INFO, "model: %zu parameters, %d layers, width %d, vocab %d; %lld steps of %lld tokens "
          "(%lld x %lld x %lld micro-batches), %d threads, %s",
          lp_model_numel(s->m), cfg->n_layer, cfg->n_embd, cfg->vocab_size, (long long)max_steps,
          (long long)p->tokens_per_step, (long long)p->batch_size, (long long)p->seq_len, (long long)micro_steps,
          lpk_ctx_threads(s->ctx), p->precision);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t tok0 = lp_trainer_tokens_seen(s->tr);
    int rc = lp_trainer_run(s->tr, err, n);
    if (rc < 0) return -1;
    if (rc > 0) {
        /* not done: no output, so the host keeps the stage resumable */
        snprintf(err, n, "stopped on request at step %lld of %lld (checkpoint %s); `llmpipe run --resume` continues",
                 (long long)lp_trainer_steps_done(s->tr), (long long)max_steps, lp_trainer_last_checkpoint(s->tr));
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    double tps = secs > 0 ? (double)(lp_trainer_tokens_seen(s->tr) - tok0) / secs : 0;
    if (s->p.n_prompts && (p->sample_every == 0 || lp_trainer_steps_done(s->tr) % p->sample_every))
        if (sample(s, s->m, lp_trainer_steps_done(s->tr), err, n)) return -1;
    logf_(s, LP_LOG_INFO, "done: %lld steps, %.1f s, %.0f tokens/s, final validation loss %.4f, %lld skipped steps",
          (long long)lp_trainer_steps_done(s->tr), secs, tps, lp_trainer_last_val_loss(s->tr),
          (long long)lp_trainer_skipped_total(s->tr));
    lp_metric fm[3] = {{"final_val_loss", lp_trainer_last_val_loss(s->tr)}, {"train_seconds", secs},
                       {"train_tokens_per_s", tps}};
    h->emit_metrics(h->host, lp_trainer_steps_done(s->tr), fm, 3);
    if (h->output_name(h->host)) {
        char out[4200];
        snprintf(out, sizeof out, "%s/output", h->work_dir(h->host));
        if (lp_mkdir_p(out, err, n) || lp_model_export(s->m, out, s->eot, s->tok_json, err, n)) return -1;
        if (h->artifact_put(h->host, out)) {
            snprintf(err, n, "pretrain: output: %s", h->last_error(h->host));
            return -1;
        }
    }
    return 0;
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

static const lp_stage_desc desc = {
    LP_STAGE_DESC_INIT,
    .name = "pretrain",
    .version = "0.1.0",
    .description = "GPT pretraining on token shards: AdamW, warmup+cosine, accumulation, clipping, exact resume",
    .params = pt_param_specs,
    .param_count = 0, /* set below: the array size lives in params.c */
    .create = create,
    .run = run,
    .request_stop = NULL, /* the trainer polls host->cancelled() */
    .destroy = destroy,
    .flags = LP_STAGE_RESUMABLE,
};

LP_PLUGIN_EXPORT const lp_stage_desc *lp_plugin_entry(void) {
    static lp_stage_desc d;
    d = desc;
    d.param_count = (uint32_t)pt_param_count;
    return &d;
}
