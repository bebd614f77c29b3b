#include "llmpipe/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpipe/error.h"

int lp_mkdir_p(const char *path, char *err, size_t err_size) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return lp_errf(err, err_size, "%s: path empty or too long", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return lp_errf(err, err_size, "%s: cannot create folder: %s", buf, strerror(errno));
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return lp_errf(err, err_size, "%s: exists and is not a folder", path);
    return 0;
}

void lp_parent_dir(const char *path, char *out, size_t out_size) {
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(out, out_size, ".");
    else if (slash == path)
        snprintf(out, out_size, "/");
    else
        snprintf(out, out_size, "%.*s", (int)(slash - path), path);
}

int lp_fsync_parent(const char *path) {
    char dir[4096];
    lp_parent_dir(path, dir, sizeof dir);
    return lp_fsync_path(dir);
}

int lp_fsync_path(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    /* Some filesystems refuse fsync on a folder: that is not data loss. */
    if (rc != 0 && (errno == EINVAL || errno == EBADF)) rc = 0;
    close(fd);
    return rc;
}

/* Symbolic links are removed, never followed: a link in an artifact cannot
 * make this delete files outside it. */
static int rm_rf_at(int at, const char *name, int depth) {
    struct stat st;
    if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW)) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlinkat(at, name, 0);
    if (depth > 64) return -1;
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            if (rm_rf_at(dirfd(d), e->d_name, depth + 1)) rc = -1;
    closedir(d);
    if (unlinkat(at, name, AT_REMOVEDIR)) rc = -1;
    return rc;
}

int lp_remove_tree(const char *path) { return rm_rf_at(AT_FDCWD, path, 0); }

/* ---- atomic files ---------------------------------------------------------- */

struct lp_atomic_file {
    int fd;
    int failed; /* errno of the first failed write, 0 while all went well */
    size_t used;
    char *path, *tmp;
    unsigned char buf[1 << 16];
};

static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return errno ? errno : EIO;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int flush(lp_atomic_file *f) {
    if (f->failed == 0 && f->used > 0) f->failed = write_all(f->fd, f->buf, f->used);
    f->used = 0;
    return f->failed ? -1 : 0;
}

static void free_file(lp_atomic_file *f) {
    free(f->path);
    free(f->tmp);
    free(f);
}

lp_atomic_file *lp_atomic_open(const char *path, char *err, size_t err_size) {
    lp_atomic_file *f = malloc(sizeof *f);
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (f == NULL || tmp == NULL) {
        free(f);
        free(tmp);
        lp_errf(err, err_size, "%s: out of memory", path);
        return NULL;
    }
    /* The pid keeps two writers of the same file (two processes) apart. */
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    *f = (lp_atomic_file){.fd = -1, .path = strdup(path), .tmp = tmp};
    if (f->path == NULL) {
        free_file(f);
        lp_errf(err, err_size, "%s: out of memory", path);
        return NULL;
    }
    f->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        lp_errf(err, err_size, "%s: cannot create: %s", tmp, strerror(errno));
        free_file(f);
        return NULL;
    }
    return f;
}

int lp_atomic_write(lp_atomic_file *f, const void *data, size_t len) {
    if (f->failed) return -1;
    if (f->used + len <= sizeof f->buf) {
        memcpy(f->buf + f->used, data, len);
        f->used += len;
        return 0;
    }
    if (flush(f) != 0) return -1;
    if (len >= sizeof f->buf) {
        f->failed = write_all(f->fd, data, len);
        return f->failed ? -1 : 0;
    }
    memcpy(f->buf, data, len);
    f->used = len;
    return 0;
}

int lp_atomic_pwrite(lp_atomic_file *f, const void *data, size_t len, uint64_t offset) {
    if (flush(f) != 0) return -1;
    const char *p = data;
    while (len > 0) {
        ssize_t w = pwrite(f->fd, p, len, (off_t)offset);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            f->failed = errno ? errno : EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
        offset += (uint64_t)w;
    }
    return 0;
}

void lp_atomic_abort(lp_atomic_file *f) {
    if (f == NULL) return;
    if (f->fd >= 0) close(f->fd);
    unlink(f->tmp);
    free_file(f);
}

int lp_atomic_commit(lp_atomic_file *f, char *err, size_t err_size) {
    if (flush(f) != 0) {
        lp_errf(err, err_size, "%s: write failed: %s", f->tmp, strerror(f->failed));
        lp_atomic_abort(f);
        return -1;
    }
    if (fsync(f->fd) != 0) {
        lp_errf(err, err_size, "%s: fsync failed: %s", f->tmp, strerror(errno));
        lp_atomic_abort(f);
        return -1;
    }
    int rc = close(f->fd);
    f->fd = -1;
    if (rc != 0) {
        lp_errf(err, err_size, "%s: write failed: %s", f->tmp, strerror(errno));
        lp_atomic_abort(f);
        return -1;
    }
    if (rename(f->tmp, f->path) != 0) {
        lp_errf(err, err_size, "%s: cannot rename into place: %s", f->path, strerror(errno));
        lp_atomic_abort(f);
        return -1;
    }
    lp_fsync_parent(f->path);
    free_file(f);
    return 0;
}

int lp_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t err_size) {
    lp_atomic_file *f = lp_atomic_open(path, err, err_size);
    if (f == NULL) return -1;
    lp_atomic_write(f, data, len);
    return lp_atomic_commit(f, err, err_size);
}

char *lp_read_stream(FILE *f, const char *name, size_t *len, char *err, size_t err_size) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
        if (cap - n - 1 == 0) {
            char *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    if (buf == NULL || ferror(f)) {
        free(buf);
        lp_errf(err, err_size, "%s: read failed", name);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

char *lp_read_file(const char *path, size_t *len, char *err, size_t err_size) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        lp_errf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = lp_read_stream(f, path, len, err, err_size);
    fclose(f);
    return buf;
}
