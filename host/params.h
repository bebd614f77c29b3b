/* Stage parameters against a plugin's schema: unknown keys refused (with a
 * "did you mean"), types checked, defaults filled, and the typed reads a
 * stage makes through lp_host_services. The host's chain loader and the
 * tests' fake host (tests/support) both use this, so a stage run in a test
 * sees exactly the parameters `llmpipe run` would give it. */
#ifndef LP_HOST_PARAMS_H
#define LP_HOST_PARAMS_H

#include <jansson.h>
#include <libconfig.h>
#include <stdint.h>
#include <stdio.h>

#include "llmpipe/error.h"
#include "llmpipe/plugin.h"

/* Where problems go: one `file:line: message` line each on `errs`, counted,
 * so a checker reports every problem rather than the first. */
typedef struct lp_cfg_log {
    const char *path; /* the file named when a setting has no source */
    FILE *errs;
    int errors;
} lp_cfg_log;

void lp_cfg_report(lp_cfg_log *L, const config_setting_t *s, const char *fmt, ...) LP_PRINTF(3, 4);

/* "an integer", "a string", ... for a CONFIG_TYPE_* value. */
const char *lp_cfg_type_name(int config_type);
/* "int", "float", ... as `llmpipe plugins` prints a schema. */
const char *lp_param_type_name(lp_param_type t);

/* Reports every member of `group` whose name is not in `known`. */
void lp_cfg_check_keys(lp_cfg_log *L, const config_setting_t *group, const char *const *known, size_t nknown,
                       const char *where);

/* Sets group.name to `value` parsed as a libconfig scalar or array ("3",
 * "1e-3", "true", "\"x\"", "[\"a\"]"); text that does not parse is taken as
 * a string, so `--set name=demo` needs no shell-quoted quotes. An earlier
 * value is replaced. 0, or -1 when `name` cannot be set in `group`. */
int lp_cfg_set_value(config_setting_t *group, const char *name, const char *value);

/* The parameters of `stage_setting` (its `params` group, which may be
 * absent) against the schema of `desc`: every schema parameter typed and
 * defaulted in a JSON object (optional ones without a default are absent).
 * Problems are reported to L; the object is returned either way.
 * `plugin_file` names the plugin in a bad-default message. */
json_t *lp_params_resolve(lp_cfg_log *L, const char *stage, const lp_stage_desc *desc,
                          const char *plugin_file, const config_setting_t *stage_setting);

/* Typed reads of resolved parameters, as lp_host_services hands them to a
 * stage: LP_OK, or LP_ERR_NOTFOUND / LP_ERR_TYPE with a message in err. */
int lp_params_int(const json_t *params, const char *key, int64_t *out, char *err, size_t n);
int lp_params_float(const json_t *params, const char *key, double *out, char *err, size_t n);
int lp_params_bool(const json_t *params, const char *key, int *out, char *err, size_t n);
int lp_params_string(const json_t *params, const char *key, const char **out, char *err, size_t n);
int lp_params_list_size(const json_t *params, const char *key, size_t *out, char *err, size_t n);
int lp_params_list_string(const json_t *params, const char *key, size_t index, const char **out, char *err,
                          size_t n);

#endif
