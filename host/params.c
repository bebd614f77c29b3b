#include "host/params.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "host/util.h"

void lp_cfg_report(lp_cfg_log *L, const config_setting_t *s, const char *fmt, ...) {
    const char *file = s ? config_setting_source_file(s) : NULL;
    int line = s ? (int)config_setting_source_line(s) : 0;
    if (file == NULL) file = L->path;
    if (line > 0)
        fprintf(L->errs, "%s:%d: ", file, line);
    else if (s != NULL)
        fprintf(L->errs, "%s: (--set) ", file);
    else
        fprintf(L->errs, "%s: ", file);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(L->errs, fmt, ap);
    va_end(ap);
    fputc('\n', L->errs);
    L->errors++;
}

const char *lp_cfg_type_name(int t) {
    switch (t) {
        case CONFIG_TYPE_GROUP: return "a group";
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64: return "an integer";
        case CONFIG_TYPE_FLOAT: return "a float";
        case CONFIG_TYPE_STRING: return "a string";
        case CONFIG_TYPE_BOOL: return "a boolean";
        case CONFIG_TYPE_ARRAY: return "an array";
        case CONFIG_TYPE_LIST: return "a list";
    }
    return "nothing";
}

const char *lp_param_type_name(lp_param_type t) {
    switch (t) {
        case LP_PARAM_INT: return "int";
        case LP_PARAM_FLOAT: return "float";
        case LP_PARAM_BOOL: return "bool";
        case LP_PARAM_STRING: return "string";
        case LP_PARAM_STRING_LIST: return "list of strings";
    }
    return "?";
}

void lp_cfg_check_keys(lp_cfg_log *L, const config_setting_t *group, const char *const *known, size_t nknown,
                       const char *where) {
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *key = config_setting_name(s);
        if (key == NULL) continue;
        int ok = 0;
        for (size_t k = 0; k < nknown && !ok; k++) ok = strcmp(key, known[k]) == 0;
        if (ok) continue;
        const char *hint = lp_did_you_mean(key, known, nknown);
        if (hint)
            lp_cfg_report(L, s, "unknown key '%s' in %s (did you mean '%s'?)", key, where, hint);
        else
            lp_cfg_report(L, s, "unknown key '%s' in %s", key, where);
    }
}

int lp_cfg_set_value(config_setting_t *group, const char *name, const char *value) {
    config_t tmp;
    config_init(&tmp);
    size_t blen = strlen(value) + 16;
    char *buf = malloc(blen);
    if (buf == NULL) {
        config_destroy(&tmp);
        return -1;
    }
    snprintf(buf, blen, "v = %s;", value);
    int parsed = config_read_string(&tmp, buf) == CONFIG_TRUE;
    free(buf);
    if (!parsed) {
        config_destroy(&tmp);
        config_init(&tmp);
        config_setting_t *v = config_setting_add(config_root_setting(&tmp), "v", CONFIG_TYPE_STRING);
        config_setting_set_string(v, value);
    }
    const config_setting_t *src = config_lookup(&tmp, "v");
    if (config_setting_get_member(group, name)) config_setting_remove(group, name);
    int type = config_setting_type(src);
    config_setting_t *dst = config_setting_add(group, name, type);
    if (dst == NULL) {
        config_destroy(&tmp);
        return -1;
    }
    switch (type) {
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64: config_setting_set_int64(dst, config_setting_get_int64(src)); break;
        case CONFIG_TYPE_FLOAT: config_setting_set_float(dst, config_setting_get_float(src)); break;
        case CONFIG_TYPE_BOOL: config_setting_set_bool(dst, config_setting_get_bool(src)); break;
        case CONFIG_TYPE_STRING: config_setting_set_string(dst, config_setting_get_string(src)); break;
        default:
            for (int i = 0; i < config_setting_length(src); i++) {
                const config_setting_t *e = config_setting_get_elem(src, (unsigned)i);
                if (config_setting_type(e) == CONFIG_TYPE_STRING)
                    config_setting_set_string_elem(dst, -1, config_setting_get_string(e));
            }
    }
    config_destroy(&tmp);
    return 0;
}

/* ---- parameters against the plugin schema -------------------------------- */

static json_t *coerce(json_t *v, lp_param_type t) {
    switch (t) {
        case LP_PARAM_INT: return json_is_integer(v) ? json_incref(v) : NULL;
        case LP_PARAM_FLOAT:
            if (json_is_number(v)) return json_real(json_number_value(v));
            return NULL;
        case LP_PARAM_BOOL: return json_is_boolean(v) ? json_incref(v) : NULL;
        case LP_PARAM_STRING: return json_is_string(v) ? json_incref(v) : NULL;
        case LP_PARAM_STRING_LIST: {
            if (json_is_string(v)) {
                json_t *a = json_array();
                json_array_append(a, v);
                return a;
            }
            if (!json_is_array(v)) return NULL;
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e) if (!json_is_string(e)) return NULL;
            return json_incref(v);
        }
    }
    return NULL;
}

static json_t *setting_to_json(const config_setting_t *s) {
    switch (config_setting_type(s)) {
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64: return json_integer(config_setting_get_int64(s));
        case CONFIG_TYPE_FLOAT: return json_real(config_setting_get_float(s));
        case CONFIG_TYPE_BOOL: return json_boolean(config_setting_get_bool(s));
        case CONFIG_TYPE_STRING: return json_string(config_setting_get_string(s));
        case CONFIG_TYPE_ARRAY:
        case CONFIG_TYPE_LIST: {
            json_t *a = json_array();
            for (int i = 0; i < config_setting_length(s); i++)
                json_array_append_new(a, setting_to_json(config_setting_get_elem(s, (unsigned)i)));
            return a;
        }
        case CONFIG_TYPE_GROUP: {
            json_t *o = json_object();
            for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                json_object_set_new(o, config_setting_name(e), setting_to_json(e));
            }
            return o;
        }
    }
    return json_null();
}

json_t *lp_params_resolve(lp_cfg_log *L, const char *stage, const lp_stage_desc *d, const char *plugin_file,
                          const config_setting_t *stage_setting) {
    const config_setting_t *params =
        stage_setting ? config_setting_get_member(stage_setting, "params") : NULL;
    json_t *out = json_object();
    if (params && !config_setting_is_group(params)) {
        lp_cfg_report(L, params, "stage '%s': 'params' must be a group { ... }", stage);
        params = NULL;
    }
    if (params) {
        const char **names = calloc(d->param_count + 1, sizeof *names);
        for (uint32_t i = 0; i < d->param_count; i++) names[i] = d->params[i].name;
        char where[300];
        snprintf(where, sizeof where, "the params of stage '%s' (plugin %s)", stage, d->name);
        lp_cfg_check_keys(L, params, (const char *const *)names, d->param_count, where);
        free(names);
    }
    for (uint32_t i = 0; i < d->param_count; i++) {
        const lp_param_spec *p = &d->params[i];
        const config_setting_t *s = params ? config_setting_get_member(params, p->name) : NULL;
        json_t *v = NULL;
        if (s) {
            json_t *raw = setting_to_json(s);
            v = coerce(raw, p->type);
            json_decref(raw);
            if (v == NULL) {
                lp_cfg_report(L, s, "stage '%s': parameter '%s' must be %s%s, not %s", stage, p->name,
                              p->type == LP_PARAM_INT ? "an " : "a ", lp_param_type_name(p->type),
                              lp_cfg_type_name(config_setting_type(s)));
                continue;
            }
        } else if (p->required) {
            lp_cfg_report(L, stage_setting, "stage '%s': missing required parameter '%s' (%s: %s)", stage,
                          p->name, lp_param_type_name(p->type), p->doc ? p->doc : "");
            continue;
        } else if (p->default_value) {
            json_error_t je;
            json_t *raw = json_loads(p->default_value, JSON_DECODE_ANY, &je);
            if (raw == NULL && p->type == LP_PARAM_STRING) raw = json_string(p->default_value);
            v = raw ? coerce(raw, p->type) : NULL;
            json_decref(raw);
            if (v == NULL) {
                lp_cfg_report(L, stage_setting,
                              "stage '%s': plugin %s has a bad default '%s' for "
                              "parameter '%s' (expected %s)",
                              stage, plugin_file, p->default_value, p->name, lp_param_type_name(p->type));
                continue;
            }
        } else {
            continue; /* optional without default: absent */
        }
        json_object_set_new(out, p->name, v);
    }
    return out;
}

/* ---- typed reads ----------------------------------------------------------- */

/* The value of `key`, or NULL with LP_ERR_NOTFOUND / LP_ERR_TYPE in *rc when
 * it is absent or `ok` rejects it. */
static const json_t *typed(const json_t *params, const char *key, int (*ok)(const json_t *), const char *what,
                           int *rc, char *err, size_t n) {
    const json_t *v = json_object_get(params, key);
    if (v == NULL) {
        *rc = LP_ERR_NOTFOUND;
        lp_errf(err, n, "no parameter '%s'", key);
        return NULL;
    }
    if (!ok(v)) {
        *rc = LP_ERR_TYPE;
        lp_errf(err, n, "parameter '%s' is not %s", key, what);
        return NULL;
    }
    *rc = LP_OK;
    return v;
}

static int is_integer(const json_t *v) { return json_is_integer(v); }
static int is_number(const json_t *v) { return json_is_number(v); }
static int is_boolean(const json_t *v) { return json_is_boolean(v); }
static int is_string(const json_t *v) { return json_is_string(v); }
static int is_array(const json_t *v) { return json_is_array(v); }

int lp_params_int(const json_t *params, const char *key, int64_t *out, char *err, size_t n) {
    int rc;
    const json_t *v = typed(params, key, is_integer, "an integer", &rc, err, n);
    if (v) *out = json_integer_value(v);
    return rc;
}

int lp_params_float(const json_t *params, const char *key, double *out, char *err, size_t n) {
    int rc;
    const json_t *v = typed(params, key, is_number, "a number", &rc, err, n);
    if (v) *out = json_number_value(v);
    return rc;
}

int lp_params_bool(const json_t *params, const char *key, int *out, char *err, size_t n) {
    int rc;
    const json_t *v = typed(params, key, is_boolean, "a boolean", &rc, err, n);
    if (v) *out = json_is_true(v);
    return rc;
}

int lp_params_string(const json_t *params, const char *key, const char **out, char *err, size_t n) {
    int rc;
    const json_t *v = typed(params, key, is_string, "a string", &rc, err, n);
    if (v) *out = json_string_value(v);
    return rc;
}

int lp_params_list_size(const json_t *params, const char *key, size_t *out, char *err, size_t n) {
    int rc;
    const json_t *v = typed(params, key, is_array, "a list", &rc, err, n);
    if (v) *out = json_array_size(v);
    return rc;
}

int lp_params_list_string(const json_t *params, const char *key, size_t index, const char **out, char *err,
                          size_t n) {
    int rc;
    const json_t *v = typed(params, key, is_array, "a list", &rc, err, n);
    if (v == NULL) return rc;
    const json_t *e = json_array_get(v, index);
    if (!json_is_string(e)) {
        lp_errf(err, n, "parameter '%s' has no string at index %zu", key, index);
        return LP_ERR_TYPE;
    }
    *out = json_string_value(e);
    return LP_OK;
}
