/* Small filesystem helpers every part needs: creating folders and writing
 * files atomically (temp file, fsync, rename, fsync of the folder), so a crash
 * leaves either the old file or the new one, never a torn one. */
#ifndef LLMPIPE_FSUTIL_H
#define LLMPIPE_FSUTIL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* mkdir -p; 0 on success, -1 with a message in err. */
int lp_mkdir_p(const char *path, char *err, size_t err_size);

/* Writes `len` bytes to `path` atomically. */
int lp_write_file_atomic(const char *path, const void *data, size_t len,
                         char *err, size_t err_size);

/* Reads a whole file into a NUL-terminated malloc'd buffer (*len excludes the
 * NUL). Returns NULL with a message in err. */
char *lp_read_file(const char *path, size_t *len, char *err, size_t err_size);

/* fsync the folder holding `path`, making a rename into it durable. */
int lp_fsync_parent(const char *path);

#ifdef __cplusplus
}
#endif
#endif
