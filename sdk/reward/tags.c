/* String fields of record files that lp_dataset does not keep. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/error.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/reward.h"

struct lp_record_tags {
    size_t n, cap;
    int *line; /* 1-based line of each object (0 in a JSON array) */
    char **value;
    int jsonl;
};

static int push(lp_record_tags *t, int line, json_t *o, const char *key) {
    if (t->n == t->cap) {
        size_t nc = t->cap ? 2 * t->cap : 256;
        int *l = realloc(t->line, nc * sizeof *l);
        if (l) t->line = l;
        char **v = realloc(t->value, nc * sizeof *v);
        if (v) t->value = v;
        if (!l || !v) return -1;
        t->cap = nc;
    }
    const char *s = json_string_value(json_object_get(o, key));
    t->line[t->n] = line;
    t->value[t->n] = s ? strdup(s) : NULL;
    if (s && !t->value[t->n]) return -1;
    t->n++;
    return 0;
}

int lp_record_tags_load(lp_record_tags **out, const char *path, const char *key, char *err, size_t errsz) {
    size_t len;
    if (errsz) err[0] = 0;
    char *buf = lp_read_file(path, &len, err, errsz);
    if (!buf) return -1;
    lp_record_tags *t = calloc(1, sizeof *t);
    int rc = t ? 0 : -1;
    size_t p = 0;
    while (p < len && strchr(" \t\r\n", buf[p])) p++;
    if (t && p < len && buf[p] == '[') {
        json_error_t je;
        json_t *a = json_loadb(buf, len, 0, &je);
        if (!a) rc = lp_errf(err, errsz, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        for (size_t i = 0; !rc && i < json_array_size(a); i++) rc = push(t, 0, json_array_get(a, i), key);
        json_decref(a);
    } else if (t) {
        t->jsonl = 1;
        int line = 0;
        for (size_t pos = 0; pos < len && !rc;) {
            line++;
            const char *nl = memchr(buf + pos, '\n', len - pos);
            size_t end = nl ? (size_t)(nl - buf) : len;
            json_t *o = json_loadb(buf + pos, end - pos, 0, NULL);
            /* a malformed line is the record reader's business: no tag */
            if (o) rc = push(t, line, o, key);
            json_decref(o);
            pos = end + 1;
        }
    }
    free(buf);
    if (rc) {
        if (t && !err[0]) lp_errf(err, errsz, "%s: out of memory", path);
        lp_record_tags_destroy(t);
        return -1;
    }
    *out = t;
    return 0;
}

void lp_record_tags_destroy(lp_record_tags *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) free(t->value[i]);
    free(t->value);
    free(t->line);
    free(t);
}

const char *lp_record_tag(const lp_record_tags *t, size_t index, int line) {
    if (!t) return NULL;
    if (!t->jsonl) return index < t->n ? t->value[index] : NULL;
    /* lines increase through the file: binary search */
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->line[mid] < line)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n && t->line[lo] == line ? t->value[lo] : NULL;
}
