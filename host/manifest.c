#include "host/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host/util.h"
#include "llmpipe/clock.h"
#include "llmpipe/error.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/version.h"

struct lp_manifest {
    char path[4096];
    json_t *root;
};

static json_t *stage_entry(json_t *root, const char *stage) {
    json_t *stages = json_object_get(root, "stages");
    size_t i;
    json_t *s;
    json_array_foreach(stages, i, s) {
        if (strcmp(json_string_value(json_object_get(s, "name")), stage) == 0) return s;
    }
    return NULL;
}

lp_manifest *lp_manifest_open(const lp_chain *chain, int resume, char *err, size_t err_size) {
    lp_manifest *m = calloc(1, sizeof *m);
    snprintf(m->path, sizeof m->path, "%s/manifest.json", chain->run_dir);
    struct stat st;
    int exists = stat(m->path, &st) == 0;
    json_t *resolved = lp_chain_to_json(chain);
    if (exists && !resume) {
        lp_errf(err, err_size,
                "%s: the run folder already holds a run; add --resume to continue "
                "it, or set another run_dir (or remove the folder)",
                m->path);
        json_decref(resolved);
        free(m);
        return NULL;
    }
    if (exists) {
        json_error_t je;
        m->root = json_load_file(m->path, 0, &je);
        if (m->root == NULL || !json_is_array(json_object_get(m->root, "stages"))) {
            lp_errf(err, err_size, "%s:%d: unreadable manifest: %s", m->path, je.line,
                    m->root ? "no stages" : je.text);
            json_decref(m->root);
            json_decref(resolved);
            free(m);
            return NULL;
        }
        /* A stage already done may be skipped only if its settings are the same
     * as now; otherwise its artifact no longer matches the chain. */
        json_t *chain_now = json_object_get(resolved, "chain");
        size_t i;
        json_t *now;
        json_array_foreach(chain_now, i, now) {
            const char *name = json_string_value(json_object_get(now, "name"));
            json_t *old = stage_entry(m->root, name);
            if (old == NULL) {
                json_t *e = json_pack("{s:s, s:s, s:O}", "name", name, "state", "pending", "settings", now);
                json_array_append_new(json_object_get(m->root, "stages"), e);
                continue;
            }
            const char *state = json_string_value(json_object_get(old, "state"));
            if (state && strcmp(state, "done") == 0 && !json_equal(json_object_get(old, "settings"), now)) {
                lp_errf(err, err_size,
                        "%s: stage '%s' is done but its settings changed since; "
                        "resume would mix two chains (use a new run_dir)",
                        m->path, name);
                json_decref(m->root);
                json_decref(resolved);
                free(m);
                return NULL;
            }
            json_object_set(old, "settings", now);
        }
        json_object_set_new(m->root, "config", resolved);
        return m;
    }
    m->root = json_object();
    char when[64];
    lp_iso_time(lp_wall_s(), when, sizeof when);
    json_object_set_new(m->root, "llmpipe", json_string(LP_SDK_VERSION_STRING));
    json_object_set_new(m->root, "created", json_string(when));
    json_t *stages = json_array();
    json_t *chain_now = json_object_get(resolved, "chain");
    size_t i;
    json_t *now;
    json_array_foreach(chain_now, i, now) {
        json_array_append_new(stages, json_pack("{s:O, s:s, s:O}", "name", json_object_get(now, "name"),
                                                "state", "pending", "settings", now));
    }
    json_object_set_new(m->root, "stages", stages);
    json_object_set_new(m->root, "config", resolved);
    return m;
}

void lp_manifest_destroy(lp_manifest *m) {
    if (m == NULL) return;
    json_decref(m->root);
    free(m);
}

const char *lp_manifest_state(const lp_manifest *m, const char *stage) {
    json_t *s = stage_entry(m->root, stage);
    return s ? json_string_value(json_object_get(s, "state")) : NULL;
}

void lp_manifest_set_state(lp_manifest *m, const char *stage, const char *state, const char *reason) {
    json_t *s = stage_entry(m->root, stage);
    if (s == NULL) return;
    char when[64];
    lp_iso_time(lp_wall_s(), when, sizeof when);
    json_object_set_new(s, "state", json_string(state));
    if (strcmp(state, "running") == 0) {
        json_object_set_new(s, "started", json_string(when));
        json_object_del(s, "finished");
        json_object_del(s, "error");
    } else if (strcmp(state, "pending") != 0) {
        json_object_set_new(s, "finished", json_string(when));
    }
    if (reason) json_object_set_new(s, "error", json_string(reason));
}

void lp_manifest_set_artifact(lp_manifest *m, const char *stage, const char *name, const char *hash) {
    json_t *s = stage_entry(m->root, stage);
    if (s == NULL) return;
    json_object_set_new(s, "artifact", json_pack("{s:s, s:s}", "name", name, "sha256", hash));
}

const char *lp_manifest_artifact_hash(const lp_manifest *m, const char *stage) {
    json_t *s = stage_entry(m->root, stage);
    return s ? json_string_value(json_object_get(json_object_get(s, "artifact"), "sha256")) : NULL;
}

int lp_manifest_save(lp_manifest *m, char *err, size_t err_size) {
    char when[64];
    lp_iso_time(lp_wall_s(), when, sizeof when);
    json_object_set_new(m->root, "updated", json_string(when));
    char *text = json_dumps(m->root, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (text == NULL) return lp_errf(err, err_size, "%s: cannot serialise manifest", m->path);
    size_t n = strlen(text);
    int rc = lp_write_file_atomic(m->path, text, n, err, err_size);
    free(text);
    return rc;
}
