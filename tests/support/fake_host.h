/* A host for running a stage plugin inside a test's own process (so
 * --config=asan sees the stage's leaks, which host-run tests cannot).
 *
 * It implements lp_host_services the way the worker does, minus the
 * processes and sockets:
 *  - parameters come as libconfig text ("lr = 3e-4; files = [\"a\"];") and
 *    KEY=VALUE overrides, and are checked against the plugin's schema, typed
 *    and defaulted by host/params.c, the code `llmpipe validate` runs;
 *  - inputs are names mapped to local folders; the output (artifact_put) is
 *    copied into a capture folder;
 *  - log lines, metrics, events and texts are recorded in memory;
 *  - the cancellation flag can be set by the test, or armed to rise at a
 *    given progress count;
 *  - work_dir is a folder the test names (created if missing).
 *
 *   lp_fake_host *h = lp_fake_host_create(lp_plugin_entry(), work,
 *                                         "n_layer = 1; lr = 3e-3;", err, n);
 *   lp_fake_host_set(h, "max_steps", "8", err, n);
 *   lp_fake_host_input(h, "data", data_dir);
 *   lp_fake_host_output(h, "base", capture_dir);
 *   rc = lp_fake_host_run(h, err, n);       // create, run, destroy
 *   lp_fake_host_count(h, LP_FAKE_METRIC, "loss");
 */
#ifndef LLMPIPE_TESTS_SUPPORT_FAKE_HOST_H
#define LLMPIPE_TESTS_SUPPORT_FAKE_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/plugin.h"

typedef struct lp_fake_host lp_fake_host;

/* `desc` is the stage under test (usually its lp_plugin_entry()); `params`
 * (libconfig text, may be NULL) sets parameters, the others take their
 * schema defaults. NULL with the host's messages in err when the parameters
 * do not satisfy the schema (a required one missing, a wrong type, an
 * unknown key) or work_dir cannot be created. */
lp_fake_host *lp_fake_host_create(const lp_stage_desc *desc, const char *work_dir, const char *params,
                                  char *err, size_t n);
void lp_fake_host_destroy(lp_fake_host *h);

/* The table a stage's create() receives; valid until destroy. */
const lp_host_services *lp_fake_host_services(lp_fake_host *h);

/* Parameters. _params replaces the stage's params group with `text` (the
 * body of a libconfig group); _set changes one key (the value parsed as
 * `llmpipe run --set` parses it). Both re-check the whole set: -1 with
 * every problem, "; "-joined, in err, and the previous parameters kept. */
int lp_fake_host_params(lp_fake_host *h, const char *text, char *err, size_t n);
int lp_fake_host_set(lp_fake_host *h, const char *key, const char *value, char *err, size_t n);

/* Run settings (defaults: run "test", stage = desc->name, device "cpu",
 * 1 thread, seed 1234, not resuming). */
void lp_fake_host_identity(lp_fake_host *h, const char *run, const char *stage);
void lp_fake_host_device(lp_fake_host *h, const char *device, int threads);
void lp_fake_host_seed(lp_fake_host *h, uint64_t seed);
void lp_fake_host_resuming(lp_fake_host *h, int resuming);

/* Artifacts: `name` is an input of the stage, fetched from `folder`; the
 * stage's output is called `name` and each artifact_put copies the folder
 * it publishes to `capture_dir` (replacing what an earlier put left). */
int lp_fake_host_input(lp_fake_host *h, const char *name, const char *folder);
void lp_fake_host_output(lp_fake_host *h, const char *name, const char *capture_dir);
int lp_fake_host_put_count(const lp_fake_host *h);

/* Cancellation: _cancel sets the flag now (any thread); _cancel_at raises it
 * once the stage reports progress done >= `done` (<= 0 disarms). */
void lp_fake_host_cancel(lp_fake_host *h, int on);
void lp_fake_host_cancel_at(lp_fake_host *h, int64_t done);

/* What the stage reported, in order. */
typedef enum lp_fake_kind {
    LP_FAKE_LOG = 1,    /* name: level ("info", ...); text: message */
    LP_FAKE_METRIC = 2, /* name: metric; value; step (one per metric) */
    LP_FAKE_EVENT = 3,  /* name: kind ("alarm", ...); text: message */
    LP_FAKE_TEXT = 4    /* name: label ("sample", ...); text */
} lp_fake_kind;

typedef struct lp_fake_entry {
    lp_fake_kind kind;
    const char *name;
    const char *text; /* "" for metrics */
    double value;
    int64_t step;
} lp_fake_entry;

size_t lp_fake_host_entries(const lp_fake_host *h, const lp_fake_entry **out);
/* Entries of `kind` whose name is `name` (NULL: any name). */
size_t lp_fake_host_count(const lp_fake_host *h, lp_fake_kind kind, const char *name);
/* The latest such entry, or NULL. */
const lp_fake_entry *lp_fake_host_last(const lp_fake_host *h, lp_fake_kind kind, const char *name);
/* emit_metrics calls (a step's metrics arrive in one call). */
int lp_fake_host_metric_calls(const lp_fake_host *h);
/* The latest progress report. */
void lp_fake_host_progress(const lp_fake_host *h, int64_t *done, int64_t *total);
/* Forgets the recorded entries and counters (not the settings). */
void lp_fake_host_clear(lp_fake_host *h);
/* Log lines are also printed to stderr, prefixed "  [stage] ", unless quiet. */
void lp_fake_host_quiet(lp_fake_host *h, int quiet);

/* desc->create, ->run, ->destroy: what the worker does with a stage. 0, or
 * the failing call's status with its message in err. */
int lp_fake_host_run(lp_fake_host *h, char *err, size_t n);

#endif
