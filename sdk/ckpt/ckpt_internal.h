/* Helpers shared by the checkpoint files; not part of the SDK API. */
#ifndef LLMPIPE_CKPT_INTERNAL_H
#define LLMPIPE_CKPT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/ckpt.h"
#include "llmpipe/error.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/sha256.h"

unsigned lp_st_dtype_size(lp_st_dtype dt);
const char *lp_st_dtype_name(lp_st_dtype dt);

/* 0 when all len bytes were read at off. */
int lp_pread_full(int fd, void *buf, size_t len, uint64_t off);

/* An atomic file (llmpipe/fsutil.h) hashed as it is written: the hash of
 * what went to disk comes with the commit, without reading the file back. */
typedef struct lp_afile {
    lp_atomic_file *file;
    lp_sha256 sha;
    int failed; /* non-zero once a write failed (commit then reports it) */
} lp_afile;

int lp_afile_open(lp_afile *f, const char *path, char *err, size_t errsz);
void lp_afile_write(lp_afile *f, const void *data, size_t len);
int lp_afile_commit(lp_afile *f, char *sha256_hex, char *err, size_t errsz);
void lp_afile_abort(lp_afile *f);

/* SHA-256 of a whole file as hex. */
int lp_file_sha256(const char *path, char hex[LP_SHA256_HEX_SIZE], char *err, size_t errsz);

#endif
