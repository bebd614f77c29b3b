/* The SDK trainer: schedule values, accumulation equals one big batch,
 * clipping happens before the update, non-finite steps are skipped and stop
 * the run after N in a row, and a checkpoint + resume continues bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpipe/error.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/train.h"
#include "tests/support/check.h"

enum { L = 1, C = 16, V = 32, NCTX = 8, T = 8, ROWS = 8 };

typedef struct data {
    int32_t tok[ROWS * (T + 1)];
    int B;                /* rows per micro-batch */
    int64_t cursor;       /* "loader" position: which batch comes next */
    lp_trainer *tr;       /* for its RNG */
    int nan_from, nan_to; /* steps (1-based) whose loss is NaN */
    int inf_grad_step;
    int64_t step_seen;
} data;

static void fill(data *d, uint64_t seed) {
    lp_rng r;
    lp_rng_seed(&r, seed);
    for (int i = 0; i < ROWS * (T + 1); i++) d->tok[i] = (int32_t)(lp_rng_u64(&r) % V);
}

static int micro(void *user, lp_model *m, int k, int n_micro, double *loss, int64_t *tokens, char *err,
                 size_t errsz) {
    data *d = user;
    int32_t x[ROWS * T], y[ROWS * T];
    int row0 = d->tr ? (int)((d->cursor * n_micro + k) * d->B % ROWS) : k * d->B;
    for (int b = 0; b < d->B; b++) {
        int r = (row0 + b) % ROWS;
        memcpy(x + b * T, d->tok + r * (T + 1), T * sizeof(int32_t));
        memcpy(y + b * T, d->tok + r * (T + 1) + 1, T * sizeof(int32_t));
    }
    if (k == n_micro - 1) d->cursor++;
    if (lp_model_forward(m, x, d->B, T) ||
        lp_model_lm_loss(m, y, NULL, (double)d->B * T * n_micro, NULL, loss) || lp_model_backward(m)) {
        snprintf(err, errsz, "%s", lp_model_error(m));
        return -1;
    }
    int64_t step = d->tr ? lp_trainer_steps_done(d->tr) + 1 : 0;
    if (step >= d->nan_from && step <= d->nan_to) *loss = NAN;
    if (d->inf_grad_step > 0 && step == d->inf_grad_step) { /* the gradient is device memory */
        const float inf = INFINITY;
        if (lpk_copy_in(lp_model_ctx(m), lp_model_param(m, 0)->grad, &inf, sizeof inf))
            return lp_errf(err, errsz, "%s", lpk_ctx_error(lp_model_ctx(m)));
    }
    *tokens = d->B * T;
    return 0;
}

static int save(void *user, lp_state_writer *w, const char *dir, char *err, size_t errsz) {
    (void)dir;
    (void)err;
    (void)errsz;
    return lp_state_put_i64(w, "test.cursor", ((data *)user)->cursor);
}

static int load(void *user, const lp_state *s, const char *dir, char *err, size_t errsz) {
    (void)dir;
    return lp_state_get_i64(s, "test.cursor", &((data *)user)->cursor, err, errsz);
}

static lpk_ctx *ctx;

static lp_model *model(uint64_t seed) {
    lp_model_config c = {L, 2, C, V, NCTX, 0, 0};
    char err[256];
    lp_model *m = lp_model_create(&c, ctx, err, sizeof err);
    lp_model_init_gpt2(m, seed);
    return m;
}

static lp_trainer_opts base_opts(void) {
    lp_trainer_opts o = {.lr = {1e-2, 1e-3, 2, 20},
                         .adamw = {0, 0.9f, 0.95f, 1e-8f, 0.1f},
                         .micro_steps = 1,
                         .clip = 0,
                         .max_steps = 6,
                         .max_bad_steps = 3,
                         .eot = -1,
                         .seed = 5};
    return o;
}

static double max_diff(lp_model *a, lp_model *b) {
    double d = 0;
    for (int i = 0; i < lp_model_num_params(a); i++) {
        size_t n = lp_model_param(a, i)->numel;
        float *p = malloc(n * sizeof *p), *q = malloc(n * sizeof *q);
        if (!p || !q || lp_model_param_read(a, i, p) || lp_model_param_read(b, i, q)) d = INFINITY;
        for (size_t k = 0; p && q && k < n; k++) d = fmax(d, fabs((double)p[k] - q[k]));
        free(p);
        free(q);
    }
    return d;
}

static void test_schedule(void) {
    lp_lr_schedule s = {1e-3, 1e-4, 10, 110};
    struct {
        int64_t step;
        double want;
    } v[] = {{0, 1e-4},
             {4, 5e-4},
             {9, 1e-3},
             {10, 1e-3},
             {35, 1e-4 + 0.45e-3 * (1 + cos(M_PI * 0.25))},
             {60, 5.5e-4},
             {85, 1e-4 + 0.45e-3 * (1 + cos(M_PI * 0.75))},
             {110, 1e-4},
             {500, 1e-4}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        CHECK(fabs(lp_lr_at(&s, v[i].step) - v[i].want) < 1e-15, "lr(%lld) = %.17g, want %.17g",
              (long long)v[i].step, lp_lr_at(&s, v[i].step), v[i].want);
    for (int64_t k = 11; k <= 110; k++)
        CHECK(lp_lr_at(&s, k) <= lp_lr_at(&s, k - 1), "cosine not monotone at %lld", (long long)k);
    lp_lr_schedule nw = {2e-3, 0, 0, 0};
    CHECK(lp_lr_at(&nw, 0) == 2e-3 && lp_lr_at(&nw, 99) == 2e-3, "no warmup, no decay");
}

static void test_accumulation(void) {
    char err[512];
    lp_model *a = model(1), *b = model(1);
    data da = {.B = 2, .nan_from = -1, .nan_to = -2}, db = {.B = 8, .nan_from = -1, .nan_to = -2};
    fill(&da, 9);
    fill(&db, 9);
    lp_trainer_opts oa = base_opts(), ob = base_opts();
    oa.micro_steps = 4;
    lp_train_hooks ha = {&da, micro, NULL, NULL, NULL, NULL}, hb = {&db, micro, NULL, NULL, NULL, NULL};
    lp_trainer *ta = lp_trainer_create(a, &oa, &ha, NULL, err, sizeof err);
    lp_trainer *tb = lp_trainer_create(b, &ob, &hb, NULL, err, sizeof err);
    for (int s = 0; s < 3; s++) {
        lp_step_result ra, rb;
        CHECK(lp_trainer_step(ta, &ra, err, sizeof err) == 0, "%s", err);
        CHECK(lp_trainer_step(tb, &rb, err, sizeof err) == 0, "%s", err);
        CHECK(fabs(ra.loss - rb.loss) < 1e-6 && fabs(ra.grad_norm - rb.grad_norm) < 1e-5 * rb.grad_norm,
              "step %d: 4 x 2 rows loss %.9g norm %.9g vs 8 rows %.9g %.9g", s, ra.loss, ra.grad_norm,
              rb.loss, rb.grad_norm);
        CHECK(ra.tokens == rb.tokens && ra.tokens == 8 * T, "tokens %lld %lld", (long long)ra.tokens,
              (long long)rb.tokens);
    }
    double d = max_diff(a, b);
    fprintf(stderr, "accumulation: max |weight difference| after 3 steps = %.3g\n", d);
    CHECK(d < 1e-5, "weights differ by %g", d);
    lp_trainer_destroy(ta);
    lp_trainer_destroy(tb);
    lp_model_destroy(a);
    lp_model_destroy(b);
}

static void test_clipping(void) {
    char err[512];
    lp_model *a = model(2);
    data d = {.B = 8, .nan_from = -1, .nan_to = -2};
    fill(&d, 3);
    lp_trainer_opts o = base_opts();
    o.clip = 0.05;
    lp_train_hooks h = {&d, micro, NULL, NULL, NULL, NULL};
    lp_trainer *t = lp_trainer_create(a, &o, &h, NULL, err, sizeof err);
    lp_step_result r;
    CHECK(lp_trainer_step(t, &r, err, sizeof err) == 0, "%s", err);
    double after = lp_model_grad_norm(a);
    fprintf(stderr, "clipping: norm %.6g before, %.6g after (limit 0.05)\n", r.grad_norm, after);
    CHECK(r.grad_norm > 0.05 && fabs(after - 0.05) < 1e-6, "norm before %g, after %g", r.grad_norm, after);
    lp_trainer_destroy(t);
    /* a limit above the norm leaves the gradient alone */
    o.clip = 1e6;
    t = lp_trainer_create(a, &o, &h, NULL, err, sizeof err);
    CHECK(lp_trainer_step(t, &r, err, sizeof err) == 0, "%s", err);
    CHECK(fabs(lp_model_grad_norm(a) - r.grad_norm) < 1e-9 * r.grad_norm, "unclipped %g vs %g",
          lp_model_grad_norm(a), r.grad_norm);
    lp_trainer_destroy(t);
    lp_model_destroy(a);
}

static void snapshot(lp_model *m, float *buf) {
    size_t o = 0;
    for (int i = 0; i < lp_model_num_params(m); i++) {
        const lp_param *p = lp_model_param(m, i);
        memcpy(buf + o, p->data, p->numel * sizeof(float));
        o += p->numel;
    }
}

static void test_nonfinite(void) {
    char err[512];
    lp_model *a = model(3);
    data d = {.B = 4, .nan_from = 3, .nan_to = 3, .inf_grad_step = 5};
    fill(&d, 4);
    lp_trainer_opts o = base_opts();
    o.max_steps = 20;
    lp_train_hooks h = {&d, micro, NULL, NULL, NULL, NULL};
    lp_trainer *t = lp_trainer_create(a, &o, &h, NULL, err, sizeof err);
    d.tr = t;
    size_t n = lp_model_numel(a);
    float *before = malloc(n * sizeof(float)), *after = malloc(n * sizeof(float));
    lp_step_result r;
    for (int s = 1; s <= 6; s++) {
        snapshot(a, before);
        long adam = lp_adamw_steps(lp_trainer_optimizer(t));
        CHECK(lp_trainer_step(t, &r, err, sizeof err) == 0, "step %d: %s", s, err);
        snapshot(a, after);
        int same = !memcmp(before, after, n * sizeof(float));
        if (s == 3 || s == 5) {
            CHECK(r.skipped && same && lp_adamw_steps(lp_trainer_optimizer(t)) == adam,
                  "step %d: non-finite step must not update (skipped %d, unchanged %d)", s, r.skipped, same);
        } else {
            CHECK(!r.skipped && !same, "step %d: a finite step updates", s);
        }
    }
    CHECK(lp_trainer_skipped_total(t) == 2, "skipped %lld", (long long)lp_trainer_skipped_total(t));
    /* three in a row stop the run with a clear message */
    d.nan_from = 8;
    d.nan_to = 100;
    int rc = lp_trainer_run(t, err, sizeof err);
    fprintf(stderr, "non-finite stop: %s\n", err);
    CHECK(rc == -1 && strstr(err, "3 steps in a row") && strstr(err, "step 10"), "%s", err);
    CHECK(lp_trainer_steps_done(t) == 10 && lp_trainer_skipped_total(t) == 5, "steps %lld skipped %lld",
          (long long)lp_trainer_steps_done(t), (long long)lp_trainer_skipped_total(t));
    free(before);
    free(after);
    lp_trainer_destroy(t);
    lp_model_destroy(a);
}

static void rm_rf(const char *p) {
    if (lp_remove_tree(p)) fprintf(stderr, "rm failed\n");
}

/* Runs 8 steps with checkpoints every 3; a fresh trainer (other init, other
 * data cursor) resumed from step 6, or from step 3 when 6 is corrupted,
 * reproduces the losses and the final weights exactly. */
static void test_resume(const char *tmp) {
    char err[1024], dir[4096];
    snprintf(dir, sizeof dir, "%s/ckpt", tmp);
    lp_model *a = model(4);
    data da = {.B = 4, .nan_from = -1, .nan_to = -2};
    fill(&da, 5);
    lp_trainer_opts o = base_opts();
    o.max_steps = 8;
    o.ckpt_every = 3;
    o.keep_last = 0;
    o.ckpt_dir = dir;
    o.eot = 0;
    lp_train_hooks h = {&da, micro, NULL, NULL, save, load};
    lp_trainer *ta = lp_trainer_create(a, &o, &h, NULL, err, sizeof err);
    da.tr = ta;
    double losses[9] = {0};
    lp_step_result r;
    for (int s = 1; s <= 8; s++) {
        CHECK(lp_trainer_step(ta, &r, err, sizeof err) == 0, "%s", err);
        losses[s] = r.loss;
        if (s % 3 == 0) CHECK(lp_trainer_checkpoint(ta, NULL, 0, err, sizeof err) == 0, "%s", err);
    }
    for (int round = 0; round < 2; round++) {
        lp_model *b = model(99);
        data db = {.B = 4, .nan_from = -1, .nan_to = -2};
        fill(&db, 5);
        lp_train_hooks hb = {&db, micro, NULL, NULL, save, load};
        lp_trainer *tb = lp_trainer_create(b, &o, &hb, NULL, err, sizeof err);
        db.tr = tb;
        err[0] = '\0';
        int rc = lp_trainer_resume(tb, err, sizeof err);
        int64_t from = round == 0 ? 6 : 3;
        CHECK(rc == 1 && lp_trainer_steps_done(tb) == from, "round %d: resume rc %d at %lld: %s", round, rc,
              (long long)lp_trainer_steps_done(tb), err);
        int exact = 1;
        for (int64_t s = from + 1; s <= 8; s++) {
            CHECK(lp_trainer_step(tb, &r, err, sizeof err) == 0, "%s", err);
            exact &= r.loss == losses[s];
            if (r.loss != losses[s])
                fprintf(stderr, "step %lld: %.17g vs %.17g\n", (long long)s, r.loss, losses[s]);
        }
        CHECK(exact, "round %d: resumed losses equal the uninterrupted run's bit for bit", round);
        CHECK(max_diff(a, b) == 0, "round %d: final weights differ by %g", round, max_diff(a, b));
        lp_trainer_destroy(tb);
        lp_model_destroy(b);
        /* corrupt the newest: resume must fall back to step 3 */
        char p[4200];
        snprintf(p, sizeof p, "%s/step-00000006/model.safetensors", dir);
        FILE *f = fopen(p, "r+b");
        if (f) {
            fseek(f, 200, SEEK_SET);
            fputc(0x5a, f);
            fclose(f);
        }
    }
    lp_trainer_destroy(ta);
    lp_model_destroy(a);
    rm_rf(dir);
}

/* A host that records metric names and asks to stop after stop_after steps. */
static int64_t fake_steps, fake_stop_after, fake_val_seen, fake_progress;
static char fake_names[512];
static const char *fh_str(lp_host *h) {
    (void)h;
    return "";
}
static void fh_log(lp_host *h, lp_log_level l, const char *m) {
    (void)h;
    (void)l;
    fprintf(stderr, "  host log: %s\n", m);
}
static int fh_metrics(lp_host *h, int64_t step, const lp_metric *m, size_t n) {
    (void)h;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(m[i].name, "loss")) fake_steps = step;
        if (!strcmp(m[i].name, "val_loss")) fake_val_seen++;
        if (!strstr(fake_names, m[i].name) &&
            strlen(fake_names) + strlen(m[i].name) + 2 < sizeof fake_names) {
            strcat(fake_names, m[i].name);
            strcat(fake_names, " ");
        }
    }
    return 0;
}
static int fh_event(lp_host *h, const char *k, const char *m) {
    (void)h;
    (void)k;
    (void)m;
    return 0;
}
static void fh_progress(lp_host *h, int64_t d, int64_t t) {
    (void)h;
    (void)t;
    fake_progress = d;
}
static int fh_cancelled(lp_host *h) {
    (void)h;
    return fake_steps >= fake_stop_after;
}
static int eval_hook(void *user, lp_model *m, double *v, char *err, size_t errsz) {
    (void)user;
    (void)m;
    (void)err;
    (void)errsz;
    *v = 1.5;
    return 0;
}

static void test_run_with_host(const char *tmp) {
    char err[1024], dir[4200];
    snprintf(dir, sizeof dir, "%s/hostrun", tmp);
    lp_host_services hs = {.size = sizeof hs,
                           .stage_name = fh_str,
                           .log = fh_log,
                           .emit_metrics = fh_metrics,
                           .emit_event = fh_event,
                           .progress = fh_progress,
                           .cancelled = fh_cancelled};
    lp_model *a = model(6);
    data d = {.B = 4, .nan_from = -1, .nan_to = -2};
    fill(&d, 6);
    lp_trainer_opts o = base_opts();
    o.max_steps = 10;
    o.eval_every = 2;
    o.ckpt_dir = dir;
    o.flops_per_token = 1e6;
    o.peak_flops = 1e12;
    lp_train_hooks h = {&d, micro, eval_hook, NULL, save, load};
    lp_trainer *t = lp_trainer_create(a, &o, &h, &hs, err, sizeof err);
    d.tr = t;
    fake_stop_after = 5;
    int rc = lp_trainer_run(t, err, sizeof err);
    CHECK(rc == 1 && lp_trainer_steps_done(t) == 5 && fake_progress == 5,
          "stop request: rc %d after %lld steps", rc, (long long)lp_trainer_steps_done(t));
    CHECK(strstr(lp_trainer_last_checkpoint(t), "step-00000005") != NULL, "checkpoint at the stop: %s",
          lp_trainer_last_checkpoint(t));
    CHECK(fake_val_seen == 2, "validation at steps 2 and 4 (%lld)", (long long)fake_val_seen);
    const char *want[] = {"loss", "lr", "grad_norm", "tokens_per_s", "mfu", "val_loss"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK(strstr(fake_names, want[i]) != NULL, "metric %s published (%s)", want[i], fake_names);
    lp_trainer_destroy(t);
    /* resumed, it finishes the budget */
    lp_model *b = model(7);
    data db = {.B = 4, .nan_from = -1, .nan_to = -2};
    fill(&db, 6);
    h.user = &db;
    fake_stop_after = 1000;
    t = lp_trainer_create(b, &o, &h, &hs, err, sizeof err);
    db.tr = t;
    CHECK(lp_trainer_resume(t, err, sizeof err) == 1, "%s", err);
    CHECK(lp_trainer_run(t, err, sizeof err) == 0 && lp_trainer_steps_done(t) == 10 && fake_val_seen == 5,
          "finished after resume: %lld steps, %lld validations", (long long)lp_trainer_steps_done(t),
          (long long)fake_val_seen);
    lp_trainer_destroy(t);
    lp_model_destroy(a);
    lp_model_destroy(b);
}

static void test_utf8(void) {
    struct {
        const char *in;
        size_t n;
        const char *want;
    } v[] = {
        {"plain", 5, "plain"},
        {"\xE5\xB0\x8F\xE7\x8C\xAB", 6, "\xE5\xB0\x8F\xE7\x8C\xAB"}, /* 小猫 kept */
        {"a\xE5\xB0", 3, "a\xEF\xBF\xBD\xEF\xBF\xBD"},               /* cut character */
        {"\xC0\xAFx", 3, "\xEF\xBF\xBD\xEF\xBF\xBDx"},               /* overlong */
        {"\xED\xA0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* surrogate */
        {"a\0b", 3,
         "a\xEF\xBF\xBD"
         "b"}, /* NUL */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *o = lp_utf8_sanitize(v[i].in, v[i].n);
        CHECK(o && !strcmp(o, v[i].want), "utf8 case %zu", i);
        free(o);
    }
}

int main(void) {
    char err[256], tmp[4096];
    lpk_ctx_opts ko = {.backend = "cpu", .num_threads = 1, .precision = LPK_PREC_FP32};
    ctx = lpk_ctx_create(&ko, err, sizeof err);
    snprintf(tmp, sizeof tmp, "%s/trXXXXXX", getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
    if (!ctx || !mkdtemp(tmp)) return 2;
    test_schedule();
    test_utf8();
    test_accumulation();
    test_clipping();
    test_nonfinite();
    test_resume(tmp);
    test_run_with_host(tmp);
    rm_rf(tmp);
    lpk_ctx_destroy(ctx);
    DONE();
}
