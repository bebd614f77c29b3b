#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "host/params.h"
#include "host/worker_host.h"
#include "llmpipe/error.h"
#include "llmpipe/fsutil.h"

static _Thread_local char tls_error[1024];

/* The plugin reads the message through last_error(); the copy in
 * h->last_error is what the worker reports when the stage fails. */
static int fail(lp_host *h, int code, const char *fmt, ...) LP_PRINTF(3, 4);
static int fail(lp_host *h, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lp_verrf(tls_error, sizeof tls_error, fmt, ap);
    va_end(ap);
    snprintf(h->last_error, sizeof h->last_error, "%s", tls_error);
    return code;
}

static const char *run_name(lp_host *h) { return h->run; }
static const char *stage_name(lp_host *h) { return h->stage; }
static const char *device(lp_host *h) { return h->device; }
static int threads(lp_host *h) { return h->threads; }
static uint64_t seed(lp_host *h) { return h->seed; }
static int resuming(lp_host *h) { return h->resume; }
static const char *work_dir(lp_host *h) { return h->work_dir; }

static void log_msg(lp_host *h, lp_log_level level, const char *message) {
    static const char *const names[] = {"debug", "info", "warn", "error"};
    const char *lv = (unsigned)level < 4 ? names[level] : "info";
    fprintf(stderr, "[%s] %s: %s\n", h->stage, lv, message);
    lp_publisher_text(h->pub, lv, message);
}

static int emit_metrics(lp_host *h, int64_t step, const lp_metric *m, size_t n) {
    return lp_publisher_metrics(h->pub, step, m, n);
}

static int emit_event(lp_host *h, const char *kind, const char *message) {
    if (kind && strcmp(kind, "alarm") == 0) fprintf(stderr, "[%s] alarm: %s\n", h->stage, message);
    return lp_publisher_event(h->pub, kind, message);
}

static int emit_text(lp_host *h, const char *label, const char *text) {
    return lp_publisher_text(h->pub, label, text);
}

static const json_t *params(lp_host *h) { return json_object_get(h->cfg, "params"); }

/* A failed read keeps its message for last_error() and the worker's report. */
static int read_rc(lp_host *h, int rc) {
    if (rc != LP_OK) snprintf(h->last_error, sizeof h->last_error, "%s", tls_error);
    return rc;
}

static int param_int(lp_host *h, const char *key, int64_t *out) {
    return read_rc(h, lp_params_int(params(h), key, out, tls_error, sizeof tls_error));
}

static int param_float(lp_host *h, const char *key, double *out) {
    return read_rc(h, lp_params_float(params(h), key, out, tls_error, sizeof tls_error));
}

static int param_bool(lp_host *h, const char *key, int *out) {
    return read_rc(h, lp_params_bool(params(h), key, out, tls_error, sizeof tls_error));
}

static int param_string(lp_host *h, const char *key, const char **out) {
    return read_rc(h, lp_params_string(params(h), key, out, tls_error, sizeof tls_error));
}

static int param_list_size(lp_host *h, const char *key, size_t *out) {
    return read_rc(h, lp_params_list_size(params(h), key, out, tls_error, sizeof tls_error));
}

static int param_list_string(lp_host *h, const char *key, size_t index, const char **out) {
    return read_rc(h, lp_params_list_string(params(h), key, index, out, tls_error, sizeof tls_error));
}

static size_t input_count(lp_host *h) { return json_array_size(json_object_get(h->cfg, "inputs")); }

static const char *input_name(lp_host *h, size_t index) {
    return json_string_value(json_array_get(json_object_get(h->cfg, "inputs"), index));
}

static const char *output_name(lp_host *h) { return h->output; }

static int artifact_get(lp_host *h, const char *name, const char **path_out) {
    int declared = 0;
    for (size_t i = 0; i < input_count(h) && !declared; i++) declared = strcmp(input_name(h, i), name) == 0;
    if (!declared)
        return fail(h, LP_ERR_NOTFOUND,
                    "artifact '%s' is not an input of stage '%s' (list it in the "
                    "stage's inputs)",
                    name, h->stage);
    json_t *known = json_object_get(h->fetched, name);
    if (known) {
        *path_out = json_string_value(known);
        return LP_OK;
    }
    char dir[4096], err[1024];
    snprintf(dir, sizeof dir, "%s/inputs", h->work_dir);
    if (lp_mkdir_p(dir, err, sizeof err) != 0) return fail(h, LP_ERR, "%s", err);
    snprintf(dir, sizeof dir, "%s/inputs/%s", h->work_dir, name);
    int rc = lp_store_client_get(h->store, name, dir, err, sizeof err);
    if (rc != 0) return fail(h, rc == LP_ERR_NOTFOUND ? LP_ERR_NOTFOUND : LP_ERR, "%s", err);
    json_object_set_new(h->fetched, name, json_string(dir));
    *path_out = json_string_value(json_object_get(h->fetched, name));
    return LP_OK;
}

static int artifact_put(lp_host *h, const char *local_dir) {
    if (h->output == NULL) return fail(h, LP_ERR, "stage '%s' declares no output in the chain", h->stage);
    char err[1024];
    if (lp_store_client_put(h->store, h->output, local_dir, err, sizeof err) != 0)
        return fail(h, LP_ERR, "%s", err);
    return LP_OK;
}

static void progress(lp_host *h, int64_t done, int64_t total) { lp_publisher_progress(h->pub, done, total); }

static int cancelled(lp_host *h) { return atomic_load(&h->cancelled); }

static const char *last_error(lp_host *h) {
    (void)h;
    return tls_error;
}

void lp_worker_services(lp_host *h, lp_host_services *t) {
    memset(t, 0, sizeof *t);
    t->size = sizeof *t;
    t->abi_major = LP_ABI_MAJOR;
    t->abi_minor = LP_ABI_MINOR;
    t->host = h;
    t->run_name = run_name;
    t->stage_name = stage_name;
    t->device = device;
    t->threads = threads;
    t->seed = seed;
    t->resuming = resuming;
    t->work_dir = work_dir;
    t->log = log_msg;
    t->emit_metrics = emit_metrics;
    t->emit_event = emit_event;
    t->emit_text = emit_text;
    t->param_int = param_int;
    t->param_float = param_float;
    t->param_bool = param_bool;
    t->param_string = param_string;
    t->param_list_size = param_list_size;
    t->param_list_string = param_list_string;
    t->input_count = input_count;
    t->input_name = input_name;
    t->output_name = output_name;
    t->artifact_get = artifact_get;
    t->artifact_put = artifact_put;
    t->progress = progress;
    t->cancelled = cancelled;
    t->last_error = last_error;
}
