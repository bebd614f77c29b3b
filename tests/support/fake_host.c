#include "tests/support/fake_host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/params.h"
#include "llmpipe/error.h"
#include "llmpipe/fsutil.h"

typedef struct kv {
    char *key, *value;
} kv;

typedef struct input {
    char *name, *folder;
} input;

struct lp_fake_host {
    const lp_stage_desc *desc;
    lp_host_services services;
    char *run, *stage, *device, *work_dir;
    int threads, resuming, quiet;
    uint64_t seed;

    /* Parameters as given: the libconfig text and the overrides on top; the
   * resolved object is what the stage reads. */
    char *text;
    kv *sets;
    size_t nsets;
    json_t *params;

    input *inputs;
    size_t ninputs;
    char *output, *capture;
    int puts;

    atomic_int cancelled;
    int64_t cancel_at;
    int64_t done, total;

    lp_fake_entry *entries;
    size_t nentries, cap;
    int metric_calls;
    char last_error[1024];
};

static lp_fake_host *F(lp_host *h) { return (lp_fake_host *)h; }

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void replace(char **slot, const char *s) {
    free(*slot);
    *slot = dup_or_null(s);
}

/* ---- parameters ----------------------------------------------------------- */

/* Checks text + sets against the schema; on success the result replaces
 * h->params. The messages are host/params.c's, joined into one line. */
static int resolve(lp_fake_host *h, const char *text, const kv *sets, size_t nsets, char *err, size_t n) {
    char *buf = NULL, *msgs = NULL;
    size_t blen = 0, mlen = 0;
    FILE *ms = open_memstream(&msgs, &mlen);
    if (ms == NULL) return lp_errf(err, n, "fake host: out of memory");
    lp_cfg_log L = {.path = "fake host params", .errs = ms, .errors = 0};
    config_t cfg;
    config_init(&cfg);
    FILE *bs = open_memstream(&buf, &blen);
    if (bs) {
        fprintf(bs, "params = { %s\n};\n", text ? text : "");
        fclose(bs);
    }
    if (buf == NULL || config_read_string(&cfg, buf) != CONFIG_TRUE) {
        fprintf(ms, "fake host params:%d: %s", config_error_line(&cfg),
                buf ? config_error_text(&cfg) : "out of memory");
        L.errors++;
    } else {
        config_setting_t *group = config_lookup(&cfg, "params");
        for (size_t i = 0; i < nsets; i++)
            if (lp_cfg_set_value(group, sets[i].key, sets[i].value) != 0) {
                fprintf(ms, "--set %s=%s: cannot set '%s' here\n", sets[i].key, sets[i].value, sets[i].key);
                L.errors++;
            }
        if (L.errors == 0) {
            json_t *p = lp_params_resolve(&L, h->stage, h->desc, "(in the test)", config_root_setting(&cfg));
            if (L.errors == 0) {
                json_decref(h->params);
                h->params = p;
            } else {
                json_decref(p);
            }
        }
    }
    config_destroy(&cfg);
    free(buf);
    fclose(ms);
    int errors = L.errors;
    if (errors) {
        size_t len = strlen(msgs);
        while (len && msgs[len - 1] == '\n') msgs[--len] = '\0';
        char *joined = malloc(2 * len + 1), *o = joined;
        for (size_t i = 0; joined && i < len; i++) {
            if (msgs[i] == '\n') {
                *o++ = ';';
                *o++ = ' ';
            } else {
                *o++ = msgs[i];
            }
        }
        if (joined) *o = '\0';
        lp_errf(err, n, "%s", joined ? joined : msgs);
        free(joined);
    }
    free(msgs);
    return errors ? -1 : 0;
}

int lp_fake_host_params(lp_fake_host *h, const char *text, char *err, size_t n) {
    if (resolve(h, text, NULL, 0, err, n) != 0) return -1;
    replace(&h->text, text);
    for (size_t i = 0; i < h->nsets; i++) {
        free(h->sets[i].key);
        free(h->sets[i].value);
    }
    h->nsets = 0;
    return 0;
}

int lp_fake_host_set(lp_fake_host *h, const char *key, const char *value, char *err, size_t n) {
    kv *grown = realloc(h->sets, (h->nsets + 1) * sizeof *grown);
    if (grown == NULL) return lp_errf(err, n, "fake host: out of memory");
    h->sets = grown;
    h->sets[h->nsets] = (kv){(char *)key, (char *)value};
    if (resolve(h, h->text, h->sets, h->nsets + 1, err, n) != 0) return -1;
    h->sets[h->nsets] = (kv){strdup(key), strdup(value)};
    h->nsets++;
    return 0;
}

/* ---- folders -------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int copy_file(const char *from, const char *to, char *err, size_t n) {
    size_t len = 0;
    char *data = lp_read_file(from, &len, err, n);
    if (data == NULL) return -1;
    int rc = lp_write_file_atomic(to, data, len, err, n);
    free(data);
    return rc;
}

static int copy_tree(const char *from, const char *to, char *err, size_t n) {
    if (lp_mkdir_p(to, err, n) != 0) return -1;
    DIR *d = opendir(from);
    if (d == NULL) return lp_errf(err, n, "%s: cannot open folder: %s", from, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char a[4096], b[4096];
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        struct stat st;
        if (stat(a, &st) != 0)
            rc = lp_errf(err, n, "%s: %s", a, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            rc = copy_tree(a, b, err, n);
        else
            rc = copy_file(a, b, err, n);
    }
    closedir(d);
    return rc;
}

/* ---- the services --------------------------------------------------------- */

static void record(lp_fake_host *h, lp_fake_kind kind, const char *name, const char *text, double value,
                   int64_t step) {
    if (h->nentries == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        lp_fake_entry *grown = realloc(h->entries, cap * sizeof *grown);
        if (grown == NULL) return;
        h->entries = grown;
        h->cap = cap;
    }
    h->entries[h->nentries++] =
        (lp_fake_entry){kind, strdup(name ? name : ""), strdup(text ? text : ""), value, step};
}

static int fail(lp_fake_host *h, int code, const char *fmt, ...) LP_PRINTF(3, 4);
static int fail(lp_fake_host *h, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lp_verrf(h->last_error, sizeof h->last_error, fmt, ap);
    va_end(ap);
    return code;
}

static const char *s_run(lp_host *h) { return F(h)->run; }
static const char *s_stage(lp_host *h) { return F(h)->stage; }
static const char *s_device(lp_host *h) { return F(h)->device; }
static int s_threads(lp_host *h) { return F(h)->threads; }
static uint64_t s_seed(lp_host *h) { return F(h)->seed; }
static int s_resuming(lp_host *h) { return F(h)->resuming; }
static const char *s_work_dir(lp_host *h) { return F(h)->work_dir; }

static void s_log(lp_host *hh, lp_log_level level, const char *message) {
    static const char *const names[] = {"debug", "info", "warn", "error"};
    lp_fake_host *h = F(hh);
    const char *lv = (unsigned)level < 4 ? names[level] : "info";
    if (!h->quiet) fprintf(stderr, "  [%s] %s: %s\n", h->stage, lv, message);
    record(h, LP_FAKE_LOG, lv, message, 0, 0);
}

static int s_metrics(lp_host *hh, int64_t step, const lp_metric *m, size_t count) {
    lp_fake_host *h = F(hh);
    h->metric_calls++;
    for (size_t i = 0; i < count; i++) record(h, LP_FAKE_METRIC, m[i].name, "", m[i].value, step);
    return LP_OK;
}

static int s_event(lp_host *h, const char *kind, const char *message) {
    record(F(h), LP_FAKE_EVENT, kind, message, 0, 0);
    return LP_OK;
}

static int s_text(lp_host *h, const char *label, const char *text) {
    record(F(h), LP_FAKE_TEXT, label, text, 0, 0);
    return LP_OK;
}

static int s_int(lp_host *h, const char *k, int64_t *o) {
    return lp_params_int(F(h)->params, k, o, F(h)->last_error, sizeof F(h)->last_error);
}
static int s_float(lp_host *h, const char *k, double *o) {
    return lp_params_float(F(h)->params, k, o, F(h)->last_error, sizeof F(h)->last_error);
}
static int s_bool(lp_host *h, const char *k, int *o) {
    return lp_params_bool(F(h)->params, k, o, F(h)->last_error, sizeof F(h)->last_error);
}
static int s_string(lp_host *h, const char *k, const char **o) {
    return lp_params_string(F(h)->params, k, o, F(h)->last_error, sizeof F(h)->last_error);
}
static int s_list_size(lp_host *h, const char *k, size_t *o) {
    return lp_params_list_size(F(h)->params, k, o, F(h)->last_error, sizeof F(h)->last_error);
}
static int s_list_string(lp_host *h, const char *k, size_t i, const char **o) {
    return lp_params_list_string(F(h)->params, k, i, o, F(h)->last_error, sizeof F(h)->last_error);
}

static size_t s_input_count(lp_host *h) { return F(h)->ninputs; }
static const char *s_input_name(lp_host *h, size_t i) {
    return i < F(h)->ninputs ? F(h)->inputs[i].name : NULL;
}
static const char *s_output_name(lp_host *h) { return F(h)->output; }

static int s_get(lp_host *hh, const char *name, const char **path) {
    lp_fake_host *h = F(hh);
    for (size_t i = 0; i < h->ninputs; i++)
        if (!strcmp(h->inputs[i].name, name)) {
            *path = h->inputs[i].folder;
            return LP_OK;
        }
    return fail(h, LP_ERR_NOTFOUND,
                "artifact '%s' is not an input of stage '%s' (list it in the "
                "stage's inputs)",
                name, h->stage);
}

static int s_put(lp_host *hh, const char *local_dir) {
    lp_fake_host *h = F(hh);
    if (h->output == NULL) return fail(h, LP_ERR, "stage '%s' declares no output in the chain", h->stage);
    struct stat st;
    if (stat(local_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(h, LP_ERR, "'%s' is not a folder", local_dir);
    if (access(h->capture, F_OK) == 0) nftw(h->capture, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    char err[1024];
    if (copy_tree(local_dir, h->capture, err, sizeof err) != 0) return fail(h, LP_ERR, "%s", err);
    h->puts++;
    return LP_OK;
}

static void s_progress(lp_host *hh, int64_t done, int64_t total) {
    lp_fake_host *h = F(hh);
    h->done = done;
    h->total = total;
    if (h->cancel_at > 0 && done >= h->cancel_at) atomic_store(&h->cancelled, 1);
}

static int s_cancelled(lp_host *h) { return atomic_load(&F(h)->cancelled); }
static const char *s_last_error(lp_host *h) { return F(h)->last_error; }

/* ---- lifetime and settings ------------------------------------------------ */

lp_fake_host *lp_fake_host_create(const lp_stage_desc *desc, const char *work_dir, const char *params,
                                  char *err, size_t n) {
    if (desc == NULL) {
        lp_errf(err, n, "fake host: no stage descriptor");
        return NULL;
    }
    if (lp_mkdir_p(work_dir, err, n) != 0) return NULL;
    lp_fake_host *h = calloc(1, sizeof *h);
    if (h == NULL) {
        lp_errf(err, n, "fake host: out of memory");
        return NULL;
    }
    h->desc = desc;
    h->run = strdup("test");
    h->stage = strdup(desc->name);
    h->device = strdup("cpu");
    h->work_dir = strdup(work_dir);
    h->text = strdup(params ? params : "");
    h->threads = 1;
    h->seed = 1234;
    atomic_init(&h->cancelled, 0);
    if (resolve(h, h->text, NULL, 0, err, n) != 0) {
        lp_fake_host_destroy(h);
        return NULL;
    }
    lp_host_services *t = &h->services;
    t->size = sizeof *t;
    t->abi_major = LP_ABI_MAJOR;
    t->abi_minor = LP_ABI_MINOR;
    t->host = (lp_host *)h;
    t->run_name = s_run;
    t->stage_name = s_stage;
    t->device = s_device;
    t->threads = s_threads;
    t->seed = s_seed;
    t->resuming = s_resuming;
    t->work_dir = s_work_dir;
    t->log = s_log;
    t->emit_metrics = s_metrics;
    t->emit_event = s_event;
    t->emit_text = s_text;
    t->param_int = s_int;
    t->param_float = s_float;
    t->param_bool = s_bool;
    t->param_string = s_string;
    t->param_list_size = s_list_size;
    t->param_list_string = s_list_string;
    t->input_count = s_input_count;
    t->input_name = s_input_name;
    t->output_name = s_output_name;
    t->artifact_get = s_get;
    t->artifact_put = s_put;
    t->progress = s_progress;
    t->cancelled = s_cancelled;
    t->last_error = s_last_error;
    return h;
}

void lp_fake_host_clear(lp_fake_host *h) {
    for (size_t i = 0; i < h->nentries; i++) {
        free((char *)h->entries[i].name);
        free((char *)h->entries[i].text);
    }
    h->nentries = 0;
    h->metric_calls = 0;
    h->puts = 0;
    h->done = h->total = 0;
}

void lp_fake_host_destroy(lp_fake_host *h) {
    if (h == NULL) return;
    lp_fake_host_clear(h);
    free(h->entries);
    for (size_t i = 0; i < h->nsets; i++) {
        free(h->sets[i].key);
        free(h->sets[i].value);
    }
    free(h->sets);
    for (size_t i = 0; i < h->ninputs; i++) {
        free(h->inputs[i].name);
        free(h->inputs[i].folder);
    }
    free(h->inputs);
    json_decref(h->params);
    free(h->text);
    free(h->run);
    free(h->stage);
    free(h->device);
    free(h->work_dir);
    free(h->output);
    free(h->capture);
    free(h);
}

const lp_host_services *lp_fake_host_services(lp_fake_host *h) { return &h->services; }

void lp_fake_host_identity(lp_fake_host *h, const char *run, const char *stage) {
    if (run) replace(&h->run, run);
    if (stage) replace(&h->stage, stage);
}

void lp_fake_host_device(lp_fake_host *h, const char *device, int threads) {
    if (device) replace(&h->device, device);
    if (threads > 0) h->threads = threads;
}

void lp_fake_host_seed(lp_fake_host *h, uint64_t seed) { h->seed = seed; }
void lp_fake_host_resuming(lp_fake_host *h, int on) { h->resuming = on; }
void lp_fake_host_quiet(lp_fake_host *h, int quiet) { h->quiet = quiet; }

int lp_fake_host_input(lp_fake_host *h, const char *name, const char *folder) {
    for (size_t i = 0; i < h->ninputs; i++)
        if (!strcmp(h->inputs[i].name, name)) {
            replace(&h->inputs[i].folder, folder);
            return 0;
        }
    input *grown = realloc(h->inputs, (h->ninputs + 1) * sizeof *grown);
    if (grown == NULL) return -1;
    h->inputs = grown;
    h->inputs[h->ninputs++] = (input){strdup(name), strdup(folder)};
    return 0;
}

void lp_fake_host_output(lp_fake_host *h, const char *name, const char *capture_dir) {
    replace(&h->output, name);
    replace(&h->capture, capture_dir);
}

int lp_fake_host_put_count(const lp_fake_host *h) { return h->puts; }

void lp_fake_host_cancel(lp_fake_host *h, int on) { atomic_store(&h->cancelled, on != 0); }

void lp_fake_host_cancel_at(lp_fake_host *h, int64_t done) { h->cancel_at = done; }

/* ---- what was recorded ---------------------------------------------------- */

size_t lp_fake_host_entries(const lp_fake_host *h, const lp_fake_entry **out) {
    if (out) *out = h->entries;
    return h->nentries;
}

static int matches(const lp_fake_entry *e, lp_fake_kind kind, const char *name) {
    return e->kind == kind && (name == NULL || !strcmp(e->name, name));
}

size_t lp_fake_host_count(const lp_fake_host *h, lp_fake_kind kind, const char *name) {
    size_t c = 0;
    for (size_t i = 0; i < h->nentries; i++) c += matches(&h->entries[i], kind, name);
    return c;
}

const lp_fake_entry *lp_fake_host_last(const lp_fake_host *h, lp_fake_kind kind, const char *name) {
    for (size_t i = h->nentries; i-- > 0;)
        if (matches(&h->entries[i], kind, name)) return &h->entries[i];
    return NULL;
}

int lp_fake_host_metric_calls(const lp_fake_host *h) { return h->metric_calls; }

void lp_fake_host_progress(const lp_fake_host *h, int64_t *done, int64_t *total) {
    if (done) *done = h->done;
    if (total) *total = h->total;
}

int lp_fake_host_run(lp_fake_host *h, char *err, size_t n) {
    void *state = NULL;
    int rc = h->desc->create(&h->services, &state, err, n);
    if (rc != 0) return rc;
    rc = h->desc->run(state, err, n);
    h->desc->destroy(state);
    return rc;
}
