/* Finding plugin files and loading them with every ABI check the host makes
 * before it trusts a descriptor. */
#ifndef LP_HOST_PLUGIN_LOADER_H
#define LP_HOST_PLUGIN_LOADER_H

#include <stddef.h>

#include "llmpipe/plugin.h"

typedef struct lp_plugin {
    char *path;
    void *handle;
    const lp_stage_desc *desc;
} lp_plugin;

/* The folders searched, in order: the config's plugin_path entries, then
 * LLMPIPE_PLUGIN_PATH (colon separated), then the built-in folder beside the
 * executable. */
typedef struct lp_plugin_path {
    char **dirs;
    size_t count;
} lp_plugin_path;

void lp_plugin_path_init(lp_plugin_path *pp, const char *const *config_dirs, size_t config_count);
void lp_plugin_path_free(lp_plugin_path *pp);

/* The file for plugin `name`: DIR/NAME.so or DIR/NAME/NAME.so in the first
 * folder that has one. Returns a malloc'd path or NULL. */
char *lp_plugin_find(const lp_plugin_path *pp, const char *name);

/* Every shared object on the path (also one folder down), as malloc'd
 * paths; the first occurrence of each file name wins, as in lp_plugin_find. */
size_t lp_plugin_list_files(const lp_plugin_path *pp, char ***files_out);

/* dlopen + checks. On failure returns -1 and one line in err naming the file
 * and, for version problems, both ABI versions. `expected_name` may be NULL. */
int lp_plugin_open(const char *path, const char *expected_name, lp_plugin *out, char *err, size_t err_size);
void lp_plugin_close(lp_plugin *p);

#endif
