/* Text files -> train.bin / val.bin token shards. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/data.h"
#include "text_internal.h"

typedef struct {
    lp_tokenizer *t;
    lp_shard_writer *w[2];
    const lp_shard_build_opts *o;
    double offset; /* seeded phase of the evenly spread validation picks */
    uint64_t doc;
    lp_shard_build_stats *st;
    lp_ids ids;
} builder;

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\n' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

static int add_doc(builder *b, const char *s, size_t n, char *err, size_t errsz) {
    if (is_blank(s, n)) return 0;
    /* doc i goes to validation when floor(f * i + u) steps up: an exact share,
     * spread evenly, with the phase u drawn from the seed */
    double f = b->o->val_fraction;
    int v = f > 0 && floor(f * (double)(b->doc + 1) + b->offset) > floor(f * (double)b->doc + b->offset);
    b->doc++;
    b->ids.n = 0;
    if (lp_tokenizer_encode(b->t, s, n, 0, &b->ids, err, errsz)) return -1;
    if (lp_ids_push(&b->ids, lp_tokenizer_eot(b->t))) return lp_errf(err, errsz, "shard: out of memory");
    if (lp_shard_writer_append(b->w[v], b->ids.v, b->ids.n, err, errsz)) return -1;
    b->st->docs[v]++;
    b->st->tokens[v] += b->ids.n;
    return 0;
}

static int add_file(builder *b, const char *text, size_t len, char *err, size_t errsz) {
    b->st->bytes += len;
    const char *sep = b->o->doc_sep_line;
    if (!sep) return add_doc(b, text, len, err, errsz);
    size_t sl = strlen(sep), start = 0, pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, l = end - pos;
        if (l && text[end - 1] == '\r') l--;
        if (l == sl && memcmp(text + pos, sep, sl) == 0) {
            if (add_doc(b, text + start, pos - start, err, errsz)) return -1;
            start = nl ? end + 1 : len;
        }
        pos = nl ? end + 1 : len;
    }
    return add_doc(b, text + start, len - start, err, errsz);
}

int lp_shard_build(lp_tokenizer *t, const char *const *files, int nfiles, const char *out_dir,
                   const lp_shard_build_opts *opts, lp_shard_build_stats *stats, char *err, size_t errsz) {
    if (lp_tokenizer_eot(t) < 0)
        return lp_errf(err, errsz, "shard: the tokenizer has no %s token to end documents with",
                       LP_EOT_TOKEN);
    if (!(opts->val_fraction >= 0 && opts->val_fraction < 1))
        return lp_errf(err, errsz, "shard: validation fraction %g is outside [0, 1)", opts->val_fraction);
    builder b = {.t = t, .o = opts, .st = stats};
    memset(stats, 0, sizeof *stats);
    b.offset = (double)(lp_mix64(opts->seed + 0x5eed) >> 11) / 9007199254740992.0;
    size_t n = strlen(out_dir) + 16;
    char *p = malloc(n);
    if (!p) return lp_errf(err, errsz, "shard: out of memory");
    static const char *names[2] = {"train.bin", "val.bin"};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        snprintf(p, n, "%s/%s", out_dir, names[i]);
        rc = lp_shard_writer_create(&b.w[i], p, lp_tokenizer_vocab_size(t), lp_tokenizer_eot(t), err, errsz);
    }
    free(p);
    for (int i = 0; i < nfiles && rc == 0; i++) {
        char *text;
        size_t len;
        rc = (text = lp_read_file(files[i], &len, err, errsz)) ? 0 : -1;
        if (rc == 0) {
            rc = add_file(&b, text, len, err, errsz);
            free(text);
        }
    }
    lp_ids_free(&b.ids);
    for (int i = 0; i < 2; i++) {
        if (!b.w[i]) continue;
        if (rc == 0)
            rc = lp_shard_writer_close(b.w[i], err, errsz);
        else
            lp_shard_writer_abort(b.w[i]);
    }
    return rc;
}
