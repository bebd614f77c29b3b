#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpipe/fsutil.h"
#include "sdk/comm/store_proto.h"
#include "sdk/comm/zmq_util.h"

static int valid_component(const char *s, size_t n) {
    if (n == 0 || n > LP_STORE_MAX_NAME || s[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int lp_store_valid_name(const char *name) { return name && valid_component(name, strlen(name)); }

int lp_store_valid_path(const char *path) {
    if (!path || !*path || strlen(path) > 1024) return 0;
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!valid_component(p, n)) return 0;
        if (!slash) return 1;
        p = slash + 1;
    }
}

void lp_store_manifest_free(lp_store_manifest *m) {
    if (!m) return;
    for (size_t i = 0; i < m->count; i++) free(m->files[i].path);
    free(m->files);
    free(m->name);
    memset(m, 0, sizeof *m);
}

static int add_file(lp_store_manifest *m, size_t *cap, const char *path, uint64_t size) {
    if (m->count == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        lp_store_file *nf = realloc(m->files, nc * sizeof *nf);
        if (!nf) return -1;
        m->files = nf;
        *cap = nc;
    }
    lp_store_file *f = &m->files[m->count];
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path) return -1;
    f->size = size;
    m->count++;
    return 0;
}

static int scan(const char *root, const char *rel, int depth, lp_store_manifest *m, size_t *cap, char *err,
                size_t err_size) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    if (depth > 16) return lp_errf(err, err_size, "%s: folders nested too deeply", dir);
    DIR *d = opendir(dir);
    if (!d) return lp_errf(err, err_size, "cannot read folder '%s': %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (!*rel && !strcmp(e->d_name, LP_STORE_MANIFEST_FILE)) continue;
        char sub[4096], full[4096];
        int n1 = snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        int n2 = snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        if (n1 >= (int)sizeof sub || n2 >= (int)sizeof full) {
            rc = lp_errf(err, err_size, "%s/%s: path too long", dir, e->d_name);
            break;
        }
        if (!lp_store_valid_path(sub)) {
            rc = lp_errf(err, err_size,
                         "'%s': artifact file names must use only "
                         "[A-Za-z0-9._-] and not start with '.'",
                         full);
            break;
        }
        struct stat st;
        if (stat(full, &st)) {
            rc = lp_errf(err, err_size, "cannot stat '%s': %s", full, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            rc = scan(root, sub, depth + 1, m, cap, err, err_size);
        } else if (S_ISREG(st.st_mode)) {
            if (m->count >= LP_STORE_MAX_FILES)
                rc = lp_errf(err, err_size, "'%s': more than %d files", root, LP_STORE_MAX_FILES);
            else if (add_file(m, cap, sub, (uint64_t)st.st_size))
                rc = lp_errf(err, err_size, "out of memory");
        } else {
            rc = lp_errf(err, err_size, "'%s' is neither a regular file nor a folder", full);
        }
    }
    closedir(d);
    return rc;
}

static int cmp_file(const void *a, const void *b) {
    return strcmp(((const lp_store_file *)a)->path, ((const lp_store_file *)b)->path);
}

int lp_store_scan_dir(const char *dir, lp_store_manifest *m, char *err, size_t err_size) {
    memset(m, 0, sizeof *m);
    size_t cap = 0;
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) return lp_errf(err, err_size, "'%s' is not a folder", dir);
    if (scan(dir, "", 0, m, &cap, err, err_size)) {
        lp_store_manifest_free(m);
        return -1;
    }
    qsort(m->files, m->count, sizeof *m->files, cmp_file);
    return 0;
}

void lp_store_compute_hash(const lp_store_manifest *m, char out[LP_SHA256_HEX_SIZE]) {
    lp_sha256 s;
    lp_sha256_init(&s);
    for (size_t i = 0; i < m->count; i++) {
        char line[128];
        int n =
            snprintf(line, sizeof line, "%s %llu ", m->files[i].sha256, (unsigned long long)m->files[i].size);
        lp_sha256_update(&s, line, (size_t)n);
        lp_sha256_update(&s, m->files[i].path, strlen(m->files[i].path));
        lp_sha256_update(&s, "\n", 1);
    }
    lp_sha256_final_hex(&s, out);
}

char *lp_store_manifest_json(const lp_store_manifest *m, int with_hashes) {
    json_t *o = json_object();
    json_t *files = json_array();
    if (m->name) json_object_set_new(o, "name", json_string(m->name));
    if (with_hashes) json_object_set_new(o, "hash", json_string(m->hash));
    for (size_t i = 0; i < m->count; i++) {
        json_t *f = json_object();
        json_object_set_new(f, "path", json_string(m->files[i].path));
        json_object_set_new(f, "size", json_integer((json_int_t)m->files[i].size));
        if (with_hashes) json_object_set_new(f, "sha256", json_string(m->files[i].sha256));
        json_array_append_new(files, f);
    }
    json_object_set_new(o, "files", files);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static int is_hex64(const char *s) {
    if (!s || strlen(s) != 64) return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return 0;
    return 1;
}

int lp_store_manifest_parse(const char *text, size_t len, int need_hashes, lp_store_manifest *m, char *err,
                            size_t err_size) {
    memset(m, 0, sizeof *m);
    json_error_t je;
    json_t *o = json_loadb(text, len, 0, &je);
    if (!o) return lp_errf(err, err_size, "manifest is not JSON (line %d: %s)", je.line, je.text);
    int rc = -1;
    json_t *files = json_object_get(o, "files");
    if (!json_is_object(o) || !json_is_array(files)) {
        lp_errf(err, err_size, "manifest: expected an object with a 'files' array");
        goto out;
    }
    const char *name = json_string_value(json_object_get(o, "name"));
    if (name && !(m->name = strdup(name))) goto oom;
    if (need_hashes) {
        const char *h = json_string_value(json_object_get(o, "hash"));
        if (!is_hex64(h)) {
            lp_errf(err, err_size, "manifest: 'hash' must be 64 hex digits");
            goto out;
        }
        memcpy(m->hash, h, LP_SHA256_HEX_SIZE);
    }
    size_t n = json_array_size(files);
    if (n > LP_STORE_MAX_FILES) {
        lp_errf(err, err_size, "manifest: more than %d files", LP_STORE_MAX_FILES);
        goto out;
    }
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(files, i);
        const char *path = json_string_value(json_object_get(f, "path"));
        json_t *size = json_object_get(f, "size");
        if (!lp_store_valid_path(path)) {
            lp_errf(err, err_size,
                    "manifest: files[%zu].path '%s' is not a safe "
                    "relative path",
                    i, path ? path : "(missing)");
            goto out;
        }
        if (!json_is_integer(size) || json_integer_value(size) < 0) {
            lp_errf(err, err_size,
                    "manifest: files[%zu].size must be a "
                    "non-negative integer",
                    i);
            goto out;
        }
        if (i > 0 && strcmp(m->files[i - 1].path, path) >= 0) {
            lp_errf(err, err_size,
                    "manifest: files must be sorted and unique "
                    "('%s' after '%s')",
                    path, m->files[i - 1].path);
            goto out;
        }
        if (add_file(m, &cap, path, (uint64_t)json_integer_value(size))) goto oom;
        if (need_hashes) {
            const char *h = json_string_value(json_object_get(f, "sha256"));
            if (!is_hex64(h)) {
                lp_errf(err, err_size,
                        "manifest: files[%zu].sha256 must be 64 hex "
                        "digits",
                        i);
                goto out;
            }
            memcpy(m->files[i].sha256, h, LP_SHA256_HEX_SIZE);
        }
    }
    rc = 0;
    goto out;
oom:
    lp_errf(err, err_size, "out of memory");
out:
    json_decref(o);
    if (rc) lp_store_manifest_free(m);
    return rc;
}

int lp_store_write_manifest(const char *dir, const lp_store_manifest *m, char *err, size_t err_size) {
    char *text = lp_store_manifest_json(m, 1);
    if (!text) return lp_errf(err, err_size, "out of memory");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, LP_STORE_MANIFEST_FILE);
    lp_atomic_file *f = lp_atomic_open(path, err, err_size);
    int rc = -1;
    if (f) {
        lp_atomic_write(f, text, strlen(text));
        lp_atomic_write(f, "\n", 1);
        rc = lp_atomic_commit(f, err, err_size);
    }
    free(text);
    return rc;
}

int lp_store_read_manifest(const char *dir, lp_store_manifest *m, char *err, size_t err_size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, LP_STORE_MANIFEST_FILE);
    size_t len = 0;
    char rerr[512];
    char *buf = lp_read_file(path, &len, rerr, sizeof rerr);
    if (!buf) {
        memset(m, 0, sizeof *m);
        return lp_errf(err, err_size, "cannot read manifest: %s", rerr);
    }
    char perr[256];
    int rc = lp_store_manifest_parse(buf, len, 1, m, perr, sizeof perr);
    free(buf);
    if (rc) return lp_errf(err, err_size, "%s: %s", path, perr);
    return 0;
}

int lp_store_mkdirs_for(const char *root, const char *rel) {
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "%s/%s", root, rel);
    if (n >= (int)sizeof buf) return -1;
    size_t start = strlen(root) + 1;
    for (size_t i = start; buf[i]; i++) {
        if (buf[i] != '/') continue;
        buf[i] = '\0';
        if (mkdir(buf, 0755) && errno != EEXIST) return -1;
        buf[i] = '/';
    }
    return 0;
}

int lp_store_parse_nums(const char *s, size_t len, uint64_t *vals, int n) {
    char buf[128];
    if (len >= sizeof buf) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *p = buf;
    for (int i = 0; i < n; i++) {
        while (*p == ' ') p++;
        if (*p < '0' || *p > '9') return -1;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno) return -1;
        vals[i] = v;
        p = end;
    }
    return *p == '\0' ? 0 : -1;
}
