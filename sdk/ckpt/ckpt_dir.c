/* In-stage checkpoint folders: written under a .tmp name, sealed by a
 * checksums.json written last, renamed into place; the newest K are kept.
 * A crash at any moment leaves either a sealed folder or debris that the
 * next begin removes. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_internal.h"
#include "llmpipe/fsutil.h"

#define CHECKSUMS "checksums.json"

static int rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return unlink(dir);
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rm_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    return rmdir(dir);
}

/* step-NNNNNNNN exactly; -1 otherwise */
static int64_t parse_step(const char *name) {
    if (strncmp(name, "step-", 5)) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(name + 5, &end, 10);
    if (errno || *end || end == name + 5 || v < 0) return -1;
    return v;
}

int lp_ckpt_begin(const char *parent, int64_t step, char *tmp_dir, size_t tmp_size, char *err, size_t errsz) {
    if (lp_mkdir_p(parent, err, errsz)) return -1;
    if ((size_t)snprintf(tmp_dir, tmp_size, "%s/step-%08" PRId64 ".tmp", parent, step) >= tmp_size)
        return lp_errf(err, errsz, "%s: path too long", parent);
    rm_tree(tmp_dir); /* debris of a crash during an earlier attempt */
    return lp_mkdir_p(tmp_dir, err, errsz);
}

static int cmp_i64_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Steps of the sealed-name folders under parent, newest first. */
static int64_t *list_steps(const char *parent, size_t *n) {
    *n = 0;
    DIR *d = opendir(parent);
    if (!d) return NULL;
    size_t cap = 16;
    int64_t *v = malloc(cap * sizeof *v);
    struct dirent *e;
    while (v && (e = readdir(d))) {
        int64_t s = parse_step(e->d_name);
        if (s < 0) continue;
        if (*n == cap) {
            int64_t *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                v = NULL;
                break;
            }
            v = nv;
        }
        v[(*n)++] = s;
    }
    closedir(d);
    if (v) qsort(v, *n, sizeof *v, cmp_i64_desc);
    return v;
}

int lp_ckpt_commit(const char *parent, int64_t step, int keep_last, char *final_dir, size_t final_size,
                   char *err, size_t errsz) {
    char tmp[4096], fin[4096];
    snprintf(tmp, sizeof tmp, "%s/step-%08" PRId64 ".tmp", parent, step);
    snprintf(fin, sizeof fin, "%s/step-%08" PRId64, parent, step);
    if (lp_ckpt_write_checksums(tmp, err, errsz)) return -1;
    /* A same-step folder (a resumed run checkpointing its last step again)
     * is moved aside and deleted only once the new one is in place; a crash
     * between the two renames falls back to the previous step's folder. */
    char aside[4200];
    snprintf(aside, sizeof aside, "%s.old", tmp);
    rm_tree(aside);
    if (rename(fin, aside) != 0 && errno != ENOENT)
        return lp_errf(err, errsz, "%s: cannot move aside: %s", fin, strerror(errno));
    if (rename(tmp, fin) != 0)
        return lp_errf(err, errsz, "%s: cannot rename into place: %s", fin, strerror(errno));
    lp_fsync_parent(fin);
    rm_tree(aside);
    if (final_dir) snprintf(final_dir, final_size, "%s", fin);
    if (keep_last > 0) {
        size_t n;
        int64_t *steps = list_steps(parent, &n);
        for (size_t i = (size_t)keep_last; steps && i < n; i++) {
            char old[4096];
            snprintf(old, sizeof old, "%s/step-%08" PRId64, parent, steps[i]);
            rm_tree(old);
        }
        free(steps);
    }
    return 0;
}

/* Regular files of dir, sorted; checksums.json only when with_sums. */
static char **list_files(const char *dir, int with_sums, size_t *n, char *err, size_t errsz) {
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        lp_errf(err, errsz, "%s: cannot open folder: %s", dir, strerror(errno));
        return NULL;
    }
    size_t cap = 16;
    char **v = malloc(cap * sizeof *v);
    struct dirent *e;
    while (v && (e = readdir(d))) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || (!with_sums && !strcmp(e->d_name, CHECKSUMS)) || stat(p, &st) ||
            !S_ISREG(st.st_mode))
            continue;
        if (*n == cap) {
            char **nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) break;
            v = nv;
        }
        v[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (!v) {
        lp_errf(err, errsz, "%s: out of memory", dir);
        return NULL;
    }
    for (size_t i = 1; i < *n; i++) /* insertion sort: a handful of files */
        for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
            char *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v;
}

static void free_list(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

int lp_ckpt_write_checksums(const char *dir, char *err, size_t errsz) {
    size_t n;
    char **files = list_files(dir, 0, &n, err, errsz);
    if (!files) return -1;
    json_t *o = json_object();
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char p[4096], hex[LP_SHA256_HEX_SIZE];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        rc = lp_file_sha256(p, hex, err, errsz);
        if (!rc) json_object_set_new(o, files[i], json_string(hex));
    }
    free_list(files, n);
    if (!rc) {
        json_t *doc = json_pack("{s:s, s:o}", "algorithm", "sha256", "files", o);
        char *text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
        json_decref(doc);
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, CHECKSUMS);
        rc = lp_write_file_atomic(p, text, strlen(text), err, errsz);
        free(text);
    } else {
        json_decref(o);
    }
    return rc;
}

int lp_ckpt_verify(const char *dir, char *err, size_t errsz) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, CHECKSUMS);
    json_error_t je;
    json_t *doc = json_load_file(p, 0, &je);
    if (!doc) return lp_errf(err, errsz, "%s: missing or unreadable (%s)", p, je.text);
    json_t *files = json_object_get(doc, "files");
    int rc = 0;
    if (!json_is_object(files)) {
        lp_errf(err, errsz, "%s: no \"files\" object", p);
        rc = -1;
    }
    size_t n = 0;
    char **have = rc ? NULL : list_files(dir, 0, &n, err, errsz);
    if (!rc && !have) rc = -1;
    if (!rc && n != json_object_size(files)) {
        lp_errf(err, errsz, "%s: lists %zu files, the folder holds %zu", p, json_object_size(files), n);
        rc = -1;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        const char *want = json_string_value(json_object_get(files, have[i]));
        char fp[4096], hex[LP_SHA256_HEX_SIZE];
        snprintf(fp, sizeof fp, "%s/%s", dir, have[i]);
        if (!want) {
            lp_errf(err, errsz, "%s: file %s is not listed", p, have[i]);
            rc = -1;
        } else if (lp_file_sha256(fp, hex, err, errsz)) {
            rc = -1;
        } else if (strcmp(hex, want)) {
            lp_errf(err, errsz, "%s: SHA-256 mismatch (file corrupted)", fp);
            rc = -1;
        }
    }
    if (have) free_list(have, n);
    json_decref(doc);
    return rc;
}

int lp_ckpt_latest(const char *parent, char *dir, size_t dir_size, int64_t *step, char *err, size_t errsz) {
    size_t n;
    if (err && errsz) err[0] = '\0';
    int64_t *steps = list_steps(parent, &n);
    if (!steps) return 0;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        char d[4096], why[1024];
        snprintf(d, sizeof d, "%s/step-%08" PRId64, parent, steps[i]);
        if (lp_ckpt_verify(d, why, sizeof why) == 0) {
            snprintf(dir, dir_size, "%s", d);
            *step = steps[i];
            found = 1;
        } else if (err && !err[0]) {
            lp_errf(err, errsz, "skipped broken checkpoint: %s", why);
        }
    }
    free(steps);
    return found;
}

int lp_ckpt_clear(const char *parent) {
    DIR *d = opendir(parent);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "step-", 5)) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", parent, e->d_name);
        if (rm_tree(p)) rc = -1;
    }
    closedir(d);
    return rc;
}

int lp_copy_dir_files(const char *src, const char *dst, char *err, size_t errsz) {
    if (lp_mkdir_p(dst, err, errsz)) return -1;
    size_t n;
    char **files = list_files(src, 1, &n, err, errsz);
    if (!files) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char a[4096], b[4096];
        snprintf(a, sizeof a, "%s/%s", src, files[i]);
        snprintf(b, sizeof b, "%s/%s", dst, files[i]);
        size_t len;
        char *data = lp_read_file(a, &len, err, errsz);
        if (!data) {
            rc = -1;
            break;
        }
        rc = lp_write_file_atomic(b, data, len, err, errsz);
        free(data);
    }
    free_list(files, n);
    return rc;
}
