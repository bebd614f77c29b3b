/* safetensors reader. The header is untrusted input: every field is checked
 * against the file size before the data section is touched, so a truncated
 * or hostile file is refused with a message instead of read out of bounds. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_internal.h"
#include "llmpipe/ckpt.h"

/* The reference implementation refuses headers above 100 MB too. */
#define MAX_HEADER (100u * 1024u * 1024u)

struct lp_safetensors {
    int fd;
    char *path;
    uint64_t data_off, data_size;
    lp_st_tensor *t;
    size_t n;
    json_t *root; /* owns the names */
};

static const struct {
    const char *name;
    lp_st_dtype dt;
    unsigned size;
} dtypes[] = {
    {"F32", LP_ST_F32, 4}, {"F16", LP_ST_F16, 2},   {"BF16", LP_ST_BF16, 2}, {"F64", LP_ST_F64, 8},
    {"I64", LP_ST_I64, 8}, {"I32", LP_ST_I32, 4},   {"I16", LP_ST_I16, 2},   {"I8", LP_ST_I8, 1},
    {"U8", LP_ST_U8, 1},   {"BOOL", LP_ST_BOOL, 1},
};

unsigned lp_st_dtype_size(lp_st_dtype dt) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dt == dt) return dtypes[i].size;
    return 0;
}

const char *lp_st_dtype_name(lp_st_dtype dt) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dt == dt) return dtypes[i].name;
    return "?";
}

static int cmp_begin(const void *a, const void *b) {
    const lp_st_tensor *x = *(const lp_st_tensor *const *)a, *y = *(const lp_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int check_entry(const char *path, const char *name, json_t *v, uint64_t data_size, lp_st_tensor *t,
                       char *err, size_t errsz) {
    if (!json_is_object(v))
        return lp_errf(err, errsz, "%s: tensor '%s': header entry is not an object", path, name);
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
           *off = json_object_get(v, "data_offsets");
    if (!json_is_string(dt))
        return lp_errf(err, errsz, "%s: tensor '%s': missing or non-string \"dtype\"", path, name);
    int found = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(json_string_value(dt), dtypes[i].name)) {
            t->dtype = dtypes[i].dt;
            found = 1;
        }
    if (!found)
        return lp_errf(err, errsz,
                       "%s: tensor '%s': unknown dtype \"%.32s\" (expected F32, F16, BF16, F64, I64, I32, "
                       "I16, I8, U8 or BOOL)",
                       path, name, json_string_value(dt));
    if (!json_is_array(sh))
        return lp_errf(err, errsz, "%s: tensor '%s': missing or non-array \"shape\"", path, name);
    if (json_array_size(sh) > LP_ST_MAX_DIMS)
        return lp_errf(err, errsz, "%s: tensor '%s': %zu dimensions, at most %d supported", path, name,
                       json_array_size(sh), LP_ST_MAX_DIMS);
    t->ndim = (int)json_array_size(sh);
    uint64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        json_t *e = json_array_get(sh, (size_t)d);
        if (!json_is_integer(e) || json_integer_value(e) < 0)
            return lp_errf(err, errsz, "%s: tensor '%s': shape[%d] is not a non-negative integer", path, name,
                           d);
        uint64_t s = (uint64_t)json_integer_value(e);
        /* 2^48 elements is far beyond any file; it keeps the products exact */
        if (s > (1ull << 48) || (s && numel > (1ull << 48) / s))
            return lp_errf(err, errsz, "%s: tensor '%s': shape overflows (element count beyond 2^48)", path,
                           name);
        numel *= s;
        t->shape[d] = (int64_t)s;
    }
    t->numel = numel;
    if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(json_array_get(off, 0)) ||
        !json_is_integer(json_array_get(off, 1)) || json_integer_value(json_array_get(off, 0)) < 0 ||
        json_integer_value(json_array_get(off, 1)) < 0)
        return lp_errf(err, errsz,
                       "%s: tensor '%s': \"data_offsets\" must be [begin, end] with non-negative integers",
                       path, name);
    t->begin = (uint64_t)json_integer_value(json_array_get(off, 0));
    t->end = (uint64_t)json_integer_value(json_array_get(off, 1));
    if (t->begin > t->end)
        return lp_errf(err, errsz,
                       "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] end before begin", path,
                       name, t->begin, t->end);
    if (t->end > data_size)
        return lp_errf(err, errsz,
                       "%s: tensor '%s': data_offsets end %" PRIu64 " beyond the data section (%" PRIu64
                       " bytes; file truncated?)",
                       path, name, t->end, data_size);
    uint64_t want = numel * lp_st_dtype_size(t->dtype);
    if (t->end - t->begin != want)
        return lp_errf(err, errsz,
                       "%s: tensor '%s': data_offsets span %" PRIu64
                       " bytes but shape and dtype %s need %" PRIu64,
                       path, name, t->end - t->begin, lp_st_dtype_name(t->dtype), want);
    return 0;
}

int lp_st_open(lp_safetensors **out, const char *path, char *err, size_t errsz) {
    *out = NULL;
    lp_safetensors *st = calloc(1, sizeof *st);
    if (!st) return lp_errf(err, errsz, "%s: out of memory", path);
    st->fd = -1;
    st->path = strdup(path);
    char *hdr = NULL;
    st->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (st->fd < 0) {
        lp_errf(err, errsz, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(st->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        lp_errf(err, errsz, "%s: not a regular file", path);
        goto fail;
    }
    uint64_t fsize = (uint64_t)sb.st_size;
    if (fsize < 8) {
        lp_errf(err, errsz, "%s: file is %" PRIu64 " bytes, shorter than the 8-byte header length", path,
                fsize);
        goto fail;
    }
    uint8_t lenb[8];
    if (lp_pread_full(st->fd, lenb, 8, 0) != 0) {
        lp_errf(err, errsz, "%s: read failed", path);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | lenb[i];
    if (hlen > fsize - 8) {
        lp_errf(err, errsz,
                "%s: header length %" PRIu64 " exceeds the file (%" PRIu64 " bytes after the length)", path,
                hlen, fsize - 8);
        goto fail;
    }
    if (hlen > MAX_HEADER) {
        lp_errf(err, errsz, "%s: header length %" PRIu64 " above the 100 MB limit", path, hlen);
        goto fail;
    }
    if (hlen < 2) {
        lp_errf(err, errsz, "%s: header of %" PRIu64 " bytes cannot be a JSON object", path, hlen);
        goto fail;
    }
    hdr = malloc(hlen);
    if (!hdr) {
        lp_errf(err, errsz, "%s: out of memory for the header", path);
        goto fail;
    }
    if (lp_pread_full(st->fd, hdr, hlen, 8) != 0) {
        lp_errf(err, errsz, "%s: read failed", path);
        goto fail;
    }
    json_error_t je;
    st->root = json_loadb(hdr, hlen, JSON_REJECT_DUPLICATES, &je);
    if (!st->root) {
        lp_errf(err, errsz, "%s: header is not valid JSON (%s at byte %d)", path, je.text, je.position);
        goto fail;
    }
    if (!json_is_object(st->root)) {
        lp_errf(err, errsz, "%s: header is not a JSON object", path);
        goto fail;
    }
    st->data_off = 8 + hlen;
    st->data_size = fsize - st->data_off;
    size_t cap = json_object_size(st->root);
    st->t = calloc(cap ? cap : 1, sizeof *st->t);
    if (!st->t) {
        lp_errf(err, errsz, "%s: out of memory", path);
        goto fail;
    }
    const char *key;
    json_t *v;
    json_object_foreach(st->root, key, v) {
        if (!strcmp(key, "__metadata__")) {
            if (!json_is_object(v)) {
                lp_errf(err, errsz, "%s: __metadata__ is not an object", path);
                goto fail;
            }
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv) {
                if (!json_is_string(mv)) {
                    lp_errf(err, errsz, "%s: __metadata__ value of '%s' is not a string", path, mk);
                    goto fail;
                }
            }
            continue;
        }
        if (key[0] == '\0') {
            lp_errf(err, errsz, "%s: tensor with an empty name", path);
            goto fail;
        }
        lp_st_tensor *t = &st->t[st->n];
        t->name = key;
        if (check_entry(path, key, v, st->data_size, t, err, errsz)) goto fail;
        st->n++;
    }
    /* Overlapping ranges would let one tensor alias another's bytes. */
    if (st->n > 1) {
        const lp_st_tensor **ord = malloc(st->n * sizeof *ord);
        if (!ord) {
            lp_errf(err, errsz, "%s: out of memory", path);
            goto fail;
        }
        for (size_t i = 0; i < st->n; i++) ord[i] = &st->t[i];
        qsort(ord, st->n, sizeof *ord, cmp_begin);
        const lp_st_tensor *last = NULL; /* the non-empty tensor ending furthest so far */
        for (size_t i = 0; i < st->n; i++) {
            if (ord[i]->begin == ord[i]->end) continue; /* empty tensors own no bytes */
            if (last && ord[i]->begin < last->end) {
                lp_errf(err, errsz, "%s: tensors '%s' and '%s' overlap in the data section", path, last->name,
                        ord[i]->name);
                free(ord);
                goto fail;
            }
            if (!last || ord[i]->end > last->end) last = ord[i];
        }
        free(ord);
    }
    free(hdr);
    *out = st;
    return 0;
fail:
    free(hdr);
    lp_st_close(st);
    return -1;
}

void lp_st_close(lp_safetensors *st) {
    if (!st) return;
    if (st->fd >= 0) close(st->fd);
    json_decref(st->root);
    free(st->t);
    free(st->path);
    free(st);
}

size_t lp_st_count(const lp_safetensors *st) { return st->n; }
const lp_st_tensor *lp_st_tensor_at(const lp_safetensors *st, size_t i) {
    return i < st->n ? &st->t[i] : NULL;
}

const lp_st_tensor *lp_st_find(const lp_safetensors *st, const char *name) {
    for (size_t i = 0; i < st->n; i++)
        if (!strcmp(st->t[i].name, name)) return &st->t[i];
    return NULL;
}

static float half_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0)
            bits = sign;
        else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            bits = sign | exp << 23 | (man & 0x3ff) << 13;
        }
    } else if (exp == 31)
        bits = sign | 0x7f800000u | man << 13;
    else
        bits = sign | (exp + 127 - 15) << 23 | man << 13;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int lp_st_read_f32(lp_safetensors *st, const lp_st_tensor *t, float *out, size_t n, char *err, size_t errsz) {
    if (t->numel != n)
        return lp_errf(err, errsz, "%s: tensor '%s' has %" PRIu64 " elements, expected %zu", st->path,
                       t->name, t->numel, n);
    if (t->dtype != LP_ST_F32 && t->dtype != LP_ST_F16 && t->dtype != LP_ST_BF16)
        return lp_errf(err, errsz, "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16", st->path,
                       t->name, lp_st_dtype_name(t->dtype));
    if (n == 0) return 0;
    if (t->dtype == LP_ST_F32) {
        if (lp_pread_full(st->fd, out, n * 4, st->data_off + t->begin))
            return lp_errf(err, errsz, "%s: tensor '%s': read failed (file changed?)", st->path, t->name);
        return 0;
    }
    /* half types: read in place into the upper half of out, expand upwards */
    unsigned char *h = (unsigned char *)out + 2 * n;
    if (lp_pread_full(st->fd, h, n * 2, st->data_off + t->begin))
        return lp_errf(err, errsz, "%s: tensor '%s': read failed (file changed?)", st->path, t->name);
    for (size_t i = 0; i < n; i++) {
        uint16_t v; /* byte copies: the reads and writes share one buffer */
        memcpy(&v, h + 2 * i, 2);
        if (t->dtype == LP_ST_BF16) {
            uint32_t bits = (uint32_t)v << 16;
            memcpy(&out[i], &bits, 4);
        } else {
            float f = half_to_f32(v);
            memcpy(&out[i], &f, 4);
        }
    }
    return 0;
}
