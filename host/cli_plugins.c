/* `llmpipe plugins [CONFIG]`: what the plugin path holds, and why any file on
 * it is not usable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/cli.h"
#include "host/config.h"
#include "host/plugin_loader.h"

int lp_cli_plugins(int argc, char **argv) {
    const char *const *dirs = NULL;
    size_t ndirs = 0;
    lp_chain *chain = NULL;
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        printf(
            "usage: llmpipe plugins [CONFIG]\nLists every plugin on the plugin "
            "path (CONFIG's plugin_path, then LLMPIPE_PLUGIN_PATH, then the "
            "built-in folder).\n");
        return 0;
    }
    if (argc > 1) {
        chain = lp_chain_load(argv[1], NULL, 0, stderr);
        if (chain == NULL) return 2;
        dirs = (const char *const *)chain->plugin_dirs;
        ndirs = chain->plugin_dir_count;
    }
    lp_plugin_path pp;
    lp_plugin_path_init(&pp, dirs, ndirs);
    printf("plugin path:\n");
    for (size_t i = 0; i < pp.count; i++) printf("  %s\n", pp.dirs[i]);
    char **files = NULL;
    size_t n = lp_plugin_list_files(&pp, &files);
    int bad = 0;
    printf("plugins:\n");
    for (size_t i = 0; i < n; i++) {
        lp_plugin p;
        char err[1024];
        if (lp_plugin_open(files[i], NULL, &p, err, sizeof err) != 0) {
            printf("  unusable: %s\n", err);
            bad++;
            free(files[i]);
            continue;
        }
        const lp_stage_desc *d = p.desc;
        printf("  %s %s (ABI %u.%u) %s\n      %s\n", d->name, d->version, d->abi_major, d->abi_minor, p.path,
               d->description ? d->description : "");
        for (uint32_t k = 0; k < d->param_count; k++) {
            const lp_param_spec *s = &d->params[k];
            printf("      %-22s %-15s %s%s%s  %s\n", s->name, lp_param_type_name(s->type),
                   s->required ? "required" : "default ",
                   s->required ? "" : (s->default_value ? s->default_value : "(none)"), "",
                   s->doc ? s->doc : "");
        }
        lp_plugin_close(&p);
        free(files[i]);
    }
    free(files);
    if (n == 0) printf("  (none)\n");
    lp_plugin_path_free(&pp);
    lp_chain_free(chain);
    (void)bad;
    return 0;
}
