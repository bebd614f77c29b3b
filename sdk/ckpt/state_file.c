/* The trainer-state file: named binary records behind a magic/version header
 * and a trailing SHA-256, so a torn, truncated or foreign file is refused
 * before any record is used. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_internal.h"
#include "llmpipe/fsutil.h"

struct lp_state_writer {
    lp_afile f;
    uint64_t count;
    long count_off;
};

static void put_le(uint8_t *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *b, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

/* Records stream straight to disk (optimizer moments can be large), so the
 * count, unknown until the end, goes into the trailer under the hash. */
int lp_state_writer_open(lp_state_writer **out, const char *path, char *err, size_t errsz) {
    lp_state_writer *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errsz, "%s: out of memory", path);
        return -1;
    }
    if (lp_afile_open(&w->f, path, err, errsz)) {
        free(w);
        return -1;
    }
    uint8_t h[16];
    memcpy(h, LP_STATE_MAGIC, 8);
    put_le(h + 8, LP_STATE_VERSION, 4);
    put_le(h + 12, 0, 4);
    lp_afile_write(&w->f, h, sizeof h);
    *out = w;
    return 0;
}

int lp_state_put(lp_state_writer *w, const char *name, const void *data, size_t len) {
    size_t nl = strlen(name);
    if (nl == 0 || nl > 65535) return -1;
    uint8_t b[10];
    put_le(b, nl, 2);
    lp_afile_write(&w->f, b, 2);
    lp_afile_write(&w->f, name, nl);
    put_le(b, len, 8);
    lp_afile_write(&w->f, b, 8);
    if (len) lp_afile_write(&w->f, data, len);
    w->count++;
    return w->f.failed ? -1 : 0;
}

int lp_state_put_f64(lp_state_writer *w, const char *name, double v) {
    return lp_state_put(w, name, &v, sizeof v);
}

int lp_state_put_i64(lp_state_writer *w, const char *name, int64_t v) {
    uint8_t b[8];
    put_le(b, (uint64_t)v, 8);
    return lp_state_put(w, name, b, 8);
}

int lp_state_writer_close(lp_state_writer *w, char *sha256_hex, char *err, size_t errsz) {
    uint8_t b[8];
    put_le(b, w->count, 8);
    lp_afile_write(&w->f, b, 8);
    lp_sha256 copy = w->f.sha;
    uint8_t digest[32];
    lp_sha256_final(&copy, digest);
    lp_afile_write(&w->f, digest, 32);
    int rc = lp_afile_commit(&w->f, sha256_hex, err, errsz);
    free(w);
    return rc;
}

void lp_state_writer_abort(lp_state_writer *w) {
    if (!w) return;
    lp_afile_abort(&w->f);
    free(w);
}

typedef struct rec {
    char *name;
    const uint8_t *data;
    uint64_t len;
} rec;

struct lp_state {
    uint8_t *buf;
    rec *r;
    size_t n;
};

int lp_state_load(lp_state **out, const char *path, char *err, size_t errsz) {
    *out = NULL;
    size_t len;
    uint8_t *buf = (uint8_t *)lp_read_file(path, &len, err, errsz);
    if (!buf) return -1;
    lp_state *s = calloc(1, sizeof *s);
    if (!s) {
        free(buf);
        snprintf(err, errsz, "%s: out of memory", path);
        return -1;
    }
    s->buf = buf;
    if (len < 16 + 8 + 32 || memcmp(buf, LP_STATE_MAGIC, 8)) {
        snprintf(err, errsz, "%s: not a trainer-state file (magic \"%s\" expected)", path, LP_STATE_MAGIC);
        goto fail;
    }
    uint32_t ver = (uint32_t)get_le(buf + 8, 4);
    if (ver != LP_STATE_VERSION) {
        snprintf(err, errsz, "%s: trainer-state version %u, this build reads version %d", path, ver,
                 LP_STATE_VERSION);
        goto fail;
    }
    uint8_t digest[32];
    lp_sha256 sh;
    lp_sha256_init(&sh);
    lp_sha256_update(&sh, buf, len - 32);
    lp_sha256_final(&sh, digest);
    if (memcmp(digest, buf + len - 32, 32)) {
        snprintf(err, errsz, "%s: hash mismatch (file truncated or corrupted)", path);
        goto fail;
    }
    uint64_t count = get_le(buf + len - 40, 8);
    size_t end = len - 40, p = 16;
    if (count > end) {
        snprintf(err, errsz, "%s: record count %" PRIu64 " is impossible", path, count);
        goto fail;
    }
    s->r = calloc(count ? count : 1, sizeof *s->r);
    if (!s->r) {
        snprintf(err, errsz, "%s: out of memory", path);
        goto fail;
    }
    for (uint64_t i = 0; i < count; i++) {
        if (end - p < 2) goto trunc;
        size_t nl = (size_t)get_le(buf + p, 2);
        p += 2;
        if (nl == 0 || end - p < nl + 8) goto trunc;
        s->r[i].name = strndup((const char *)buf + p, nl);
        p += nl;
        uint64_t rl = get_le(buf + p, 8);
        p += 8;
        if (rl > end - p) goto trunc;
        s->r[i].data = buf + p;
        s->r[i].len = rl;
        p += rl;
        s->n++;
    }
    if (p != end) goto trunc;
    *out = s;
    return 0;
trunc:
    snprintf(err, errsz, "%s: records do not fit the file (corrupted)", path);
fail:
    lp_state_free(s);
    return -1;
}

void lp_state_free(lp_state *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) free(s->r[i].name);
    free(s->r);
    free(s->buf);
    free(s);
}

const void *lp_state_get(const lp_state *s, const char *name, size_t *len) {
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->r[i].name, name)) {
            if (len) *len = (size_t)s->r[i].len;
            return s->r[i].data;
        }
    return NULL;
}

int lp_state_read(const lp_state *s, const char *name, void *out, size_t len, char *err, size_t errsz) {
    size_t have;
    const void *d = lp_state_get(s, name, &have);
    if (!d) {
        snprintf(err, errsz, "trainer state: no record '%s'", name);
        return -1;
    }
    if (have != len) {
        snprintf(err, errsz,
                 "trainer state: record '%s' is %zu bytes, expected %zu (another model or setting?)", name,
                 have, len);
        return -1;
    }
    memcpy(out, d, len);
    return 0;
}

int lp_state_get_f64(const lp_state *s, const char *name, double *v, char *err, size_t errsz) {
    return lp_state_read(s, name, v, sizeof *v, err, errsz);
}

int lp_state_get_i64(const lp_state *s, const char *name, int64_t *v, char *err, size_t errsz) {
    uint8_t b[8];
    if (lp_state_read(s, name, b, 8, err, errsz)) return -1;
    *v = (int64_t)get_le(b, 8);
    return 0;
}
