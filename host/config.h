/* Loading and validating a chain file: libconfig in, a checked lp_chain out.
 * Everything that can be known before running is checked here, and every
 * problem is reported as `file:line: message` (all of them, not just the
 * first), so `validate` and `run` fail fast with exit status 2. */
#ifndef LP_HOST_CONFIG_H
#define LP_HOST_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "host/params.h"
#include "host/plugin_loader.h"

typedef struct lp_stage_cfg {
    char *name;
    char *plugin; /* plugin name as written */
    char *output; /* NULL: the stage produces no artifact */
    char **inputs;
    size_t input_count;
    int remote; /* waits for `llmpipe worker --connect` */
    char *device;
    int threads;
    lp_plugin loaded; /* descriptor, for the schema and the listing */
    json_t *params;   /* every schema parameter, defaults filled, typed */
    char *src_file;
    int src_line;
} lp_stage_cfg;

typedef struct lp_chain {
    char *config_path;
    char *name;
    char *run_dir;
    uint64_t seed;
    char *device;
    int threads;
    /* CPU kernel build for every worker (auto, x86-64-v2, avx2, avx512);
   * NULL when not set: the workers' LLMPIPE_CPU_BACKEND, else auto */
    char *cpu_backend;
    char **plugin_dirs;
    size_t plugin_dir_count;
    char *ep_control, *ep_store, *ep_metrics_in, *ep_metrics_out;
    char *curve_public, *curve_secret; /* Z85 server keys, or NULL */
    double stop_grace_s;
    double heartbeat_timeout_s;
    lp_stage_cfg *stages;
    size_t stage_count;
} lp_chain;

/* Loads `path`, applies `KEY=VALUE` overrides, checks everything. Problems go
 * to `errs` one per line; returns NULL if there was any. */
lp_chain *lp_chain_load(const char *path, const char *const *sets, size_t set_count, FILE *errs);
void lp_chain_free(lp_chain *c);

/* The resolved chain (globals + stages with filled parameters). */
json_t *lp_chain_to_json(const lp_chain *c);
json_t *lp_stage_to_json(const lp_chain *c, const lp_stage_cfg *s);

const lp_stage_cfg *lp_chain_stage(const lp_chain *c, const char *name);

#endif
