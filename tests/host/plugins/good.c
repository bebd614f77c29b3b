/* A well-behaved test stage: reads its inputs, emits metrics, honours
 * cancellation, and publishes an artifact holding a trace of what it did, so
 * the tests can see what flowed through the chain. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmpipe/plugin.h"

typedef struct good {
    const lp_host_services *h;
    int64_t steps, sleep_ms;
    const char *tag;
    int fail, stubborn;
    volatile int stop;
} good;

static const lp_param_spec params[] = {
    {"steps", LP_PARAM_INT, "3", 0, "how many metric steps to emit"},
    {"tag", LP_PARAM_STRING, NULL, 1, "text written into the artifact"},
    {"lr", LP_PARAM_FLOAT, "0.001", 0, "a float parameter"},
    {"sleep_ms", LP_PARAM_INT, "0", 0, "pause per step"},
    {"fail", LP_PARAM_BOOL, "false", 0, "abort() half way (crash test)"},
    {"files", LP_PARAM_STRING_LIST, "[]", 0, "a list parameter"},
    {"stubborn", LP_PARAM_BOOL, "false", 0, "ignore stop requests"},
};

static int create(const lp_host_services *h, void **state, char *err, size_t n) {
    good *g = calloc(1, sizeof *g);
    if (h->param_int(h->host, "steps", &g->steps) != 0 ||
        h->param_int(h->host, "sleep_ms", &g->sleep_ms) != 0 ||
        h->param_string(h->host, "tag", &g->tag) != 0 || h->param_bool(h->host, "fail", &g->fail) != 0 ||
        h->param_bool(h->host, "stubborn", &g->stubborn) != 0) {
        snprintf(err, n, "parameters: %s", h->last_error(h->host));
        free(g);
        return -1;
    }
    g->h = h;
    *state = g;
    return 0;
}

static int run(void *state, char *err, size_t n) {
    good *g = state;
    const lp_host_services *h = g->h;
    char trace[8192];
    size_t len = (size_t)snprintf(trace, sizeof trace, "%s", g->tag);
    for (size_t i = 0; i < h->input_count(h->host); i++) {
        const char *dir;
        if (h->artifact_get(h->host, h->input_name(h->host, i), &dir) != 0) {
            snprintf(err, n, "input: %s", h->last_error(h->host));
            return -1;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/trace.txt", dir);
        FILE *f = fopen(path, "r");
        char prev[4096] = "";
        if (f == NULL || fgets(prev, sizeof prev, f) == NULL) {
            snprintf(err, n, "input %s: no trace.txt", dir);
            if (f) fclose(f);
            return -1;
        }
        fclose(f);
        len += (size_t)snprintf(trace + len, sizeof trace - len, "<%s", prev);
    }
    for (int64_t s = 1; s <= g->steps; s++) {
        if (!g->stubborn && (g->stop || h->cancelled(h->host))) {
            h->log(h->host, LP_LOG_WARN, "stopping early on request");
            return 0;
        }
        if (g->fail && s > g->steps / 2) abort();
        lp_metric m[2] = {{"loss", 1.0 / (double)s}, {"lr", 0.001}};
        h->emit_metrics(h->host, s, m, 2);
        h->progress(h->host, s, g->steps);
        if (g->sleep_ms > 0) {
            struct timespec ts = {g->sleep_ms / 1000, (g->sleep_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    h->emit_text(h->host, "sample", g->tag);
    const char *out = h->output_name(h->host);
    if (out == NULL) return 0;
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/out", h->work_dir(h->host));
    snprintf(path, sizeof path, "mkdir -p '%s'", dir);
    if (system(path) != 0) {
        snprintf(err, n, "cannot create %s", dir);
        return -1;
    }
    snprintf(path, sizeof path, "%s/trace.txt", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        snprintf(err, n, "cannot write %s", path);
        return -1;
    }
    fprintf(f, "%s\n", trace);
    fclose(f);
    if (h->artifact_put(h->host, dir) != 0) {
        snprintf(err, n, "output: %s", h->last_error(h->host));
        return -1;
    }
    return 0;
}

static void request_stop(void *state) { ((good *)state)->stop = 1; }
static void destroy(void *state) { free(state); }

static const lp_stage_desc desc = {
    LP_STAGE_DESC_INIT,
    .name = "good",
    .version = "1.2.0",
    .description = "test stage: metrics, inputs, an artifact",
    .params = params,
    .param_count = sizeof params / sizeof params[0],
    .create = create,
    .run = run,
    .request_stop = request_stop,
    .destroy = destroy,
};

LP_PLUGIN_EXPORT const lp_stage_desc *lp_plugin_entry(void) { return &desc; }
