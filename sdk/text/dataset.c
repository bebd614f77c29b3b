/* JSONL / JSON-array record files for SFT, preference, ranked and prompt
 * data, parsed by jansson; every problem is reported as file:line:column. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/data.h"
#include "text_internal.h"

struct lp_dataset {
    lp_record *r;
    size_t n, cap;
    size_t skipped;
    char first_skip[512];
    /* every string of every record, freed together */
    char **strs;
    size_t nstrs, capstrs;
};

static const char *KIND_NAMES[] = {"sft", "pref", "ranked", "prompts"};

int lp_data_kind_parse(const char *name, lp_data_kind *kind) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, KIND_NAMES[i])) {
            *kind = (lp_data_kind)i;
            return 0;
        }
    return -1;
}

const char *lp_data_kind_name(lp_data_kind kind) { return (unsigned)kind < 4 ? KIND_NAMES[kind] : "?"; }

void lp_dataset_destroy(lp_dataset *d) {
    if (!d) return;
    for (size_t i = 0; i < d->nstrs; i++) free(d->strs[i]);
    free(d->strs);
    for (size_t i = 0; i < d->n; i++) free((void *)d->r[i].responses);
    free(d->r);
    free(d);
}

size_t lp_dataset_count(const lp_dataset *d) { return d->n; }
const lp_record *lp_dataset_get(const lp_dataset *d, size_t i) { return i < d->n ? &d->r[i] : NULL; }
size_t lp_dataset_skipped(const lp_dataset *d) { return d->skipped; }
const char *lp_dataset_first_skip(const lp_dataset *d) { return d->first_skip; }

static char *keep(lp_dataset *d, const char *s) {
    if (d->nstrs == d->capstrs) {
        size_t nc = d->capstrs ? d->capstrs * 2 : 1024;
        char **n = realloc(d->strs, nc * sizeof *n);
        if (!n) return NULL;
        d->strs = n;
        d->capstrs = nc;
    }
    char *c = strdup(s);
    if (c) d->strs[d->nstrs++] = c;
    return c;
}

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
        case JSON_OBJECT: return "an object";
        case JSON_ARRAY: return "an array";
        case JSON_STRING: return "a string";
        case JSON_INTEGER:
        case JSON_REAL: return "a number";
        case JSON_TRUE:
        case JSON_FALSE: return "a boolean";
        default: return "null";
    }
}

/* A string field; *out stays NULL when absent and optional. */
static int get_str(lp_dataset *d, json_t *o, const char *key, int required, const char **out, char *why,
                   size_t wsz) {
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v) {
        if (required) snprintf(why, wsz, "missing field \"%s\"", key);
        return required ? -1 : 0;
    }
    if (!json_is_string(v)) {
        snprintf(why, wsz, "field \"%s\": expected a string, got %s", key, type_name(v));
        return -1;
    }
    *out = keep(d, json_string_value(v));
    if (!*out) {
        snprintf(why, wsz, "out of memory");
        return -1;
    }
    return 0;
}

static int nonempty(const char *s, const char *key, char *why, size_t wsz) {
    for (const char *p = s; *p; p++)
        if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r') return 0;
    snprintf(why, wsz, "field \"%s\" is empty", key);
    return -1;
}

/* Validates one object into r; why gets the reason on failure. */
static int convert(lp_dataset *d, lp_data_kind kind, json_t *o, lp_record *r, char *why, size_t wsz) {
    memset(r, 0, sizeof *r);
    if (!json_is_object(o)) {
        snprintf(why, wsz, "expected a JSON object, got %s", type_name(o));
        return -1;
    }
    switch (kind) {
        case LP_DATA_SFT:
            if (get_str(d, o, "instruction", 1, &r->instruction, why, wsz) ||
                nonempty(r->instruction, "instruction", why, wsz) ||
                get_str(d, o, "input", 0, &r->input, why, wsz) ||
                get_str(d, o, "output", 1, &r->output, why, wsz) || nonempty(r->output, "output", why, wsz))
                return -1;
            if (!r->input && !(r->input = keep(d, ""))) {
                snprintf(why, wsz, "out of memory");
                return -1;
            }
            return 0;
        case LP_DATA_PREF: {
            if (get_str(d, o, "prompt", 1, &r->prompt, why, wsz) || nonempty(r->prompt, "prompt", why, wsz) ||
                get_str(d, o, "chosen", 1, &r->chosen, why, wsz) ||
                get_str(d, o, "rejected", 1, &r->rejected, why, wsz))
                return -1;
            if (!strcmp(r->chosen, r->rejected)) {
                snprintf(why, wsz, "\"chosen\" and \"rejected\" are the same text");
                return -1;
            }
            json_t *m = json_object_get(o, "margin");
            if (m && !json_is_null(m)) {
                if (!json_is_number(m)) {
                    snprintf(why, wsz, "field \"margin\": expected a number, got %s", type_name(m));
                    return -1;
                }
                r->margin = json_number_value(m);
                r->has_margin = 1;
            }
            return 0;
        }
        case LP_DATA_RANKED: {
            if (get_str(d, o, "prompt", 1, &r->prompt, why, wsz) || nonempty(r->prompt, "prompt", why, wsz))
                return -1;
            json_t *a = json_object_get(o, "responses");
            if (!json_is_array(a) || json_array_size(a) < 2) {
                snprintf(why, wsz,
                         "field \"responses\": expected an array of at least 2 strings (best first), got %s",
                         a ? (json_is_array(a) ? "fewer" : type_name(a)) : "nothing");
                return -1;
            }
            size_t k = json_array_size(a);
            const char **resp = calloc(k, sizeof *resp);
            if (!resp) {
                snprintf(why, wsz, "out of memory");
                return -1;
            }
            for (size_t i = 0; i < k; i++) {
                json_t *s = json_array_get(a, i);
                if (!json_is_string(s)) {
                    snprintf(why, wsz, "field \"responses\"[%zu]: expected a string, got %s", i,
                             type_name(s));
                    free(resp);
                    return -1;
                }
                resp[i] = keep(d, json_string_value(s));
                if (!resp[i]) {
                    free(resp);
                    snprintf(why, wsz, "out of memory");
                    return -1;
                }
            }
            r->responses = resp;
            r->k = (int)k;
            return 0;
        }
        case LP_DATA_PROMPTS:
            return get_str(d, o, "prompt", 1, &r->prompt, why, wsz) ||
                           nonempty(r->prompt, "prompt", why, wsz) ||
                           get_str(d, o, "reference", 0, &r->reference, why, wsz) ||
                           get_str(d, o, "family", 0, &r->family, why, wsz)
                       ? -1
                       : 0;
    }
    snprintf(why, wsz, "unknown data kind");
    return -1;
}

typedef struct {
    lp_dataset *d;
    const char *path;
    lp_data_kind kind;
    int skip_bad;
    char *err;
    size_t errsz;
} reader;

/* A bad record: fail, or count it and go on. Returns -1 to stop. */
static int bad(reader *rd, int line, int col, const char *why) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s:%d:%d: %s", rd->path, line, col, why);
    if (!rd->skip_bad) return lp_errf(rd->err, rd->errsz, "%s", msg);
    if (!rd->d->skipped++) snprintf(rd->d->first_skip, sizeof rd->d->first_skip, "%s", msg);
    return 0;
}

static int add(reader *rd, json_t *o, int line, int col) {
    lp_dataset *d = rd->d;
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 256;
        lp_record *n = realloc(d->r, nc * sizeof *n);
        if (!n) return lp_errf(rd->err, rd->errsz, "%s: out of memory", rd->path);
        d->r = n;
        d->cap = nc;
    }
    char why[400];
    lp_record *r = &d->r[d->n];
    if (convert(d, rd->kind, o, r, why, sizeof why)) return bad(rd, line, col, why);
    r->line = line;
    d->n++;
    return 0;
}

static int read_jsonl(reader *rd, const char *buf, size_t len) {
    int line = 0;
    for (size_t pos = 0; pos < len;) {
        line++;
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t s = pos;
        while (s < end && (buf[s] == ' ' || buf[s] == '\t' || buf[s] == '\r')) s++;
        if (s < end) {
            json_error_t je;
            json_t *o = json_loadb(buf + pos, end - pos, 0, &je);
            int rc = o ? add(rd, o, line, (int)(s - pos) + 1)
                       : bad(rd, line, je.column > 0 ? je.column : 1, je.text);
            json_decref(o);
            if (rc) return -1;
        }
        pos = end + 1;
    }
    return 0;
}

static int read_array(reader *rd, const char *buf, size_t len, size_t pos) {
    int line = 1;
    size_t line_start = 0, scanned = 0;
#define ADVANCE_TO(p)                 \
    for (; scanned < (p); scanned++)  \
        if (buf[scanned] == '\n') {   \
            line++;                   \
            line_start = scanned + 1; \
        }
#define SKIP_WS() \
    while (pos < len && (buf[pos] == ' ' || buf[pos] == '\n' || buf[pos] == '\t' || buf[pos] == '\r')) pos++
    pos++; /* '[' */
    SKIP_WS();
    if (pos < len && buf[pos] == ']') return 0;
    for (;;) {
        ADVANCE_TO(pos);
        int col = (int)(pos - line_start) + 1;
        json_error_t je;
        json_t *o = json_loadb(buf + pos, len - pos, JSON_DISABLE_EOF_CHECK, &je);
        if (!o) {
            /* jansson counts from the element start */
            int l = line + je.line - 1, c = je.line <= 1 ? col + je.column - 1 : je.column;
            return lp_errf(rd->err, rd->errsz, "%s:%d:%d: %s", rd->path, l, c > 0 ? c : 1, je.text);
        }
        int rc = add(rd, o, line, col);
        json_decref(o);
        if (rc) return -1;
        pos += je.position;
        SKIP_WS();
        ADVANCE_TO(pos);
        if (pos < len && buf[pos] == ',') {
            pos++;
            SKIP_WS();
            continue;
        }
        if (pos < len && buf[pos] == ']') {
            pos++;
            SKIP_WS();
            ADVANCE_TO(pos);
            if (pos < len)
                return lp_errf(rd->err, rd->errsz, "%s:%d:%d: unexpected text after the closing ']'",
                               rd->path, line, (int)(pos - line_start) + 1);
            return 0;
        }
        return lp_errf(rd->err, rd->errsz, "%s:%d:%d: expected ',' or ']' after a record", rd->path, line,
                       (int)(pos - line_start) + 1);
    }
#undef ADVANCE_TO
#undef SKIP_WS
}

int lp_dataset_load(lp_dataset **out, const char *path, lp_data_kind kind, int skip_bad, char *err,
                    size_t errsz) {
    char *buf;
    size_t len;
    if (!(buf = lp_read_file(path, &len, err, errsz))) return -1;
    lp_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        free(buf);
        lp_errf(err, errsz, "%s: out of memory", path);
        return -1;
    }
    reader rd = {d, path, kind, skip_bad, err, errsz};
    size_t p = 0;
    while (p < len && (buf[p] == ' ' || buf[p] == '\n' || buf[p] == '\t' || buf[p] == '\r')) p++;
    int rc = p < len && buf[p] == '[' ? read_array(&rd, buf, len, p) : read_jsonl(&rd, buf, len);
    free(buf);
    if (rc == 0 && d->n == 0) {
        lp_errf(err, errsz, "%s: no valid %s records%s%s", path, lp_data_kind_name(kind),
                d->skipped ? "; first problem: " : "", d->first_skip);
        rc = -1;
    }
    if (rc) {
        lp_dataset_destroy(d);
        return -1;
    }
    *out = d;
    return 0;
}
