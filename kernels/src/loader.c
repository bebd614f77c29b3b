/* Finding, loading and choosing kernel backend libraries (see backend.h and
 * docs/kernels.md, "Backends"). Libraries stay loaded for the life of the
 * process: unloading one would unload oneDNN or a device runtime under
 * threads that may still hold its state, and contexts come and go often. */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader.h"

/* CPU builds, best first: on equal scores the first wins. */
static const char *const cpu_builds[] = {"avx512", "avx2", "x86-64-v2"};
#define N_CPU_BUILDS (int)(sizeof cpu_builds / sizeof cpu_builds[0])

#define MAX_DIRS 24

typedef struct {
    char dir[MAX_DIRS][PATH_MAX];
    int n;
} dirlist;

/* Folders by their real path, so the many routes to one folder (symlinks,
 * a/b/../kernels) are searched and listed once; a guessed folder that does
 * not exist is left out, one the user named is kept (and listed). */
static void add_dir_as(dirlist *d, const char *given, int named) {
    char real[PATH_MAX];
    if (!given || !*given || d->n >= MAX_DIRS) return;
    const char *dir = realpath(given, real) ? real : named ? given : NULL;
    if (!dir) return;
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->dir[i], dir)) return;
    snprintf(d->dir[d->n++], PATH_MAX, "%s", dir);
}
static void add_dir(dirlist *d, const char *dir) { add_dir_as(d, dir, 0); }

/* dir, dir/../kernels and dir/../../kernels of the file at path */
static void add_near(dirlist *d, const char *path) {
    char dir[PATH_MAX], sub[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return;
    *slash = 0;
    add_dir(d, dir);
    snprintf(sub, sizeof sub, "%s/../kernels", dir);
    add_dir(d, sub);
    snprintf(sub, sizeof sub, "%s/../../kernels", dir);
    add_dir(d, sub);
}

static void add_runfiles(dirlist *d, const char *root) {
    char dir[PATH_MAX + 32];
    if (!root || !*root) return;
    snprintf(dir, sizeof dir, "%s/llmpipe/kernels", root);
    add_dir(d, dir);
}

static void search_dirs(dirlist *d) {
    d->n = 0;
    const char *env = getenv("LLMPIPE_KERNEL_PATH");
    if (env) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", env);
        for (char *save = NULL, *p = strtok_r(buf, ":", &save); p; p = strtok_r(NULL, ":", &save))
            add_dir_as(d, p, 1);
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        add_near(d, exe);
    }
    Dl_info info;
    if (dladdr((void *)search_dirs, &info) && info.dli_fname) add_near(d, info.dli_fname);
    add_runfiles(d, getenv("RUNFILES_DIR"));
    add_runfiles(d, getenv("TEST_SRCDIR"));
    if (n > 0) {
        char rf[PATH_MAX + 16];
        snprintf(rf, sizeof rf, "%s.runfiles", exe);
        add_runfiles(d, rf);
    }
}

static void join_dirs(const dirlist *d, char *out, size_t len) {
    size_t at = 0;
    out[0] = 0;
    for (int i = 0; i < d->n && at + 1 < len; i++)
        at += (size_t)snprintf(out + at, len - at, "%s%s", i ? ":" : "", d->dir[i]);
}

/* Loaded libraries, by path, for the life of the process. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char path[PATH_MAX];
    void *dl;
} loaded[16];
static int n_loaded;

static void *open_lib(const char *path, char *err, size_t errlen) {
    pthread_mutex_lock(&lock);
    void *dl = NULL;
    for (int i = 0; i < n_loaded && !dl; i++)
        if (!strcmp(loaded[i].path, path)) dl = loaded[i].dl;
    if (!dl) {
        dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!dl)
            snprintf(err, errlen, "cannot load %s: %s", path, dlerror());
        else if (n_loaded < (int)(sizeof loaded / sizeof loaded[0])) {
            snprintf(loaded[n_loaded].path, PATH_MAX, "%s", path);
            loaded[n_loaded++].dl = dl;
        }
    }
    pthread_mutex_unlock(&lock);
    return dl;
}

/* The first folder holding file, or 0 (path then empty). */
static int find_file(const dirlist *d, const char *file, char *path, size_t len) {
    for (int i = 0; i < d->n; i++) {
        snprintf(path, len, "%s/%s", d->dir[i], file);
        if (access(path, R_OK) == 0) return 1;
    }
    path[0] = 0;
    return 0;
}

typedef int (*score_fn)(char *why, size_t whylen);
typedef const lpk_backend *(*entry_fn)(void);

/* Loads path and checks its table; *score gets its score (1 when it has
 * no score function). Returns the table or NULL with err filled. */
static const lpk_backend *load_checked(const char *label, const char *path, int *score, char *why,
                                       size_t whylen, char *err, size_t errlen) {
    char e[PATH_MAX + 256];
    void *dl = open_lib(path, e, sizeof e);
    if (!dl) {
        snprintf(err, errlen, "kernel backend %s: %s", label, e);
        return NULL;
    }
    entry_fn entry = (entry_fn)dlsym(dl, "lpk_backend_entry");
    const lpk_backend *be = entry ? entry() : NULL;
    /* a 2.0 table is smaller than this header's: its later entries are
     * read as absent (LPK_BACKEND_HAS) */
    if (!be || be->api_version != LPK_API_VERSION) {
        snprintf(err, errlen, "kernel backend %s (%s): %s API version %u, this program needs %d", label, path,
                 entry ? "table of" : "no lpk_backend_entry;", be ? be->api_version : 0u, LPK_API_VERSION);
        return NULL;
    }
    if (be->size < LPK_BACKEND_MIN_SIZE) {
        snprintf(err, errlen, "kernel backend %s (%s): table of %u bytes, API version 2.0 has %zu", label,
                 path, be->size, (size_t)LPK_BACKEND_MIN_SIZE);
        return NULL;
    }
    score_fn sf = (score_fn)dlsym(dl, "lpk_backend_score");
    why[0] = 0;
    *score = sf ? sf(why, whylen) : 1;
    return be;
}

static int valid_name(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_')) return 0;
    return 1;
}

static int cpu_build_index(const char *build) {
    for (int i = 0; i < N_CPU_BUILDS; i++)
        if (!strcmp(cpu_builds[i], build)) return i;
    return -1;
}

/* One named CPU build, forced by name or (env != NULL) by the variable. */
static const lpk_backend *load_cpu_build(const dirlist *d, const char *build, const char *env, char *err,
                                         size_t errlen) {
    char file[64], path[PATH_MAX + 64], label[160], why[160], dirs[4096];
    if (cpu_build_index(build) < 0) {
        if (env)
            snprintf(label, sizeof label, "%s=%s", env, build);
        else
            snprintf(label, sizeof label, "kernel backend cpu:%s", build);
        snprintf(err, errlen, "%s: unknown CPU build '%s' (expected auto, x86-64-v2, avx2 or avx512)", label,
                 build);
        return NULL;
    }
    snprintf(file, sizeof file, "liblpk_cpu_%s.so", build);
    snprintf(label, sizeof label, "cpu:%s%s%s%s", build, env ? " (from " : "", env ? env : "",
             env ? ")" : "");
    if (!find_file(d, file, path, sizeof path)) {
        join_dirs(d, dirs, sizeof dirs);
        snprintf(err, errlen, "kernel backend %s: %s not found in %s", label, file, dirs);
        return NULL;
    }
    int score;
    const lpk_backend *be = load_checked(label, path, &score, why, sizeof why, err, errlen);
    if (be && score <= 0) {
        snprintf(err, errlen, "kernel backend %s: this CPU cannot run it (%s)", label,
                 why[0] ? why : "unsupported");
        return NULL;
    }
    return be;
}

/* The best-scoring CPU build this CPU supports. */
static const lpk_backend *load_cpu_auto(const dirlist *d, char *err, size_t errlen) {
    const lpk_backend *best = NULL;
    int best_score = 0, found = 0;
    char reasons[512] = "";
    size_t at = 0;
    for (int i = 0; i < N_CPU_BUILDS; i++) {
        char file[64], path[PATH_MAX + 64], label[96], why[160], e[512];
        snprintf(file, sizeof file, "liblpk_cpu_%s.so", cpu_builds[i]);
        if (!find_file(d, file, path, sizeof path)) continue;
        found++;
        snprintf(label, sizeof label, "cpu:%s", cpu_builds[i]);
        int score;
        const lpk_backend *be = load_checked(label, path, &score, why, sizeof why, e, sizeof e);
        if (!be) {
            at += (size_t)snprintf(reasons + at, at < sizeof reasons ? sizeof reasons - at : 0, "%s%s",
                                   at ? "; " : "", e);
        } else if (score <= 0) {
            at += (size_t)snprintf(reasons + at, at < sizeof reasons ? sizeof reasons - at : 0, "%s%s: %s",
                                   at ? "; " : "", label, why);
        } else if (score > best_score) {
            best = be;
            best_score = score;
        }
    }
    if (best) return best;
    char dirs[4096];
    join_dirs(d, dirs, sizeof dirs);
    if (!found)
        snprintf(err, errlen, "kernel backend cpu: no liblpk_cpu_*.so found in %s", dirs);
    else
        snprintf(err, errlen, "kernel backend cpu: no build runs here (%s)", reasons);
    return NULL;
}

const lpk_backend *lpk_load_backend(const char *name, char *err, size_t errlen) {
    dirlist d;
    search_dirs(&d);
    if (!name || !*name) name = "cpu";
    if (!strcmp(name, "cpu")) {
        const char *env = getenv("LLMPIPE_CPU_BACKEND");
        if (env && !strncmp(env, "cpu:", 4)) env += 4;
        if (env && *env && strcmp(env, "auto"))
            return load_cpu_build(&d, env, "LLMPIPE_CPU_BACKEND", err, errlen);
        return load_cpu_auto(&d, err, errlen);
    }
    if (!strncmp(name, "cpu:", 4)) {
        if (!strcmp(name + 4, "auto")) return load_cpu_auto(&d, err, errlen);
        return load_cpu_build(&d, name + 4, NULL, err, errlen);
    }
    if (!valid_name(name)) {
        snprintf(err, errlen, "kernel backend '%s': not a backend name (expected cpu, cpu:<build>, cuda)",
                 name);
        return NULL;
    }
    char file[96], path[PATH_MAX + 96], why[160], dirs[4096];
    snprintf(file, sizeof file, "liblpk_%s.so", name);
    if (!find_file(&d, file, path, sizeof path)) {
        join_dirs(&d, dirs, sizeof dirs);
        if (!strcmp(name, "cuda"))
            snprintf(err, errlen, "device cuda: this build has no CUDA backend (%s not found in %s)", file,
                     dirs);
        else
            snprintf(err, errlen, "kernel backend '%s': %s not found in %s", name, file, dirs);
        return NULL;
    }
    int score;
    const lpk_backend *be = load_checked(name, path, &score, why, sizeof why, err, errlen);
    if (be && score <= 0) {
        snprintf(err, errlen, "kernel backend %s: cannot run here (%s)", name, why[0] ? why : "unsupported");
        return NULL;
    }
    return be;
}

int lpk_backend_available(const char *name, char *err, size_t errlen) {
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = 0;
    return lpk_load_backend(name, err, errlen) != NULL;
}
