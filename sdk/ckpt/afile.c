/* Checkpoint files written atomically (llmpipe/fsutil.h) and hashed on the
 * way; full reads at an offset; the hash of a file on disk. */
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
    lp_sha256_init(&f->sha);
    f->failed = 0;
    f->file = lp_atomic_open(path, err, errsz);
    return f->file ? 0 : -1;
}

void lp_afile_write(lp_afile *f, const void *data, size_t len) {
    if (f->file == NULL) return;
    lp_sha256_update(&f->sha, data, len);
    if (lp_atomic_write(f->file, data, len) != 0) f->failed = 1;
}

int lp_afile_commit(lp_afile *f, char *sha256_hex, char *err, size_t errsz) {
    lp_atomic_file *file = f->file;
    f->file = NULL;
    if (file == NULL) return lp_errf(err, errsz, "checkpoint file: not open");
    if (lp_atomic_commit(file, err, errsz) != 0) return -1;
    char hex[LP_SHA256_HEX_SIZE];
    lp_sha256_final_hex(&f->sha, hex);
    if (sha256_hex) memcpy(sha256_hex, hex, LP_SHA256_HEX_SIZE);
    return 0;
}

void lp_afile_abort(lp_afile *f) {
    lp_atomic_abort(f->file);
    f->file = NULL;
}

int lp_file_sha256(const char *path, char hex[LP_SHA256_HEX_SIZE], char *err, size_t errsz) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lp_errf(err, errsz, "%s: cannot open: %s", path, strerror(errno));
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
