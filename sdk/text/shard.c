/* Token shards: header + packed little-endian tokens, written atomically and
 * read through mmap. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpipe/data.h"
#include "text_internal.h"

struct lp_shard_writer {
    lp_atomic_file *f;
    char *path;
    uint32_t width;
    int vocab;
    int32_t eot;
    uint64_t count;
};

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static void header(uint8_t *h, uint32_t width, uint64_t count, int vocab, int32_t eot) {
    memset(h, 0, LP_SHARD_HEADER_SIZE);
    memcpy(h, LP_SHARD_MAGIC, 8);
    put_u32(h + 8, LP_SHARD_VERSION);
    put_u32(h + 12, width);
    put_u64(h + 16, count);
    put_u32(h + 24, (uint32_t)vocab);
    put_u32(h + 28, (uint32_t)eot);
}

int lp_shard_writer_create(lp_shard_writer **out, const char *path, int vocab_size, int32_t eot, char *err,
                           size_t errsz) {
    if (vocab_size <= 0) return lp_errf(err, errsz, "%s: vocabulary size must be positive", path);
    lp_shard_writer *w = calloc(1, sizeof *w);
    if (w) w->path = strdup(path);
    if (!w || !w->path) {
        if (w) free(w);
        return lp_errf(err, errsz, "%s: out of memory", path);
    }
    w->f = lp_atomic_open(path, err, errsz);
    if (!w->f) {
        free(w->path);
        free(w);
        return -1;
    }
    w->width = vocab_size <= 65536 ? 2 : 4;
    w->vocab = vocab_size;
    w->eot = eot;
    uint8_t h[LP_SHARD_HEADER_SIZE];
    header(h, w->width, 0, vocab_size, eot); /* count is filled in at close */
    lp_atomic_write(w->f, h, sizeof h);
    *out = w;
    return 0;
}

int lp_shard_writer_append(lp_shard_writer *w, const int32_t *ids, size_t n, char *err, size_t errsz) {
    uint8_t buf[4096];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= w->vocab)
            return lp_errf(err, errsz, "%s: token %d is outside the vocabulary (size %d)", w->path, ids[i],
                           w->vocab);
        for (uint32_t b = 0; b < w->width; b++) buf[k++] = (uint8_t)((uint32_t)ids[i] >> (8 * b));
        if (k + 4 > sizeof buf) {
            lp_atomic_write(w->f, buf, k);
            k = 0;
        }
    }
    w->count += n;
    if (lp_atomic_write(w->f, buf, k)) return lp_errf(err, errsz, "%s: write failed", w->path);
    return 0;
}

static void free_writer(lp_shard_writer *w) {
    free(w->path);
    free(w);
}

void lp_shard_writer_abort(lp_shard_writer *w) {
    if (!w) return;
    lp_atomic_abort(w->f);
    free_writer(w);
}

int lp_shard_writer_close(lp_shard_writer *w, char *err, size_t errsz) {
    uint8_t h[LP_SHARD_HEADER_SIZE];
    header(h, w->width, w->count, w->vocab, w->eot);
    /* the count is known only now: the header is rewritten in place */
    int rc = lp_atomic_pwrite(w->f, h, sizeof h, 0);
    rc |= lp_atomic_commit(w->f, err, errsz);
    free_writer(w);
    return rc ? -1 : 0;
}

struct lp_shard {
    const uint8_t *map;
    size_t size;
    const uint8_t *data;
    uint32_t width;
    uint64_t count;
    int vocab;
};

int lp_shard_open(lp_shard **out, const char *path, char *err, size_t errsz) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return lp_errf(err, errsz, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < LP_SHARD_HEADER_SIZE) {
        close(fd);
        return lp_errf(err, errsz, "%s: not a token shard (shorter than its %d-byte header)", path,
                       LP_SHARD_HEADER_SIZE);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return lp_errf(err, errsz, "%s: mmap failed: %s", path, strerror(errno));
    const uint8_t *h = m;
    const char *why = NULL;
    uint32_t width = get_u32(h + 12);
    uint64_t count = get_u64(h + 16);
    if (memcmp(h, LP_SHARD_MAGIC, 8) != 0)
        why = "bad magic (expected \"" LP_SHARD_MAGIC "\")";
    else if (get_u32(h + 8) != LP_SHARD_VERSION)
        why = "unsupported version (expected 1)";
    else if (width != 2 && width != 4)
        why = "bytes per token must be 2 or 4";
    else if (count > ((uint64_t)st.st_size - LP_SHARD_HEADER_SIZE) / width ||
             count * width != (uint64_t)st.st_size - LP_SHARD_HEADER_SIZE)
        why = "file size does not match the token count in the header (truncated?)";
    if (why) {
        munmap(m, (size_t)st.st_size);
        return lp_errf(err, errsz, "%s: %s", path, why);
    }
    lp_shard *s = calloc(1, sizeof *s);
    if (!s) {
        munmap(m, (size_t)st.st_size);
        lp_errf(err, errsz, "%s: out of memory", path);
        return -1;
    }
    s->map = m;
    s->size = (size_t)st.st_size;
    s->data = s->map + LP_SHARD_HEADER_SIZE;
    s->width = width;
    s->count = count;
    s->vocab = (int)get_u32(h + 24);
    *out = s;
    return 0;
}

void lp_shard_close(lp_shard *s) {
    if (!s) return;
    munmap((void *)s->map, s->size);
    free(s);
}

uint64_t lp_shard_count(const lp_shard *s) { return s->count; }
int lp_shard_vocab_size(const lp_shard *s) { return s->vocab; }

int lp_shard_read(const lp_shard *s, uint64_t off, size_t n, int32_t *out) {
    if (off > s->count || n > s->count - off) return -1;
    const uint8_t *p = s->data + off * s->width;
    if (s->width == 2)
        for (size_t i = 0; i < n; i++) out[i] = (int32_t)(p[2 * i] | p[2 * i + 1] << 8);
    else
        for (size_t i = 0; i < n; i++) out[i] = (int32_t)get_u32(p + 4 * i);
    return 0;
}
