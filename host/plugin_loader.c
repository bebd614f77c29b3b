#include "host/plugin_loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host/util.h"
#include "llmpipe/error.h"

static void add_dir(lp_plugin_path *pp, const char *dir) {
    if (dir == NULL || dir[0] == '\0') return;
    char **grown = realloc(pp->dirs, (pp->count + 1) * sizeof *grown);
    if (grown == NULL) return;
    pp->dirs = grown;
    pp->dirs[pp->count++] = strdup(dir);
}

void lp_plugin_path_init(lp_plugin_path *pp, const char *const *config_dirs, size_t config_count) {
    pp->dirs = NULL;
    pp->count = 0;
    for (size_t i = 0; i < config_count; i++) add_dir(pp, config_dirs[i]);
    const char *env = getenv("LLMPIPE_PLUGIN_PATH");
    if (env) {
        char *copy = strdup(env), *save = NULL;
        for (char *tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) add_dir(pp, tok);
        free(copy);
    }
    /* Built-in: an installed tree keeps plugins in <bindir>/plugins; a Bazel
   * tree has bazel-bin/host/llmpipe beside bazel-bin/plugins. */
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/plugins", lp_exe_dir());
    add_dir(pp, buf);
    snprintf(buf, sizeof buf, "%s/../plugins", lp_exe_dir());
    add_dir(pp, buf);
}

void lp_plugin_path_free(lp_plugin_path *pp) {
    for (size_t i = 0; i < pp->count; i++) free(pp->dirs[i]);
    free(pp->dirs);
    pp->dirs = NULL;
    pp->count = 0;
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *lp_plugin_find(const lp_plugin_path *pp, const char *name) {
    char buf[4096];
    for (size_t i = 0; i < pp->count; i++) {
        snprintf(buf, sizeof buf, "%s/%s.so", pp->dirs[i], name);
        if (is_file(buf)) return realpath(buf, NULL);
        snprintf(buf, sizeof buf, "%s/%s/%s.so", pp->dirs[i], name, name);
        if (is_file(buf)) return realpath(buf, NULL);
    }
    return NULL;
}

static int has_so_suffix(const char *n) {
    size_t len = strlen(n);
    return len > 3 && strcmp(n + len - 3, ".so") == 0;
}

static void collect(const char *dir, int depth, char ***files, size_t *count, size_t *cap) {
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth == 0) collect(path, 1, files, count, cap);
            continue;
        }
        if (!S_ISREG(st.st_mode) || !has_so_suffix(e->d_name)) continue;
        int seen = 0;
        for (size_t i = 0; i < *count && !seen; i++) {
            const char *base = strrchr((*files)[i], '/');
            seen = strcmp(base ? base + 1 : (*files)[i], e->d_name) == 0;
        }
        if (seen) continue;
        if (*count == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            char **grown = realloc(*files, *cap * sizeof *grown);
            if (grown == NULL) break;
            *files = grown;
        }
        char *real = realpath(path, NULL);
        (*files)[(*count)++] = real ? real : strdup(path);
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

size_t lp_plugin_list_files(const lp_plugin_path *pp, char ***files_out) {
    char **files = NULL;
    size_t count = 0, cap = 0;
    for (size_t i = 0; i < pp->count; i++) {
        size_t before = count;
        collect(pp->dirs[i], 0, &files, &count, &cap);
        if (count > before) qsort(files + before, count - before, sizeof *files, cmp_str);
    }
    *files_out = files;
    return count;
}

int lp_plugin_open(const char *path, const char *expected_name, lp_plugin *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) return lp_errf(err, err_size, "plugin %s: dlopen failed: %s", path, dlerror());
    lp_entry_fn entry;
    /* dlsym returns void*; copying the bytes avoids the object-to-function
   * pointer cast ISO C leaves undefined. */
    void *sym = dlsym(h, LP_ENTRY_SYMBOL);
    if (sym == NULL) {
        lp_errf(err, err_size,
                "plugin %s: no entry symbol '%s' (not an llmpipe plugin, or built "
                "without LP_PLUGIN_EXPORT)",
                path, LP_ENTRY_SYMBOL);
        dlclose(h);
        return -1;
    }
    memcpy(&entry, &sym, sizeof entry);
    const lp_stage_desc *d = entry();
    if (d == NULL) {
        lp_errf(err, err_size, "plugin %s: %s() returned no descriptor", path, LP_ENTRY_SYMBOL);
        dlclose(h);
        return -1;
    }
    /* The ABI numbers sit right after the size in every ABI version, so they
   * can be read before the size is trusted. */
    if (d->abi_major != LP_ABI_MAJOR) {
        lp_errf(err, err_size,
                "plugin %s: built for ABI %u.%u, host has ABI %d.%d (major "
                "differs; rebuild the plugin against this SDK)",
                path, d->abi_major, d->abi_minor, LP_ABI_MAJOR, LP_ABI_MINOR);
        dlclose(h);
        return -1;
    }
    if (d->abi_minor > LP_ABI_MINOR) {
        lp_errf(err, err_size,
                "plugin %s: built for ABI %u.%u, host has ABI %d.%d (plugin is "
                "newer; upgrade llmpipe or rebuild the plugin)",
                path, d->abi_major, d->abi_minor, LP_ABI_MAJOR, LP_ABI_MINOR);
        dlclose(h);
        return -1;
    }
    if (d->size < LP_STAGE_DESC_MIN_SIZE) {
        lp_errf(err, err_size,
                "plugin %s: descriptor too small (%u bytes, ABI %d.x needs at "
                "least %zu)",
                path, d->size, LP_ABI_MAJOR, (size_t)LP_STAGE_DESC_MIN_SIZE);
        dlclose(h);
        return -1;
    }
    if (d->name == NULL || d->name[0] == '\0' || d->create == NULL || d->run == NULL || d->destroy == NULL) {
        lp_errf(err, err_size,
                "plugin %s: descriptor lacks a name or a create/run/destroy "
                "callback",
                path);
        dlclose(h);
        return -1;
    }
    for (uint32_t i = 0; i < d->param_count; i++) {
        const lp_param_spec *s = &d->params[i];
        if (s->name == NULL || s->type < LP_PARAM_INT || s->type > LP_PARAM_STRING_LIST) {
            lp_errf(err, err_size,
                    "plugin %s: parameter #%u has no name or an "
                    "unknown type",
                    path, i);
            dlclose(h);
            return -1;
        }
    }
    if (expected_name && strcmp(d->name, expected_name) != 0) {
        lp_errf(err, err_size, "plugin %s: file is named for plugin '%s' but declares '%s'", path,
                expected_name, d->name);
        dlclose(h);
        return -1;
    }
    out->path = strdup(path);
    out->handle = h;
    out->desc = d;
    return 0;
}

void lp_plugin_close(lp_plugin *p) {
    if (p->handle) dlclose(p->handle);
    free(p->path);
    memset(p, 0, sizeof *p);
}
