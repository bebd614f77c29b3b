/* The fake host against a toy stage that uses every service: parameters
 * defaulted, typed and refused as `llmpipe validate` would, inputs read from
 * local folders, the output captured, reports recorded, cancellation seen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpipe/fsutil.h"
#include "tests/support/check.h"
#include "tests/support/fake_host.h"

static const lp_param_spec toy_params[] = {
    {"steps", LP_PARAM_INT, "3", 0, "steps to run"},
    {"lr", LP_PARAM_FLOAT, "1e-3", 0, "learning rate"},
    {"verbose", LP_PARAM_BOOL, "false", 0, "log every step"},
    {"label", LP_PARAM_STRING, "\"toy\"", 0, "name in the output"},
    {"files", LP_PARAM_STRING_LIST, "[\"a\", \"b\"]", 0, "inputs"},
    {"tag", LP_PARAM_STRING, NULL, 1, "required"},
};

typedef struct toy {
    const lp_host_services *h;
    int64_t steps;
} toy;

static int toy_create(const lp_host_services *h, void **state, char *err, size_t n) {
    toy *t = calloc(1, sizeof *t);
    t->h = h;
    if (h->param_int(h->host, "steps", &t->steps) != LP_OK) {
        snprintf(err, n, "toy: %s", h->last_error(h->host));
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int toy_run(void *state, char *err, size_t n) {
    toy *t = state;
    const lp_host_services *h = t->h;
    lp_host *hh = h->host;
    double lr;
    int verbose;
    const char *label, *tag, *f1, *in;
    size_t nfiles;
    if (h->param_float(hh, "lr", &lr) || h->param_bool(hh, "verbose", &verbose) ||
        h->param_string(hh, "label", &label) || h->param_string(hh, "tag", &tag) ||
        h->param_list_size(hh, "files", &nfiles) || h->param_list_string(hh, "files", 1, &f1)) {
        snprintf(err, n, "toy: %s", h->last_error(hh));
        return -1;
    }
    if (h->artifact_get(hh, "data", &in) != LP_OK) {
        snprintf(err, n, "toy: %s", h->last_error(hh));
        return -1;
    }
    char path[4300], msg[256];
    snprintf(path, sizeof path, "%s/input.txt", in);
    size_t len;
    char *text = lp_read_file(path, &len, err, n);
    if (!text) return -1;
    for (int64_t s = 1; s <= t->steps; s++) {
        if (h->cancelled(hh)) break;
        lp_metric m[2] = {{"loss", 1.0 / (double)s}, {"lr", lr}};
        h->emit_metrics(hh, s, m, 2);
        h->progress(hh, s, t->steps);
    }
    snprintf(msg, sizeof msg, "%s/%s %s %zu files, last %s, seed %llu, %s x%d", h->run_name(hh),
             h->stage_name(hh), label, nfiles, f1, (unsigned long long)h->seed(hh), h->device(hh),
             h->threads(hh));
    h->log(hh, LP_LOG_INFO, msg);
    h->emit_event(hh, "alarm", tag);
    h->emit_text(hh, "sample", text);
    free(text);
    snprintf(path, sizeof path, "%s/out/sub", h->work_dir(hh));
    if (lp_mkdir_p(path, err, n)) return -1;
    snprintf(path, sizeof path, "%s/out/sub/result.txt", h->work_dir(hh));
    if (lp_write_file_atomic(path, "done", 4, err, n)) return -1;
    snprintf(path, sizeof path, "%s/out", h->work_dir(hh));
    if (h->artifact_put(hh, path) != LP_OK) {
        snprintf(err, n, "toy: %s", h->last_error(hh));
        return -1;
    }
    return 0;
}

static void toy_destroy(void *state) { free(state); }

static const lp_stage_desc toy_desc = {
    LP_STAGE_DESC_INIT,     .name = "toy",
    .version = "1",         .description = "fake host self-test",
    .params = toy_params,   .param_count = sizeof toy_params / sizeof toy_params[0],
    .create = toy_create,   .run = toy_run,
    .destroy = toy_destroy,
};

int main(void) {
    char tmp[4096], work[4200], data[4200], cap[4200], path[4400], err[1024];
    snprintf(tmp, sizeof tmp, "%s/fhXXXXXX", getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
    REQUIRE(mkdtemp(tmp), "mkdtemp %s", tmp);
    snprintf(work, sizeof work, "%s/work", tmp);
    snprintf(data, sizeof data, "%s/data", tmp);
    snprintf(cap, sizeof cap, "%s/captured", tmp);
    REQUIRE(lp_mkdir_p(data, err, sizeof err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/input.txt", data);
    REQUIRE(lp_write_file_atomic(path, "hello", 5, err, sizeof err) == 0, "%s", err);

    /* The schema's checks, with the host's messages. */
    lp_fake_host *h = lp_fake_host_create(&toy_desc, work, NULL, err, sizeof err);
    CHECK(!h && strstr(err, "missing required parameter 'tag'"), "%s", err);
    h = lp_fake_host_create(&toy_desc, work, "tag = \"t\"; stepz = 2;", err, sizeof err);
    CHECK(!h && strstr(err, "unknown key 'stepz'") && strstr(err, "did you mean 'steps'"), "%s", err);
    h = lp_fake_host_create(&toy_desc, work, "tag = \"t\"; steps = \"two\";", err, sizeof err);
    CHECK(!h && strstr(err, "parameter 'steps' must be an int, not a string") && !strchr(err, '\n'), "%s",
          err);
    h = lp_fake_host_create(&toy_desc, work, "tag = \"t\"; lr = 2;", err, sizeof err);
    REQUIRE(h, "%s", err);
    lp_fake_host_quiet(h, 1);
    CHECK(access(work, F_OK) == 0, "work_dir %s created", work);

    /* Defaults filled, an integer accepted as a float, a string as a list. */
    const lp_host_services *s = lp_fake_host_services(h);
    int64_t i = 0;
    double f = 0;
    const char *str = NULL;
    CHECK(s->param_int(s->host, "steps", &i) == LP_OK && i == 3, "steps %lld", (long long)i);
    CHECK(s->param_float(s->host, "lr", &f) == LP_OK && f == 2.0, "lr %g", f);
    CHECK(s->param_string(s->host, "label", &str) == LP_OK && !strcmp(str, "toy"), "label %s", str);
    CHECK(s->param_int(s->host, "lr", &i) == LP_ERR_TYPE && strstr(s->last_error(s->host), "not an integer"),
          "%s", s->last_error(s->host));
    CHECK(s->param_int(s->host, "nope", &i) == LP_ERR_NOTFOUND, "%s", s->last_error(s->host));
    CHECK(lp_fake_host_set(h, "files", "solo", err, sizeof err) == 0, "%s", err);
    size_t nf = 0;
    CHECK(s->param_list_size(s->host, "files", &nf) == LP_OK && nf == 1, "%zu files", nf);
    CHECK(lp_fake_host_set(h, "steps", "1.5", err, sizeof err) == -1 && strstr(err, "must be an int"), "%s",
          err);
    CHECK(s->param_int(s->host, "steps", &i) == LP_OK && i == 3, "a refused set keeps %lld", (long long)i);
    CHECK(lp_fake_host_set(h, "files", "[\"x\", \"y\"]", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_set(h, "steps", "5", err, sizeof err) == 0, "%s", err);

    /* A run: no input yet is the host's refusal. */
    CHECK(lp_fake_host_run(h, err, sizeof err) == -1 && strstr(err, "is not an input of stage 'toy'"), "%s",
          err);
    lp_fake_host_input(h, "data", data);
    CHECK(lp_fake_host_run(h, err, sizeof err) == -1 && strstr(err, "declares no output"), "%s", err);
    lp_fake_host_output(h, "toy-out", cap);
    lp_fake_host_identity(h, "r1", NULL);
    lp_fake_host_seed(h, 11);
    lp_fake_host_device(h, "cuda", 4);
    lp_fake_host_clear(h);
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "loss") == 5 && lp_fake_host_metric_calls(h) == 5,
          "%zu losses in %d calls", lp_fake_host_count(h, LP_FAKE_METRIC, "loss"),
          lp_fake_host_metric_calls(h));
    const lp_fake_entry *e = lp_fake_host_last(h, LP_FAKE_METRIC, "loss");
    CHECK(e && e->step == 5 && e->value == 0.2, "last loss %g at %lld", e ? e->value : -1.0,
          e ? (long long)e->step : -1LL);
    e = lp_fake_host_last(h, LP_FAKE_LOG, NULL);
    CHECK(e && !strcmp(e->name, "info") && !strcmp(e->text, "r1/toy toy 2 files, last y, seed 11, cuda x4"),
          "log '%s'", e ? e->text : "");
    e = lp_fake_host_last(h, LP_FAKE_EVENT, "alarm");
    CHECK(e && !strcmp(e->text, "t"), "event '%s'", e ? e->text : "");
    e = lp_fake_host_last(h, LP_FAKE_TEXT, "sample");
    CHECK(e && !strcmp(e->text, "hello"), "text '%s'", e ? e->text : "");
    snprintf(path, sizeof path, "%s/sub/result.txt", cap);
    size_t len = 0;
    char *got = lp_read_file(path, &len, err, sizeof err);
    CHECK(got && !strcmp(got, "done") && lp_fake_host_put_count(h) == 1, "captured: %s", got ? got : err);
    free(got);
    int64_t done = 0, total = 0;
    lp_fake_host_progress(h, &done, &total);
    CHECK(done == 5 && total == 5, "progress %lld/%lld", (long long)done, (long long)total);

    /* Cancellation: armed at step 2, and set by the test. */
    lp_fake_host_clear(h);
    lp_fake_host_cancel_at(h, 2);
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "loss") == 2, "%zu steps before the stop",
          lp_fake_host_count(h, LP_FAKE_METRIC, "loss"));
    lp_fake_host_cancel_at(h, 0);
    lp_fake_host_cancel(h, 1);
    lp_fake_host_clear(h);
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0 && lp_fake_host_count(h, LP_FAKE_METRIC, NULL) == 0,
          "%zu metrics after cancel", lp_fake_host_count(h, LP_FAKE_METRIC, NULL));
    lp_fake_host_destroy(h);

    if (lp_remove_tree(tmp)) fprintf(stderr, "cleanup failed\n");
    DONE();
}
