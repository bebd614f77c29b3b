/* Runs the pretrain stage in this process through a fake host-services
 * table: a fresh run, then a resumed one with a larger budget, then refusals
 * of bad parameters. In-process, so --config=asan leak-checks the stage code
 * (the host-run tests cannot: see lib.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpipe/data.h"
#include "llmpipe/plugin.h"
#include "llmpipe/tokenizer.h"
#include "tests/ckpt/check.h"

const lp_stage_desc *lp_plugin_entry(void);

typedef struct kv { const char *key; int type; int64_t i; double f; const char *s; } kv;

struct lp_host {
    kv *params;
    size_t n;
    char work[4096];
    int resuming;
    int put_called, samples, metrics;
    char err[512];
};

static kv *find(lp_host *h, const char *k) {
    for (size_t i = 0; i < h->n; i++)
        if (!strcmp(h->params[i].key, k)) return &h->params[i];
    return NULL;
}
static int p_int(lp_host *h, const char *k, int64_t *o) {
    kv *v = find(h, k);
    if (!v || v->type != LP_PARAM_INT) { snprintf(h->err, sizeof h->err, "no int %s", k); return LP_ERR_NOTFOUND; }
    *o = v->i;
    return 0;
}
static int p_float(lp_host *h, const char *k, double *o) {
    kv *v = find(h, k);
    if (!v || v->type != LP_PARAM_FLOAT) { snprintf(h->err, sizeof h->err, "no float %s", k); return LP_ERR_NOTFOUND; }
    *o = v->f;
    return 0;
}
static int p_bool(lp_host *h, const char *k, int *o) { (void)h; (void)k; *o = 0; return 0; }
static int p_str(lp_host *h, const char *k, const char **o) {
    kv *v = find(h, k);
    if (!v || v->type != LP_PARAM_STRING) { snprintf(h->err, sizeof h->err, "no string %s", k); return LP_ERR_NOTFOUND; }
    *o = v->s;
    return 0;
}
static const char *prompts[] = {"The ", "小"};
static int p_lsize(lp_host *h, const char *k, size_t *o) { (void)h; (void)k; *o = 2; return 0; }
static int p_lstr(lp_host *h, const char *k, size_t i, const char **o) { (void)h; (void)k; *o = prompts[i]; return 0; }
static const char *s_name(lp_host *h) { (void)h; return "pretrain"; }
static const char *s_dev(lp_host *h) { (void)h; return "cpu"; }
static int threads(lp_host *h) { (void)h; return 1; }
static uint64_t seed(lp_host *h) { (void)h; return 11; }
static int resuming(lp_host *h) { return h->resuming; }
static const char *work_dir(lp_host *h) { return h->work; }
static void logm(lp_host *h, lp_log_level l, const char *m) { (void)h; (void)l; fprintf(stderr, "  [stage] %s\n", m); }
static int metrics(lp_host *h, int64_t s, const lp_metric *m, size_t n) { (void)s; (void)m; (void)n; h->metrics++; return 0; }
static int event(lp_host *h, const char *k, const char *m) { (void)h; (void)k; (void)m; return 0; }
static int text(lp_host *h, const char *l, const char *t) { (void)t; if (!strcmp(l, "sample")) h->samples++; return 0; }
static size_t in_count(lp_host *h) { (void)h; return 0; }
static const char *in_name(lp_host *h, size_t i) { (void)h; (void)i; return NULL; }
static const char *out_name(lp_host *h) { (void)h; return "base"; }
static int get(lp_host *h, const char *n, const char **p) { (void)h; (void)n; (void)p; return LP_ERR_NOTFOUND; }
static int put(lp_host *h, const char *dir) {
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    h->put_called = stat(p, &st) == 0;
    return 0;
}
static void progress(lp_host *h, int64_t d, int64_t t) { (void)h; (void)d; (void)t; }
static int cancelled(lp_host *h) { (void)h; return 0; }
static const char *last_error(lp_host *h) { return h->err; }

static int run_stage(lp_host *host, char *err, size_t n) {
    lp_host_services hs = {sizeof hs, LP_ABI_MAJOR, LP_ABI_MINOR, host, s_name, s_name, s_dev, threads, seed,
                           resuming, work_dir, logm, metrics, event, text, p_int, p_float, p_bool, p_str,
                           p_lsize, p_lstr, in_count, in_name, out_name, get, put, progress, cancelled, last_error};
    const lp_stage_desc *d = lp_plugin_entry();
    void *state = NULL;
    if (d->create(&hs, &state, err, n)) return -1;
    int rc = d->run(state, err, n);
    d->destroy(state);
    return rc;
}

int main(void) {
    char tmp[4096], err[1024], path[4300], data[4300];
    snprintf(tmp, sizeof tmp, "%s/inXXXXXX", getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) return 2;
    /* a corpus, a tokenizer and shards */
    snprintf(path, sizeof path, "%s/corpus.txt", tmp);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 200; i++)
        fprintf(f, "The cat %d sat on the mat.\n小猫 %d 坐在垫子上。\n%%\n", i, i * 3 % 17);
    fclose(f);
    snprintf(data, sizeof data, "%s/data", tmp);
    mkdir(data, 0755);
    lp_tokenizer *t;
    const char *files[] = {path};
    lp_tok_train_opts to = {.vocab_size = 300, .min_frequency = 2};
    CHECK(lp_tokenizer_train(&t, files, 1, &to, err, sizeof err) == 0, "%s", err);
    char tj[4400];
    snprintf(tj, sizeof tj, "%s/tokenizer.json", data);
    CHECK(lp_tokenizer_save(t, tj, err, sizeof err) == 0, "%s", err);
    lp_shard_build_opts so = {0.1, "%", 3};
    lp_shard_build_stats st;
    CHECK(lp_shard_build(t, files, 1, data, &so, &st, err, sizeof err) == 0, "%s", err);
    lp_tokenizer_destroy(t);

    kv params[] = {
        {"n_layer", LP_PARAM_INT, 1, 0, 0}, {"n_head", LP_PARAM_INT, 2, 0, 0}, {"n_embd", LP_PARAM_INT, 16, 0, 0},
        {"n_ctx", LP_PARAM_INT, 32, 0, 0}, {"vocab_size", LP_PARAM_INT, 0, 0, 0},
        {"batch_size", LP_PARAM_INT, 2, 0, 0}, {"seq_len", LP_PARAM_INT, 16, 0, 0},
        {"tokens_per_step", LP_PARAM_INT, 64, 0, 0}, {"max_steps", LP_PARAM_INT, 6, 0, 0},
        {"max_tokens", LP_PARAM_INT, 0, 0, 0}, {"warmup_steps", LP_PARAM_INT, 2, 0, 0},
        {"lr", LP_PARAM_FLOAT, 0, 3e-3, 0}, {"min_lr", LP_PARAM_FLOAT, 0, 3e-4, 0},
        {"weight_decay", LP_PARAM_FLOAT, 0, 0.1, 0}, {"beta1", LP_PARAM_FLOAT, 0, 0.9, 0},
        {"beta2", LP_PARAM_FLOAT, 0, 0.95, 0}, {"grad_clip", LP_PARAM_FLOAT, 0, 1.0, 0},
        {"eval_every", LP_PARAM_INT, 3, 0, 0}, {"eval_batches", LP_PARAM_INT, 2, 0, 0},
        {"sample_every", LP_PARAM_INT, 3, 0, 0}, {"sample_tokens", LP_PARAM_INT, 8, 0, 0},
        {"temperature", LP_PARAM_FLOAT, 0, 0.8, 0}, {"top_k", LP_PARAM_INT, 20, 0, 0},
        {"ckpt_every", LP_PARAM_INT, 2, 0, 0}, {"keep_last", LP_PARAM_INT, 2, 0, 0},
        {"max_bad_steps", LP_PARAM_INT, 3, 0, 0}, {"precision", LP_PARAM_STRING, 0, 0, "fp32"},
        {"peak_gflops", LP_PARAM_FLOAT, 0, 0, 0}, {"data_dir", LP_PARAM_STRING, 0, 0, data},
        {"tokenizer", LP_PARAM_STRING, 0, 0, ""}, {"debug_nan_step", LP_PARAM_INT, 0, 0, 0},
        {"debug_step_sleep_ms", LP_PARAM_INT, 0, 0, 0},
    };
    lp_host host = {.params = params, .n = sizeof params / sizeof params[0]};
    snprintf(host.work, sizeof host.work, "%s/work", tmp);
    mkdir(host.work, 0755);
    CHECK(run_stage(&host, err, sizeof err) == 0, "fresh run: %s", err);
    CHECK(host.put_called && host.samples == 4 && host.metrics >= 6, "output %d, samples %d, metrics %d",
          host.put_called, host.samples, host.metrics);
    snprintf(path, sizeof path, "%s/ckpt/step-00000006/trainer.state", host.work);
    CHECK(access(path, R_OK) == 0, "final in-stage checkpoint %s", path);

    /* resumed with a larger budget: continues from step 6 to 8 */
    find(&host, "max_steps")->i = 8;
    host.resuming = 1;
    host.put_called = 0;
    CHECK(run_stage(&host, err, sizeof err) == 0, "resumed run: %s", err);
    snprintf(path, sizeof path, "%s/ckpt/step-00000008", host.work);
    CHECK(host.put_called && access(path, R_OK) == 0, "resumed to step 8");

    /* bad parameters and inputs: clear refusals, nothing leaks */
    find(&host, "tokens_per_step")->i = 50;
    CHECK(run_stage(&host, err, sizeof err) == -1 && strstr(err, "multiple of batch_size * seq_len"), "%s", err);
    find(&host, "tokens_per_step")->i = 64;
    find(&host, "data_dir")->s = tmp;
    CHECK(run_stage(&host, err, sizeof err) == -1 && strstr(err, "no training data"), "%s", err);
    find(&host, "data_dir")->s = data;
    find(&host, "seq_len")->i = 64;
    CHECK(run_stage(&host, err, sizeof err) == -1 && strstr(err, "seq_len <= n_ctx"), "%s", err);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) fprintf(stderr, "cleanup failed\n");
    DONE();
}
