/* Atomic, hashed file writes: temp name, fsync, rename, fsync of the folder,
 * so a crash leaves the old file or the new one, never a torn one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_internal.h"
#include "llmpipe/fsutil.h"

int lp_pread_full(int fd, void *buf, size_t len, uint64_t off) {
    char *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int lp_afile_open(lp_afile *f, const char *path, char *err, size_t errsz) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (strlen(path) >= sizeof f->path)
        return lp_errf(err, errsz, "%s: path too long", path);
    snprintf(f->path, sizeof f->path, "%s", path);
    snprintf(f->tmp, sizeof f->tmp, "%s.tmp.%ld", path, (long)getpid());
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0)
        return lp_errf(err, errsz, "%s: cannot create: %s", f->tmp, strerror(errno));
    lp_sha256_init(&f->sha);
    return 0;
}

void lp_afile_write(lp_afile *f, const void *data, size_t len) {
    if (f->failed || f->fd < 0) return;
    lp_sha256_update(&f->sha, data, len);
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(f->fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { f->failed = errno ? errno : EIO; return; }
        p += w;
        len -= (size_t)w;
    }
}

int lp_afile_commit(lp_afile *f, char *sha256_hex, char *err, size_t errsz) {
    if (f->fd < 0) return lp_errf(err, errsz, "%s: not open", f->path);
    if (f->failed) {
        lp_errf(err, errsz, "%s: write failed: %s", f->tmp, strerror(f->failed));
        lp_afile_abort(f);
        return -1;
    }
    if (fsync(f->fd) != 0) {
        lp_errf(err, errsz, "%s: fsync failed: %s", f->tmp, strerror(errno));
        lp_afile_abort(f);
        return -1;
    }
    close(f->fd);
    f->fd = -1;
    if (rename(f->tmp, f->path) != 0) {
        lp_errf(err, errsz, "%s: cannot rename into place: %s", f->path, strerror(errno));
        unlink(f->tmp);
        return -1;
    }
    lp_fsync_parent(f->path);
    char hex[LP_SHA256_HEX_SIZE];
    lp_sha256_final_hex(&f->sha, hex);
    if (sha256_hex) memcpy(sha256_hex, hex, LP_SHA256_HEX_SIZE);
    return 0;
}

void lp_afile_abort(lp_afile *f) {
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
        unlink(f->tmp);
    }
}

int lp_file_sha256(const char *path, char hex[LP_SHA256_HEX_SIZE], char *err, size_t errsz) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lp_errf(err, errsz, "%s: cannot open: %s", path, strerror(errno));
    lp_sha256 s;
    lp_sha256_init(&s);
    static _Thread_local char buf[1 << 16];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            lp_errf(err, errsz, "%s: read failed: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (r == 0) break;
        lp_sha256_update(&s, buf, (size_t)r);
    }
    close(fd);
    lp_sha256_final_hex(&s, hex);
    return 0;
}
