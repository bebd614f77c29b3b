/* The llmpipe stage-plugin ABI.
 *
 * A plugin is a shared object exporting exactly one symbol, LP_ENTRY_SYMBOL,
 * a function returning a pointer to a static lp_stage_desc. The host checks the
 * descriptor's ABI numbers and size before touching anything else, then calls
 * create(), run(), and destroy() inside an isolated worker process.
 *
 * Rules that keep old plugins loading in new hosts:
 *  - every struct that crosses the boundary starts with its own size;
 *  - fields are only ever appended at the end (never reordered or removed);
 *  - a reader checks `offsetof(field) + sizeof(field) <= size` before reading
 *    a field added after ABI 1.0 (LP_HAS_FIELD below);
 *  - no libconfig, libzmq or other third-party type appears here. */
#ifndef LLMPIPE_PLUGIN_H
#define LLMPIPE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LP_ENTRY_SYMBOL "lp_plugin_entry"

#if defined(__GNUC__)
#define LP_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define LP_PLUGIN_EXPORT
#endif

#define LP_HAS_FIELD(ptr, type, field) ((ptr)->size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ---- parameter schema ---------------------------------------------------- */

typedef enum lp_param_type {
    LP_PARAM_INT = 1,   /* 64-bit integer */
    LP_PARAM_FLOAT = 2, /* double; an integer in the config is accepted */
    LP_PARAM_BOOL = 3,
    LP_PARAM_STRING = 4,
    LP_PARAM_STRING_LIST = 5 /* list of strings, e.g. data files */
} lp_param_type;

typedef struct lp_param_spec {
    const char *name;
    lp_param_type type;
    /* Default in config syntax ("3e-4", "true", "\"text\"", "[\"a\", \"b\"]");
   * NULL when the parameter has no default. */
    const char *default_value;
    int required; /* non-zero: the config must set it (default ignored) */
    const char *doc;
} lp_param_spec;

/* ---- host services ------------------------------------------------------- */

typedef struct lp_host lp_host; /* opaque; owned by the worker process */

typedef enum lp_log_level {
    LP_LOG_DEBUG = 0,
    LP_LOG_INFO = 1,
    LP_LOG_WARN = 2,
    LP_LOG_ERROR = 3
} lp_log_level;

typedef struct lp_metric {
    const char *name; /* e.g. "loss", "lr", "tokens_per_s" */
    double value;
} lp_metric;

/* Status codes returned by host services. */
enum {
    LP_OK = 0,
    LP_ERR = -1,          /* generic failure: see last_error() */
    LP_ERR_NOTFOUND = -2, /* no such parameter or artifact */
    LP_ERR_TYPE = -3,     /* parameter exists with another type */
    LP_ERR_CANCELLED = -4
};

/* The table the host fills for a plugin. Plugins call these instead of
 * reaching into the host; every entry is safe to call from the thread that
 * runs create()/run(). Strings returned stay valid until destroy(). */
typedef struct lp_host_services {
    uint32_t size; /* sizeof(lp_host_services) as compiled into the host */
    uint16_t abi_major;
    uint16_t abi_minor;
    lp_host *host; /* first argument of every call below */

    /* Identity and run settings. */
    const char *(*run_name)(lp_host *h);
    const char *(*stage_name)(lp_host *h);
    const char *(*device)(lp_host *h); /* "cpu" or "cuda" */
    int (*threads)(lp_host *h);        /* worker thread budget (>= 1) */
    uint64_t (*seed)(lp_host *h);      /* run seed mixed with the stage name */
    int (*resuming)(lp_host *h);       /* non-zero under `run --resume` */
    /* A folder private to this stage that survives a crash and --resume: the
   * place for in-stage checkpoints. */
    const char *(*work_dir)(lp_host *h);

    /* Logging: stderr of the worker and a log/<run>/<stage> message. */
    void (*log)(lp_host *h, lp_log_level level, const char *message);

    /* Metrics (metrics/<run>/<stage>), events (event/<run>/<stage>, e.g.
   * kind "alarm") and free text such as generated samples (log/...). */
    int (*emit_metrics)(lp_host *h, int64_t step, const lp_metric *metrics, size_t count);
    int (*emit_event)(lp_host *h, const char *kind, const char *message);
    int (*emit_text)(lp_host *h, const char *label, const char *text);

    /* Typed parameter access. The host validated every parameter against the
   * plugin's schema and filled defaults, so a schema parameter is present. */
    int (*param_int)(lp_host *h, const char *key, int64_t *out);
    int (*param_float)(lp_host *h, const char *key, double *out);
    int (*param_bool)(lp_host *h, const char *key, int *out);
    int (*param_string)(lp_host *h, const char *key, const char **out);
    int (*param_list_size)(lp_host *h, const char *key, size_t *out);
    int (*param_list_string)(lp_host *h, const char *key, size_t index, const char **out);

    /* Artifacts. inputs are the names the chain lists for this stage;
   * artifact_get() fetches one into a local folder and returns its path in
   * *path_out; artifact_put() publishes a local folder as this stage's output
   * (the name comes from the chain). */
    size_t (*input_count)(lp_host *h);
    const char *(*input_name)(lp_host *h, size_t index);
    const char *(*output_name)(lp_host *h); /* NULL if the stage has none */
    int (*artifact_get)(lp_host *h, const char *name, const char **path_out);
    int (*artifact_put)(lp_host *h, const char *local_dir);

    /* Progress for the live view (done out of total units, e.g. steps). */
    void (*progress)(lp_host *h, int64_t done, int64_t total);
    /* Non-zero once the host asked the stage to stop (SIGINT, SIGTERM, remote
   * stop). Long loops poll this and return cleanly. */
    int (*cancelled)(lp_host *h);
    /* The message of the last failed call on this thread, or "". */
    const char *(*last_error)(lp_host *h);
    /* New entries go here, at the end. */
} lp_host_services;

/* ---- stage descriptor ---------------------------------------------------- */

typedef struct lp_stage_desc {
    uint32_t size;      /* sizeof(lp_stage_desc) as compiled into the plugin */
    uint16_t abi_major; /* LP_ABI_MAJOR the plugin was built against */
    uint16_t abi_minor;
    const char *name;        /* what a chain writes as `plugin = "..."` */
    const char *version;     /* the plugin's own version */
    const char *description; /* one line */
    const lp_param_spec *params;
    uint32_t param_count;

    /* Build the stage. Return 0 and set *state, or non-zero with a one-line
   * reason in err. `host` stays valid until destroy() returns. */
    int (*create)(const lp_host_services *host, void **state, char *err, size_t err_size);
    /* Do the work; return 0 on success (including a clean stop after
   * cancellation with a usable output), non-zero with a reason in err. */
    int (*run)(void *state, char *err, size_t err_size);
    /* Ask run() to return early. Called from another thread; must only set a
   * flag. May be NULL: the stage then polls host->cancelled(). */
    void (*request_stop)(void *state);
    void (*destroy)(void *state);

    /* ---- ABI 1.1 ---- */
    uint32_t flags; /* LP_STAGE_* below */
                    /* New fields go here, at the end. */
} lp_stage_desc;

/* flags (ABI 1.1; a 1.0 plugin has none). */
#define LP_STAGE_RESUMABLE 0x1u /* restarts from its own in-stage checkpoint */

/* The fixed prefix every ABI 1.x descriptor has (the 1.0 layout); a
 * descriptor whose size is smaller is refused. */
#define LP_STAGE_DESC_MIN_SIZE (offsetof(lp_stage_desc, destroy) + sizeof(void *))

typedef const lp_stage_desc *(*lp_entry_fn)(void);

/* Convenience for plugin authors: fills size and ABI from these headers. */
#define LP_STAGE_DESC_INIT .size = sizeof(lp_stage_desc), .abi_major = LP_ABI_MAJOR, .abi_minor = LP_ABI_MINOR

#ifdef __cplusplus
}
#endif
#endif
