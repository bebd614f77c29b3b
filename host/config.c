#include "host/config.h"

#include <libconfig.h>
#include <lpk/kernels.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/util.h"
#include "llmpipe/fsutil.h"

/* The chain checks report through the shared reporter of host/params.h. */
typedef lp_cfg_log loader;
#define report lp_cfg_report

static const char *const global_keys[] = {
    "name",        "run_dir",    "seed",  "device",       "threads",
    "plugin_path", "endpoints",  "curve", "stop_grace_s", "heartbeat_timeout_s",
    "chain",       "cpu_backend"};
static const char *const stage_keys[] = {"name",   "plugin", "inputs", "output",
                                         "params", "remote", "device", "threads"};
static const char *const endpoint_keys[] = {"control", "store", "metrics_in", "metrics_out"};
static const char *const curve_keys[] = {"server_public_key", "server_secret_key"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Typed getters that tell "absent" from "wrong type" and report the latter. */
static const config_setting_t *member(const config_setting_t *g, const char *key) {
    return g ? config_setting_get_member(g, key) : NULL;
}

static char *get_string(loader *L, const config_setting_t *g, const char *key, const char *fallback,
                        const char *where) {
    const config_setting_t *s = member(g, key);
    if (s == NULL) return fallback ? strdup(fallback) : NULL;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        report(L, s, "%s: '%s' must be a string, not %s", where, key,
               lp_cfg_type_name(config_setting_type(s)));
        return fallback ? strdup(fallback) : NULL;
    }
    return strdup(config_setting_get_string(s));
}

static long long get_int(loader *L, const config_setting_t *g, const char *key, long long fallback,
                         const char *where) {
    const config_setting_t *s = member(g, key);
    if (s == NULL) return fallback;
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
        report(L, s, "%s: '%s' must be an integer, not %s", where, key, lp_cfg_type_name(t));
        return fallback;
    }
    return config_setting_get_int64(s);
}

static double get_float(loader *L, const config_setting_t *g, const char *key, double fallback,
                        const char *where) {
    const config_setting_t *s = member(g, key);
    if (s == NULL) return fallback;
    int t = config_setting_type(s);
    if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) return (double)config_setting_get_int64(s);
    if (t != CONFIG_TYPE_FLOAT) {
        report(L, s, "%s: '%s' must be a number, not %s", where, key, lp_cfg_type_name(t));
        return fallback;
    }
    return config_setting_get_float(s);
}

static int get_bool(loader *L, const config_setting_t *g, const char *key, int fallback, const char *where) {
    const config_setting_t *s = member(g, key);
    if (s == NULL) return fallback;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        report(L, s, "%s: '%s' must be true or false, not %s", where, key,
               lp_cfg_type_name(config_setting_type(s)));
        return fallback;
    }
    return config_setting_get_bool(s);
}

/* A list or array of strings; a single string is accepted as a list of one. */
static char **get_strings(loader *L, const config_setting_t *g, const char *key, size_t *count,
                          const char *where) {
    *count = 0;
    const config_setting_t *s = member(g, key);
    if (s == NULL) return NULL;
    int t = config_setting_type(s);
    if (t == CONFIG_TYPE_STRING) {
        char **v = malloc(sizeof *v);
        v[0] = strdup(config_setting_get_string(s));
        *count = 1;
        return v;
    }
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
        report(L, s, "%s: '%s' must be a list of strings, not %s", where, key, lp_cfg_type_name(t));
        return NULL;
    }
    int n = config_setting_length(s);
    char **v = calloc((size_t)n + 1, sizeof *v);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            report(L, e, "%s: '%s' must be a list of strings; element %d is %s", where, key, i + 1,
                   lp_cfg_type_name(config_setting_type(e)));
            continue;
        }
        v[(*count)++] = strdup(config_setting_get_string(e));
    }
    return v;
}

static void free_strings(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* ---- --set KEY=VALUE ------------------------------------------------------ */

/* The value is parsed as a libconfig scalar or array ("3", "1e-3", "true",
 * "\"x\"", "[\"a\"]"); anything that does not parse is taken as a string, so
 * `--set name=demo` works without shell-quoted quotes. */
static int apply_set(loader *L, config_t *cfg, const char *kv) {
    const char *eq = strchr(kv, '=');
    if (eq == NULL || eq == kv) {
        fprintf(L->errs, "--set %s: expected KEY=VALUE\n", kv);
        L->errors++;
        return -1;
    }
    char key[256];
    size_t klen = (size_t)(eq - kv);
    if (klen >= sizeof key) klen = sizeof key - 1;
    memcpy(key, kv, klen);
    key[klen] = '\0';
    const char *value = eq + 1;

    /* Find the parent group: "a.b.c" -> group "a.b", name "c". A stage is
   * addressed by its name ("pretrain.lr"); keys that are not stage keys go
   * into the stage's params group. */
    config_setting_t *parent = config_root_setting(cfg);
    char *save = NULL, *parts[8];
    int nparts = 0;
    for (char *tok = strtok_r(key, ".", &save); tok && nparts < 8; tok = strtok_r(NULL, ".", &save))
        parts[nparts++] = tok;
    if (nparts == 0) return -1;
    int first = 0;
    config_setting_t *chain = config_lookup(cfg, "chain");
    if (nparts >= 2 && chain) {
        for (int i = 0; i < config_setting_length(chain); i++) {
            config_setting_t *st = config_setting_get_elem(chain, (unsigned)i);
            const char *nm = NULL;
            if (config_setting_lookup_string(st, "name", &nm) && strcmp(nm, parts[0]) == 0) {
                parent = st;
                first = 1;
                int is_stage_key = 0;
                for (size_t k = 0; k < COUNT(stage_keys); k++)
                    is_stage_key |= strcmp(parts[1], stage_keys[k]) == 0;
                if (!is_stage_key && nparts == 2) {
                    config_setting_t *params = config_setting_get_member(st, "params");
                    if (params == NULL) params = config_setting_add(st, "params", CONFIG_TYPE_GROUP);
                    parent = params;
                }
                break;
            }
        }
    }
    for (int i = first; i < nparts - 1; i++) {
        config_setting_t *next = config_setting_get_member(parent, parts[i]);
        if (next == NULL) next = config_setting_add(parent, parts[i], CONFIG_TYPE_GROUP);
        if (next == NULL || !config_setting_is_group(next)) {
            fprintf(L->errs, "--set %s: '%s' is not a group\n", kv, parts[i]);
            L->errors++;
            return -1;
        }
        parent = next;
    }
    if (lp_cfg_set_value(parent, parts[nparts - 1], value) != 0) {
        fprintf(L->errs, "--set %s: cannot set '%s' here\n", kv, parts[nparts - 1]);
        L->errors++;
        return -1;
    }
    return 0;
}

/* ---- the chain ------------------------------------------------------------ */

static char *dir_of(const char *path) {
    char d[4096];
    lp_parent_dir(path, d, sizeof d);
    return strdup(d);
}

static char *base_name_no_ext(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    char *n = strdup(b);
    char *dot = strrchr(n, '.');
    if (dot && dot != n) *dot = '\0';
    return n;
}

static void load_stage(loader *L, lp_chain *c, const lp_plugin_path *pp, config_setting_t *s, size_t index) {
    lp_stage_cfg *st = &c->stages[index];
    char where[64];
    snprintf(where, sizeof where, "stage #%zu", index + 1);
    st->src_file = strdup(config_setting_source_file(s) ? config_setting_source_file(s) : L->path);
    st->src_line = (int)config_setting_source_line(s);
    if (!config_setting_is_group(s)) {
        report(L, s, "%s of 'chain' must be a group { name = ...; plugin = ...; }", where);
        return;
    }
    lp_cfg_check_keys(L, s, stage_keys, COUNT(stage_keys), where);
    st->name = get_string(L, s, "name", NULL, where);
    if (st->name == NULL) {
        report(L, s, "%s: missing required key 'name'", where);
        st->name = strdup(where);
    }
    snprintf(where, sizeof where, "stage '%s'", st->name);
    for (size_t j = 0; j < index; j++)
        if (c->stages[j].name && strcmp(c->stages[j].name, st->name) == 0)
            report(L, s, "%s: a stage with this name already exists (line %d)", where, c->stages[j].src_line);
    st->plugin = get_string(L, s, "plugin", NULL, where);
    st->output = get_string(L, s, "output", NULL, where);
    st->inputs = get_strings(L, s, "inputs", &st->input_count, where);
    st->remote = get_bool(L, s, "remote", 0, where);
    st->device = get_string(L, s, "device", c->device, where);
    st->threads = (int)get_int(L, s, "threads", c->threads, where);
    if (st->threads < 1) {
        report(L, member(s, "threads"), "%s: 'threads' must be at least 1", where);
        st->threads = 1;
    }
    if (strcmp(st->device, "cpu") != 0 && strcmp(st->device, "cuda") != 0)
        report(L, member(s, "device"),
               "%s: device must be \"cpu\" or \"cuda\", "
               "not \"%s\"",
               where, st->device);
    /* Pre-flight: a stage run here must find its kernel backend now, not
   * after earlier stages ran. A remote worker checks its own machine. */
    if (!st->remote && strcmp(st->device, "cuda") == 0) {
        char why[4096];
        if (!lpk_backend_available("cuda", why, sizeof why))
            report(L, member(s, "device") ? member(s, "device") : s, "%s: %s", where, why);
    }

    /* Inputs come from earlier stages only. */
    for (size_t i = 0; i < st->input_count; i++) {
        int found = 0;
        for (size_t j = 0; j < index && !found; j++)
            found = c->stages[j].output && strcmp(c->stages[j].output, st->inputs[i]) == 0;
        if (!found) {
            const config_setting_t *in = member(s, "inputs");
            const char **outs = calloc(index + 1, sizeof *outs);
            size_t n = 0;
            for (size_t j = 0; j < index; j++)
                if (c->stages[j].output) outs[n++] = c->stages[j].output;
            const char *hint = lp_did_you_mean(st->inputs[i], outs, n);
            if (hint)
                report(L, in,
                       "%s: input '%s' is not produced by an earlier stage "
                       "(did you mean '%s'?)",
                       where, st->inputs[i], hint);
            else
                report(L, in, "%s: input '%s' is not produced by an earlier stage", where, st->inputs[i]);
            free(outs);
        }
    }
    if (st->output)
        for (size_t j = 0; j < index; j++)
            if (c->stages[j].output && strcmp(c->stages[j].output, st->output) == 0)
                report(L, member(s, "output"),
                       "%s: output '%s' is already produced "
                       "by stage '%s' (line %d)",
                       where, st->output, c->stages[j].name, c->stages[j].src_line);

    if (st->plugin == NULL) {
        report(L, s, "%s: missing required key 'plugin'", where);
        return;
    }
    char *file = lp_plugin_find(pp, st->plugin);
    if (file == NULL) {
        char **files = NULL;
        size_t n = lp_plugin_list_files(pp, &files);
        const char **names = calloc(n + 1, sizeof *names);
        for (size_t i = 0; i < n; i++) {
            char *b = base_name_no_ext(files[i]);
            names[i] = b;
        }
        const char *hint = lp_did_you_mean(st->plugin, names, n);
        report(L, member(s, "plugin"),
               "%s: unknown plugin '%s'%s%s%s (searched %zu "
               "folders; see `llmpipe plugins`)",
               where, st->plugin, hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "",
               pp->count);
        for (size_t i = 0; i < n; i++) {
            free((char *)names[i]);
            free(files[i]);
        }
        free(names);
        free(files);
        return;
    }
    char err[1024];
    if (lp_plugin_open(file, st->plugin, &st->loaded, err, sizeof err) != 0) {
        report(L, member(s, "plugin"), "%s: %s", where, err);
        free(file);
        return;
    }
    free(file);
    st->params = lp_params_resolve(L, st->name, st->loaded.desc, st->loaded.path, s);
}

lp_chain *lp_chain_load(const char *path, const char *const *sets, size_t set_count, FILE *errs) {
    loader L = {.path = path, .errs = errs, .errors = 0};
    config_t cfg;
    config_init(&cfg);
    char *dir = dir_of(path);
    config_set_include_dir(&cfg, dir);
    if (config_read_file(&cfg, path) != CONFIG_TRUE) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            fprintf(errs, "%s: cannot read config file\n", path);
        else
            fprintf(errs, "%s:%d: %s\n", config_error_file(&cfg) ? config_error_file(&cfg) : path,
                    config_error_line(&cfg), config_error_text(&cfg));
        config_destroy(&cfg);
        free(dir);
        return NULL;
    }
    for (size_t i = 0; i < set_count; i++) apply_set(&L, &cfg, sets[i]);

    lp_chain *c = calloc(1, sizeof *c);
    c->config_path = strdup(path);
    const config_setting_t *root = config_root_setting(&cfg);
    lp_cfg_check_keys(&L, root, global_keys, COUNT(global_keys), "the global settings");
    char *base = base_name_no_ext(path);
    c->name = get_string(&L, root, "name", base, "global");
    free(base);
    char def_dir[512];
    snprintf(def_dir, sizeof def_dir, "runs/%s", c->name);
    c->run_dir = get_string(&L, root, "run_dir", def_dir, "global");
    c->seed = (uint64_t)get_int(&L, root, "seed", 1234, "global");
    c->device = get_string(&L, root, "device", "cpu", "global");
    long def_threads = sysconf(_SC_NPROCESSORS_ONLN);
    const char *omp = getenv("OMP_NUM_THREADS");
    if (omp && atoi(omp) > 0) def_threads = atoi(omp);
    if (def_threads < 1) def_threads = 1;
    c->threads = (int)get_int(&L, root, "threads", def_threads, "global");
    if (c->threads < 1) {
        report(&L, member(root, "threads"), "global: 'threads' must be at least 1");
        c->threads = 1;
    }
    c->cpu_backend = get_string(&L, root, "cpu_backend", NULL, "global");
    if (c->cpu_backend) {
        static const char *const builds[] = {"auto", "x86-64-v2", "avx2", "avx512"};
        int known = 0;
        for (size_t i = 0; i < COUNT(builds) && !known; i++) known = strcmp(c->cpu_backend, builds[i]) == 0;
        char name[64], why[4096];
        snprintf(name, sizeof name, "cpu:%s", c->cpu_backend);
        if (!known)
            report(&L, member(root, "cpu_backend"),
                   "global: cpu_backend must be \"auto\", \"x86-64-v2\", \"avx2\" or "
                   "\"avx512\", not \"%s\"",
                   c->cpu_backend);
        else if (!lpk_backend_available(name, why, sizeof why))
            report(&L, member(root, "cpu_backend"), "global: cpu_backend \"%s\": %s", c->cpu_backend, why);
    }
    c->stop_grace_s = get_float(&L, root, "stop_grace_s", 30.0, "global");
    c->heartbeat_timeout_s = get_float(&L, root, "heartbeat_timeout_s", 30.0, "global");

    /* Plugin folders are relative to the config file, so a chain and the
   * plugins beside it move together. */
    size_t ndirs = 0;
    char **dirs = get_strings(&L, root, "plugin_path", &ndirs, "global");
    c->plugin_dirs = calloc(ndirs + 1, sizeof *c->plugin_dirs);
    for (size_t i = 0; i < ndirs; i++) {
        if (dirs[i][0] == '/') {
            c->plugin_dirs[i] = strdup(dirs[i]);
        } else {
            size_t n = strlen(dir) + strlen(dirs[i]) + 2;
            c->plugin_dirs[i] = malloc(n);
            snprintf(c->plugin_dirs[i], n, "%s/%s", dir, dirs[i]);
        }
    }
    c->plugin_dir_count = ndirs;
    free_strings(dirs, ndirs);

    const config_setting_t *eps = member(root, "endpoints");
    if (eps && !config_setting_is_group(eps)) {
        report(&L, eps, "global: 'endpoints' must be a group");
        eps = NULL;
    }
    if (eps) lp_cfg_check_keys(&L, eps, endpoint_keys, COUNT(endpoint_keys), "endpoints");
    c->ep_control = get_string(&L, eps, "control", NULL, "endpoints");
    c->ep_store = get_string(&L, eps, "store", NULL, "endpoints");
    c->ep_metrics_in = get_string(&L, eps, "metrics_in", NULL, "endpoints");
    c->ep_metrics_out = get_string(&L, eps, "metrics_out", "tcp://127.0.0.1:5557", "endpoints");
    const config_setting_t *curve = member(root, "curve");
    if (curve && !config_setting_is_group(curve)) {
        report(&L, curve, "global: 'curve' must be a group");
        curve = NULL;
    }
    if (curve) lp_cfg_check_keys(&L, curve, curve_keys, COUNT(curve_keys), "curve");
    c->curve_public = get_string(&L, curve, "server_public_key", NULL, "curve");
    c->curve_secret = get_string(&L, curve, "server_secret_key", NULL, "curve");
    if (curve && (!c->curve_public || !c->curve_secret || strlen(c->curve_public) != 40 ||
                  strlen(c->curve_secret) != 40))
        report(&L, curve,
               "curve: needs server_public_key and server_secret_key, "
               "each 40 Z85 characters (make them with `llmpipe keygen`)");
    if (strcmp(c->device, "cpu") != 0 && strcmp(c->device, "cuda") != 0)
        report(&L, member(root, "device"), "global: device must be \"cpu\" or \"cuda\", not \"%s\"",
               c->device);

    lp_plugin_path pp;
    lp_plugin_path_init(&pp, (const char *const *)c->plugin_dirs, c->plugin_dir_count);
    config_setting_t *chain = config_lookup(&cfg, "chain");
    if (chain == NULL) {
        report(&L, NULL,
               "missing 'chain': a list ( { name = ...; plugin = ...; }, "
               "... ) of stages");
    } else if (!config_setting_is_list(chain) && !config_setting_is_array(chain)) {
        report(&L, chain, "'chain' must be a list ( { ... }, { ... } ), not %s",
               lp_cfg_type_name(config_setting_type(chain)));
    } else {
        c->stage_count = (size_t)config_setting_length(chain);
        c->stages = calloc(c->stage_count + 1, sizeof *c->stages);
        for (size_t i = 0; i < c->stage_count; i++)
            load_stage(&L, c, &pp, config_setting_get_elem(chain, (unsigned)i), i);
        if (c->stage_count == 0) report(&L, chain, "'chain' has no stages");
    }
    lp_plugin_path_free(&pp);
    config_destroy(&cfg);
    free(dir);
    if (L.errors) {
        lp_chain_free(c);
        return NULL;
    }
    return c;
}

void lp_chain_free(lp_chain *c) {
    if (c == NULL) return;
    for (size_t i = 0; i < c->stage_count; i++) {
        lp_stage_cfg *s = &c->stages[i];
        free(s->name);
        free(s->plugin);
        free(s->output);
        free_strings(s->inputs, s->input_count);
        free(s->device);
        free(s->src_file);
        json_decref(s->params);
        lp_plugin_close(&s->loaded);
    }
    free(c->stages);
    free_strings(c->plugin_dirs, c->plugin_dir_count);
    free(c->config_path);
    free(c->name);
    free(c->run_dir);
    free(c->device);
    free(c->cpu_backend);
    free(c->ep_control);
    free(c->ep_store);
    free(c->ep_metrics_in);
    free(c->ep_metrics_out);
    free(c->curve_public);
    free(c->curve_secret);
    free(c);
}

const lp_stage_cfg *lp_chain_stage(const lp_chain *c, const char *name) {
    for (size_t i = 0; i < c->stage_count; i++)
        if (strcmp(c->stages[i].name, name) == 0) return &c->stages[i];
    return NULL;
}

json_t *lp_stage_to_json(const lp_chain *c, const lp_stage_cfg *s) {
    (void)c;
    json_t *inputs = json_array();
    for (size_t i = 0; i < s->input_count; i++) json_array_append_new(inputs, json_string(s->inputs[i]));
    return json_pack("{s:s, s:s, s:s?, s:o, s:b, s:s, s:i, s:O}", "name", s->name, "plugin", s->plugin,
                     "output", s->output, "inputs", inputs, "remote", s->remote, "device", s->device,
                     "threads", s->threads, "params", s->params);
}

json_t *lp_chain_to_json(const lp_chain *c) {
    json_t *stages = json_array();
    for (size_t i = 0; i < c->stage_count; i++)
        json_array_append_new(stages, lp_stage_to_json(c, &c->stages[i]));
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:s?, s:i, s:o}", "config", c->config_path, "name", c->name,
                     "run_dir", c->run_dir, "seed", (json_int_t)c->seed, "device", c->device, "cpu_backend",
                     c->cpu_backend, "threads", c->threads, "chain", stages);
}
