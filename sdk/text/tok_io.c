/* Tokenizer files: Hugging Face tokenizer.json and GPT-2 vocab.json +
 * merges.txt, through jansson. Vocabulary strings are byte-level encoded. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "text_internal.h"

typedef struct {
    char *bytes;
    size_t len;
    int special;
    int set;
} entry;

/* Places (id, bytes) entries into a fresh tokenizer; ids must be 0..n-1. */
static lp_tokenizer *build_vocab(entry *e, size_t n, const char *path, char *err, size_t errsz) {
    for (size_t i = 0; i < n; i++) {
        if (!e[i].set) {
            lp_errf(err, errsz, "%s: vocabulary ids must be contiguous from 0: id %zu is missing", path, i);
            return NULL;
        }
    }
    lp_tokenizer *t = lpt_tokenizer_new(err, errsz);
    if (!t) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (lpt_add_token(t, e[i].bytes, e[i].len, e[i].special) != (int32_t)i) {
            lp_errf(err, errsz, "%s: token id %zu repeats the bytes of an earlier token (or is empty)", path,
                    i);
            lp_tokenizer_destroy(t);
            return NULL;
        }
    }
    if (lpt_refresh_specials(t)) {
        lp_tokenizer_destroy(t);
        lp_errf(err, errsz, "%s: out of memory", path);
        return NULL;
    }
    return t;
}

static void free_entries(entry *e, size_t n) {
    for (size_t i = 0; i < n; i++) free(e[i].bytes);
    free(e);
}

/* Fills entries from a {token: id} object; ids beyond *n grow the table. */
static int read_vocab_obj(json_t *vocab, entry **pe, size_t *pn, const char *path, char *err, size_t errsz) {
    const char *key;
    json_t *val;
    size_t n = *pn;
    entry *e = *pe;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) > 100000000)
            return lp_errf(err, errsz, "%s: vocab entry '%s': expected a non-negative integer id", path, key);
        size_t id = (size_t)json_integer_value(val);
        if (id >= n) {
            size_t nn = id + 1 > 2 * n ? id + 1 : 2 * n;
            entry *ne = realloc(e, nn * sizeof *ne);
            if (!ne) return lp_errf(err, errsz, "%s: out of memory", path);
            memset(ne + n, 0, (nn - n) * sizeof *ne);
            e = ne;
            n = nn;
            *pe = e;
            *pn = n;
        }
        if (e[id].set)
            return lp_errf(err, errsz, "%s: vocab entry '%s': id %zu is used twice", path, key, id);
        if (lpt_bytelevel_decode(key, strlen(key), &e[id].bytes, &e[id].len))
            return lp_errf(
                err, errsz,
                "%s: vocab entry '%s' is not byte-level encoded (not a GPT-2 style BPE vocabulary)", path,
                key);
        e[id].set = 1;
    }
    return 0;
}

static size_t used_len(entry *e, size_t n) {
    while (n && !e[n - 1].set) n--;
    return n;
}

static int add_merge_strings(lp_tokenizer *t, const char *a, const char *b, const char *path, size_t line,
                             char *err, size_t errsz) {
    char *ra = NULL, *rb = NULL;
    size_t la, lb;
    int rc = -1;
    if (lpt_bytelevel_decode(a, strlen(a), &ra, &la) || lpt_bytelevel_decode(b, strlen(b), &rb, &lb)) {
        lp_errf(err, errsz, "%s:%zu: merge '%s %s' is not byte-level encoded", path, line, a, b);
        goto out;
    }
    int32_t ia = lp_tokenizer_token_id(t, ra, la), ib = lp_tokenizer_token_id(t, rb, lb);
    char *cat = malloc(la + lb + 1);
    if (!cat) {
        lp_errf(err, errsz, "%s: out of memory", path);
        goto out;
    }
    memcpy(cat, ra, la);
    memcpy(cat + la, rb, lb);
    int32_t ic = lp_tokenizer_token_id(t, cat, la + lb);
    free(cat);
    if (ia < 0 || ib < 0 || ic < 0) {
        lp_errf(err, errsz, "%s:%zu: merge '%s %s' uses a token missing from the vocabulary", path, line, a,
                b);
        goto out;
    }
    if (lpt_add_merge(t, ia, ib, ic)) {
        lp_errf(err, errsz, "%s: out of memory", path);
        goto out;
    }
    rc = 0;
out:
    free(ra);
    free(rb);
    return rc;
}

static const char *str_or_null(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The options we do not implement must be at their GPT-2 values. */
static int check_bytelevel(json_t *pt, const char *what, const char *path, char *err, size_t errsz) {
    if (!pt || json_is_null(pt)) return 0;
    const char *type = str_or_null(pt, "type");
    if (!type || strcmp(type, "ByteLevel") != 0)
        return lp_errf(err, errsz,
                       "%s: %s: expected type \"ByteLevel\" (GPT-2 style byte-level BPE), got \"%s\"", path,
                       what, type ? type : "?");
    if (strcmp(what, "pre_tokenizer") == 0) {
        if (json_is_true(json_object_get(pt, "add_prefix_space")))
            return lp_errf(err, errsz,
                           "%s: pre_tokenizer: add_prefix_space=true is not supported (GPT-2 uses false)",
                           path);
        json_t *ur = json_object_get(pt, "use_regex");
        if (ur && json_is_false(ur))
            return lp_errf(err, errsz, "%s: pre_tokenizer: use_regex=false is not supported", path);
    }
    return 0;
}

int lp_tokenizer_load(lp_tokenizer **out, const char *path, char *err, size_t errsz) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return lp_errf(err, errsz, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    lp_tokenizer *t = NULL;
    entry *e = NULL;
    size_t n = 0;
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) {
        lp_errf(err, errsz, "%s: missing object \"model\"", path);
        goto fail;
    }
    const char *mtype = str_or_null(model, "type");
    if (mtype && strcmp(mtype, "BPE") != 0) {
        lp_errf(err, errsz, "%s: model.type: expected \"BPE\", got \"%s\"", path, mtype);
        goto fail;
    }
    /* GPT-2's own tokenizer.json spells "no prefix/suffix" as "" */
    const char *csp = str_or_null(model, "continuing_subword_prefix"),
               *eows = str_or_null(model, "end_of_word_suffix");
    if (json_is_true(json_object_get(model, "byte_fallback")) || (csp && *csp) || (eows && *eows)) {
        lp_errf(err, errsz,
                "%s: model: byte_fallback / continuing_subword_prefix / end_of_word_suffix are not supported",
                path);
        goto fail;
    }
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm)) {
        lp_errf(err, errsz, "%s: normalizer: expected null (byte-level BPE keeps text as is)", path);
        goto fail;
    }
    if (check_bytelevel(json_object_get(root, "pre_tokenizer"), "pre_tokenizer", path, err, errsz) ||
        check_bytelevel(json_object_get(root, "decoder"), "decoder", path, err, errsz))
        goto fail;
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab)) {
        lp_errf(err, errsz, "%s: model.vocab: expected an object", path);
        goto fail;
    }
    n = json_object_size(vocab) + 16;
    e = calloc(n, sizeof *e);
    if (!e) {
        lp_errf(err, errsz, "%s: out of memory", path);
        goto fail;
    }
    if (read_vocab_obj(vocab, &e, &n, path, err, errsz)) goto fail;
    json_t *added = json_object_get(root, "added_tokens");
    if (added && !json_is_null(added) && !json_is_array(added)) {
        lp_errf(err, errsz, "%s: added_tokens: expected an array", path);
        goto fail;
    }
    size_t i;
    json_t *at;
    json_array_foreach(added, i, at) {
        json_t *jid = json_object_get(at, "id");
        const char *content = str_or_null(at, "content");
        if (!json_is_integer(jid) || !content || !*content || json_integer_value(jid) < 0 ||
            json_integer_value(jid) > 100000000) {
            lp_errf(err, errsz, "%s: added_tokens[%zu]: expected integer \"id\" and non-empty \"content\"",
                    path, i);
            goto fail;
        }
        size_t id = (size_t)json_integer_value(jid);
        if (id >= n) {
            size_t nn = id + 1;
            entry *ne = realloc(e, nn * sizeof *ne);
            if (!ne) {
                lp_errf(err, errsz, "%s: out of memory", path);
                goto fail;
            }
            memset(ne + n, 0, (nn - n) * sizeof *ne);
            e = ne;
            n = nn;
        }
        size_t cl = strlen(content);
        if (e[id].set && (e[id].len != cl || memcmp(e[id].bytes, content, cl) != 0)) {
            lp_errf(err, errsz, "%s: added_tokens[%zu]: id %zu is already \"%s\" in the vocabulary", path, i,
                    id, content);
            goto fail;
        }
        if (!e[id].set) {
            e[id].bytes = strdup(content);
            if (!e[id].bytes) {
                lp_errf(err, errsz, "%s: out of memory", path);
                goto fail;
            }
            e[id].len = cl;
            e[id].set = 1;
        }
        /* added tokens are matched whole in the input, like HF does */
        e[id].special = 1;
    }
    n = used_len(e, n);
    t = build_vocab(e, n, path, err, errsz);
    if (!t) goto fail;
    t->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    json_t *merges = json_object_get(model, "merges");
    if (!json_is_array(merges)) {
        lp_errf(err, errsz, "%s: model.merges: expected an array", path);
        goto fail;
    }
    json_t *m;
    json_array_foreach(merges, i, m) {
        char *a = NULL;
        const char *b = NULL;
        if (json_is_string(m)) {
            const char *s = json_string_value(m);
            const char *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                lp_errf(err, errsz, "%s: model.merges[%zu]: expected \"left right\", got \"%s\"", path, i, s);
                goto fail;
            }
            a = strndup(s, (size_t)(sp - s));
            b = sp + 1;
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            a = strdup(json_string_value(json_array_get(m, 0)));
            b = json_string_value(json_array_get(m, 1));
        } else {
            lp_errf(err, errsz, "%s: model.merges[%zu]: expected a string or a pair of strings", path, i);
            goto fail;
        }
        int rc = a ? add_merge_strings(t, a, b, path, i, err, errsz) : -1;
        free(a);
        if (rc) goto fail;
    }
    free_entries(e, n);
    json_decref(root);
    *out = t;
    return 0;
fail:
    lp_tokenizer_destroy(t);
    if (e) free_entries(e, n);
    json_decref(root);
    return -1;
}

int lp_tokenizer_load_gpt2(lp_tokenizer **out, const char *vocab_json, const char *merges_txt, char *err,
                           size_t errsz) {
    json_error_t je;
    json_t *vocab = json_load_file(vocab_json, 0, &je);
    if (!vocab) return lp_errf(err, errsz, "%s:%d:%d: %s", vocab_json, je.line, je.column, je.text);
    lp_tokenizer *t = NULL;
    char *mbuf = NULL;
    size_t n = json_object_size(vocab) + 1;
    entry *e = calloc(n, sizeof *e);
    if (!json_is_object(vocab)) {
        lp_errf(err, errsz, "%s: expected an object {token: id}", vocab_json);
        goto fail;
    }
    if (!e || read_vocab_obj(vocab, &e, &n, vocab_json, err, errsz)) goto fail;
    n = used_len(e, n);
    for (size_t i = 0; i < n; i++)
        if (e[i].len == strlen(LP_EOT_TOKEN) && memcmp(e[i].bytes, LP_EOT_TOKEN, e[i].len) == 0)
            e[i].special = 1;
    t = build_vocab(e, n, vocab_json, err, errsz);
    if (!t) goto fail;
    size_t mlen;
    if (!(mbuf = lp_read_file(merges_txt, &mlen, err, errsz))) goto fail;
    size_t line = 0;
    for (char *p = mbuf, *nl; p < mbuf + mlen; p = nl + 1) {
        line++;
        nl = memchr(p, '\n', (size_t)(mbuf + mlen - p));
        if (!nl) nl = mbuf + mlen;
        *nl = 0;
        if (nl > p && nl[-1] == '\r') nl[-1] = 0;
        if (*p == 0 || (line == 1 && strncmp(p, "#version", 8) == 0)) continue;
        char *sp = strchr(p, ' ');
        if (!sp || strchr(sp + 1, ' ')) {
            lp_errf(err, errsz, "%s:%zu: expected \"left right\", got \"%s\"", merges_txt, line, p);
            goto fail;
        }
        *sp = 0;
        if (add_merge_strings(t, p, sp + 1, merges_txt, line, err, errsz)) goto fail;
    }
    free(mbuf);
    free_entries(e, n);
    json_decref(vocab);
    *out = t;
    return 0;
fail:
    free(mbuf);
    lp_tokenizer_destroy(t);
    if (e) free_entries(e, n);
    json_decref(vocab);
    return -1;
}

/* Byte-level string of token id, as a jansson string (NULL on OOM). */
static json_t *token_json(const lp_tokenizer *t, int32_t id) {
    const lpt_token *k = &t->tok[id];
    if (k->special) return json_stringn(k->bytes, k->len);
    size_t l;
    char *s = lpt_bytelevel_encode(k->bytes, k->len, &l);
    json_t *j = s ? json_stringn(s, l) : NULL;
    free(s);
    return j;
}

static json_t *vocab_object(const lp_tokenizer *t) {
    json_t *v = json_object();
    for (int32_t i = 0; v && i < t->ntok; i++) {
        json_t *s = token_json(t, i);
        if (!s || json_object_setn_new(v, json_string_value(s), json_string_length(s), json_integer(i))) {
            json_decref(s);
            json_decref(v);
            return NULL;
        }
        json_decref(s);
    }
    return v;
}

static char *merge_line(const lp_tokenizer *t, int32_t r) {
    json_t *a = token_json(t, t->merge_a[r]), *b = token_json(t, t->merge_b[r]);
    char *s = NULL;
    if (a && b) {
        size_t la = json_string_length(a), lb = json_string_length(b);
        s = malloc(la + lb + 2);
        if (s) {
            memcpy(s, json_string_value(a), la);
            s[la] = ' ';
            memcpy(s + la + 1, json_string_value(b), lb);
            s[la + lb + 1] = 0;
        }
    }
    json_decref(a);
    json_decref(b);
    return s;
}

static json_t *bytelevel_obj(int add_prefix_space) {
    return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", add_prefix_space,
                     "trim_offsets", 1, "use_regex", 1);
}

int lp_tokenizer_save(const lp_tokenizer *t, const char *path, char *err, size_t errsz) {
    json_t *added = json_array(), *merges = json_array(), *vocab = vocab_object(t);
    json_t *root = NULL;
    int rc = -1;
    if (!added || !merges || !vocab) goto oom;
    for (int32_t i = 0; i < t->ntok; i++) {
        if (!t->tok[i].special) continue;
        json_t *at = json_pack("{s:i, s:s%, s:b, s:b, s:b, s:b, s:b}", "id", (int)i, "content",
                               t->tok[i].bytes, (size_t)t->tok[i].len, "single_word", 0, "lstrip", 0,
                               "rstrip", 0, "normalized", 0, "special", 1);
        if (!at || json_array_append_new(added, at)) goto oom;
    }
    for (int32_t r = 0; r < t->nmerges; r++) {
        char *s = merge_line(t, r);
        if (!s || json_array_append_new(merges, json_string(s))) {
            free(s);
            goto oom;
        }
        free(s);
    }
    json_t *model =
        json_pack("{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout", "unk_token",
                  "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 0, "byte_fallback", 0,
                  "ignore_merges", t->ignore_merges, "vocab", vocab, "merges", merges);
    vocab = merges = NULL; /* stolen by "o", even on failure */
    if (!model) goto oom;
    root = json_pack("{s:s, s:n, s:n, s:o, s:n, s:o, s:o, s:o, s:o}", "version", "1.0", "truncation",
                     "padding", "added_tokens", added, "normalizer", "pre_tokenizer", bytelevel_obj(0),
                     "post_processor", bytelevel_obj(1), "decoder", bytelevel_obj(1), "model", model);
    added = NULL;
    if (!root) goto oom;
    char *s = json_dumps(root, JSON_INDENT(2));
    if (!s) goto oom;
    rc = lp_write_file_atomic(path, s, strlen(s), err, errsz);
    free(s);
    json_decref(root);
    return rc;
oom:
    json_decref(added);
    json_decref(merges);
    json_decref(vocab);
    json_decref(root);
    return lp_errf(err, errsz, "%s: out of memory (or a special token that is not valid UTF-8)", path);
}

int lp_tokenizer_save_gpt2(const lp_tokenizer *t, const char *vocab_json, const char *merges_txt, char *err,
                           size_t errsz) {
    json_t *vocab = vocab_object(t);
    char *s = vocab ? json_dumps(vocab, 0) : NULL;
    json_decref(vocab);
    if (!s) return lp_errf(err, errsz, "%s: out of memory", vocab_json);
    int rc = lp_write_file_atomic(vocab_json, s, strlen(s), err, errsz);
    free(s);
    if (rc) return rc;
    size_t cap = 64 + (size_t)t->nmerges * 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return lp_errf(err, errsz, "%s: out of memory", merges_txt);
    n = (size_t)sprintf(buf, "#version: 0.2\n");
    for (int32_t r = 0; r < t->nmerges; r++) {
        char *line = merge_line(t, r);
        if (!line) {
            free(buf);
            lp_errf(err, errsz, "%s: out of memory", merges_txt);
            return -1;
        }
        size_t l = strlen(line);
        if (n + l + 2 > cap) {
            while (n + l + 2 > cap) cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(line);
                free(buf);
                lp_errf(err, errsz, "%s: out of memory", merges_txt);
                return -1;
            }
            buf = nb;
        }
        memcpy(buf + n, line, l);
        n += l;
        buf[n++] = '\n';
        free(line);
    }
    rc = lp_write_file_atomic(merges_txt, buf, n, err, errsz);
    free(buf);
    return rc;
}

int lp_tokenizer_open(lp_tokenizer **out, const char *path, char *err, size_t errsz) {
    struct stat st;
    if (stat(path, &st) != 0) return lp_errf(err, errsz, "%s: no such tokenizer file or folder", path);
    if (!S_ISDIR(st.st_mode)) return lp_tokenizer_load(out, path, err, errsz);
    size_t n = strlen(path) + 32;
    char *a = malloc(n), *b = malloc(n);
    int rc = -1;
    if (!a || !b) {
        lp_errf(err, errsz, "%s: out of memory", path);
    } else {
        snprintf(a, n, "%s/tokenizer.json", path);
        if (stat(a, &st) == 0) {
            rc = lp_tokenizer_load(out, a, err, errsz);
        } else {
            snprintf(a, n, "%s/vocab.json", path);
            snprintf(b, n, "%s/merges.txt", path);
            if (stat(a, &st) == 0 && stat(b, &st) == 0)
                rc = lp_tokenizer_load_gpt2(out, a, b, err, errsz);
            else
                lp_errf(err, errsz, "%s: folder holds neither tokenizer.json nor vocab.json + merges.txt",
                        path);
        }
    }
    free(a);
    free(b);
    return rc;
}
