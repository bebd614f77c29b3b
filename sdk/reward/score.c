/* Batched scoring at each sequence's closing token, padded by length. */
#include <stdlib.h>
#include <string.h>

#include "llmpipe/error.h"
#include "llmpipe/reward.h"

struct lp_score_batch {
    int32_t *ids, *seg, *last;
    size_t cap_cells, cap_rows;
    int B;
    int64_t tokens;
};

lp_score_batch *lp_score_batch_create(void) { return calloc(1, sizeof(lp_score_batch)); }

void lp_score_batch_destroy(lp_score_batch *b) {
    if (!b) return;
    free(b->ids);
    free(b->seg);
    free(b->last);
    free(b);
}

static int grow(lp_score_batch *b, size_t cells, size_t rows) {
    if (cells > b->cap_cells) {
        int32_t *i = realloc(b->ids, cells * sizeof *i);
        if (i) b->ids = i;
        int32_t *s = realloc(b->seg, cells * sizeof *s);
        if (s) b->seg = s;
        if (!i || !s) return -1;
        b->cap_cells = cells;
    }
    if (rows > b->cap_rows) {
        int32_t *l = realloc(b->last, rows * sizeof *l);
        if (!l) return -1;
        b->last = l;
        b->cap_rows = rows;
    }
    return 0;
}

int lp_score_batch_run(lp_score_batch *b, lp_model *m, const int32_t *const *seqs, const int32_t *lens, int B,
                       int T, unsigned flags, int32_t pad, float *scores, char *err, size_t errsz) {
    if (B < 1) return lp_errf(err, errsz, "score: expected at least one sequence");
    int longest = 0;
    for (int r = 0; r < B; r++) {
        if (lens[r] < 1) return lp_errf(err, errsz, "score: sequence %d is empty", r);
        if (lens[r] > longest) longest = lens[r];
    }
    if (T == 0) T = longest;
    int n_ctx = lp_model_get_config(m)->n_ctx;
    if (T < longest || T > n_ctx)
        return lp_errf(err, errsz, "score: rows of %d tokens: expected %d..%d (longest sequence, n_ctx)", T,
                       longest, n_ctx);
    size_t cells = (size_t)B * (size_t)T;
    if (grow(b, cells, (size_t)B)) return lp_errf(err, errsz, "score: out of memory");
    int left = (flags & LP_SCORE_LEFT_PAD) != 0;
    b->tokens = 0;
    for (int r = 0; r < B; r++) {
        int32_t *row = b->ids + (size_t)r * T, *sg = b->seg + (size_t)r * T;
        int off = left ? T - lens[r] : 0;
        for (int i = 0; i < T; i++) {
            row[i] = pad;
            sg[i] = -1;
        }
        memcpy(row + off, seqs[r], (size_t)lens[r] * sizeof *row);
        for (int i = 0; i < lens[r]; i++) sg[off + i] = 0;
        b->last[r] = left ? T : lens[r];
        b->tokens += lens[r];
    }
    b->B = B;
    int rc = left ? lp_model_forward_packed(m, b->ids, b->seg, B, T) : lp_model_forward(m, b->ids, B, T);
    if (rc || lp_model_scalar_last(m, b->last, scores))
        return lp_errf(err, errsz, "score: %s", lp_model_error(m));
    return 0;
}

int lp_score_batch_grad(lp_score_batch *b, lp_model *m, const float *dscores, char *err, size_t errsz) {
    if (!b->B) return lp_errf(err, errsz, "score: no batch was run");
    if (lp_model_scalar_last_grad(m, b->last, dscores))
        return lp_errf(err, errsz, "score: %s", lp_model_error(m));
    return 0;
}

int64_t lp_score_batch_tokens(const lp_score_batch *b) { return b->tokens; }

typedef struct {
    int32_t len;
    size_t i;
} by_len_item;

static int by_len(const void *a, const void *b) {
    const by_len_item *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

int lp_score_sequences(lp_model *m, const int32_t *const *seqs, const int32_t *lens, size_t n, int max_batch,
                       int32_t pad, float *scores, char *err, size_t errsz) {
    if (n == 0) return 0;
    if (max_batch < 1) max_batch = 16;
    by_len_item *order = malloc(n * sizeof *order);
    const int32_t **rs = malloc((size_t)max_batch * sizeof *rs);
    int32_t *rl = malloc((size_t)max_batch * sizeof *rl);
    float *out = malloc((size_t)max_batch * sizeof *out);
    lp_score_batch *b = lp_score_batch_create();
    int rc = 0;
    if (!order || !rs || !rl || !out || !b) {
        rc = lp_errf(err, errsz, "score: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) order[i] = (by_len_item){lens[i], i};
    qsort(order, n, sizeof *order, by_len);
    for (size_t at = 0; at < n && !rc; at += (size_t)max_batch) {
        int B = (int)(n - at < (size_t)max_batch ? n - at : (size_t)max_batch);
        for (int r = 0; r < B; r++) {
            rs[r] = seqs[order[at + r].i];
            rl[r] = lens[order[at + r].i];
        }
        rc = lp_score_batch_run(b, m, rs, rl, B, 0, 0, pad, out, err, errsz);
        for (int r = 0; r < B && !rc; r++) scores[order[at + r].i] = out[r];
    }
done:
    free(order);
    free(rs);
    free(rl);
    free(out);
    lp_score_batch_destroy(b);
    return rc;
}
