/* Small filesystem helpers every part needs: creating folders, reading whole
 * files, and writing files atomically (a temporary file in the same folder,
 * written, fsync'ed, renamed over the target, then the folder fsync'ed), so
 * a crash leaves either the old file or the new one, never a torn one.
 * Errors follow llmpipe/error.h: -1 (or NULL) and one line in err. */
#ifndef LLMPIPE_FSUTIL_H
#define LLMPIPE_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* mkdir -p. */
int lp_mkdir_p(const char *path, char *err, size_t err_size);

/* Reads a whole file into a NUL-terminated malloc'd buffer (*len excludes the
 * NUL). */
char *lp_read_file(const char *path, size_t *len, char *err, size_t err_size);
/* The same from an open stream (stdin, a pipe) up to its end; `name` is
 * what a message calls it. The stream stays open. */
char *lp_read_stream(FILE *f, const char *name, size_t *len, char *err, size_t err_size);

/* rm -rf: 0 when nothing is left (an absent path included). */
int lp_remove_tree(const char *path);

/* The folder holding `path` ("." for a bare name, "/" for a top-level one). */
void lp_parent_dir(const char *path, char *out, size_t out_size);

/* fsync a file or folder; a folder whose filesystem refuses (EINVAL) counts
 * as synced. fsync_parent syncs the folder holding `path`, making a rename
 * into it durable. */
int lp_fsync_path(const char *path);
int lp_fsync_parent(const char *path);

/* An atomically written file, for content produced piece by piece. Nothing
 * appears at `path` until commit; abort (or a failed commit) removes the
 * temporary file. Writes are buffered; the first failure is kept and
 * reported by commit, so a writer may check only there. */
typedef struct lp_atomic_file lp_atomic_file;

lp_atomic_file *lp_atomic_open(const char *path, char *err, size_t err_size);
/* 0, or -1 once any write has failed. */
int lp_atomic_write(lp_atomic_file *f, const void *data, size_t len);
/* Overwrites bytes already written (a header whose counts are known last). */
int lp_atomic_pwrite(lp_atomic_file *f, const void *data, size_t len, uint64_t offset);
/* Flush, fsync, rename into place, fsync the folder; frees f either way. */
int lp_atomic_commit(lp_atomic_file *f, char *err, size_t err_size);
/* Drops the temporary file; frees f (NULL is allowed). */
void lp_atomic_abort(lp_atomic_file *f);

/* Writes `len` bytes to `path` atomically, in one go. */
int lp_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
