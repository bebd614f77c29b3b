/* SFT micro-batches (sdk/text/sft_batches.c): every example once per epoch,
 * a new deterministic order each epoch, targets only on response tokens of
 * the same example, packing that never splits an example, the exact count
 * of micro-batches, one-pass mode, and a saved position that resumes the
 * stream exactly (and refuses another data set). Shared prefix: rows open
 * with the examples' common preamble once (seg -2, no targets), then the
 * examples without it; counts, resume and the prefix's cap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/data.h"
#include "tests/support/check.h"

#define NEX 37
#define TT  24
#define BB  3

/* example i: ids 1000*i + j, a prompt of p tokens then a response */
static void make(lp_sft_tokens *ex) {
    for (int i = 0; i < NEX; i++) {
        size_t n = 3 + (size_t)(i * 7 % 19), p = 1 + (size_t)(i % 3);
        ex[i].ids = malloc(n * sizeof *ex[i].ids);
        ex[i].mask = malloc(n);
        ex[i].n = n;
        for (size_t j = 0; j < n; j++) {
            ex[i].ids[j] = 1000 * i + (int32_t)j;
            ex[i].mask[j] = j >= p;
        }
    }
}

/* example numbers in the order they were handed out */
static int order_log[4 * NEX], order_n;

/* Checks one micro-batch and marks the examples it holds in seen[]. */
static int check_batch(const lp_sft_batch *b, int packed, int *seen) {
    int ok = 1;
    int64_t tokens = 0, targets = 0, examples = 0;
    for (int r = 0; r < b->B; r++) {
        for (int t = 0; t < b->T; t++) {
            size_t i = (size_t)r * b->T + t;
            int32_t id = b->ids[i];
            if (id == -7) { /* padding */
                ok &= b->targets[i] == -1 && (!packed || b->seg[i] == -1);
                continue;
            }
            tokens++;
            int ex = id / 1000, j = id % 1000;
            int p = 1 + ex % 3, n = 3 + ex * 7 % 19;
            if (j == 0) {
                seen[ex]++;
                if (order_n < 4 * NEX) order_log[order_n++] = ex;
                examples++;
                /* an example starts its segment and never crosses a row */
                ok &= t + n <= b->T;
                if (packed) ok &= t == 0 || b->seg[i] != b->seg[i - 1];
            } else {
                ok &= t > 0 && b->ids[i - 1] == id - 1;
                if (packed) ok &= b->seg[i] == b->seg[i - 1];
            }
            /* the target is the next token when that one is a response token */
            int32_t want = j + 1 < n && j + 1 >= p ? id + 1 : -1;
            ok &= b->targets[i] == want;
            targets += want >= 0;
        }
    }
    ok &= tokens == b->tokens && targets == b->targets_n && examples == b->examples;
    return ok;
}

static void run_epochs(unsigned flags, lp_sft_tokens *ex) {
    char err[256];
    lp_sft_batcher *b;
    order_n = 0;
    ASSERT(lp_sft_batcher_create(&b, ex, NEX, BB, TT, flags, -7, 42, err, sizeof err) == 0, "%s", err);
    int packed = (flags & LP_SFT_PACK) != 0;
    uint64_t per_epoch = lp_sft_batcher_count(b, 1.0), two = lp_sft_batcher_count(b, 2.0);
    int seen[NEX] = {0};
    int32_t first[2] = {-1, -1};
    uint64_t got = 0;
    int ok = 1;
    lp_sft_batch mb;
    while (lp_sft_batcher_epoch(b) == 0) {
        ASSERT(lp_sft_batcher_next(b, &mb, err, sizeof err) == 0, "%s", err);
        if (got == 0) first[0] = mb.ids[0];
        ok &= check_batch(&mb, packed, seen);
        got++;
    }
    CHECK(ok, "flags %u: batches well formed", flags);
    /* the stream runs on into epoch 1 within a micro-batch, so every example
     * was seen once, and those of the last batch's tail perhaps twice */
    int once = 1;
    for (int i = 0; i < NEX; i++) once &= seen[i] >= 1 && seen[i] <= 2;
    CHECK(once, "flags %u: every example of epoch 0 handed out", flags);
    CHECK(got == per_epoch, "flags %u: count(1 epoch) %llu, counted %llu", flags,
          (unsigned long long)per_epoch, (unsigned long long)got);
    int dummy[NEX] = {0};
    while (lp_sft_batcher_epoch(b) == 1) {
        ASSERT(lp_sft_batcher_next(b, &mb, err, sizeof err) == 0, "%s", err);
        check_batch(&mb, packed, dummy);
        got++;
    }
    /* the first NEX examples handed out are epoch 0, the next NEX epoch 1 */
    int differ = 0;
    for (int i = 0; i < NEX && order_n >= 2 * NEX; i++) differ |= order_log[i] != order_log[NEX + i];
    CHECK(order_n >= 2 * NEX && differ == ((flags & LP_SFT_SHUFFLE) != 0),
          "flags %u: epoch 1 order %s epoch 0's", flags, differ ? "differs from" : "equals");
    CHECK(got == two, "flags %u: count(2 epochs) %llu, counted %llu", flags, (unsigned long long)two,
          (unsigned long long)got);
    /* rewind: epoch 0 again, and with shuffling another order than epoch 1 */
    lp_sft_batcher_rewind(b);
    ASSERT(lp_sft_batcher_next(b, &mb, err, sizeof err) == 0, "%s", err);
    CHECK(mb.ids[0] == first[0], "rewind restarts epoch 0");
    if (flags & LP_SFT_SHUFFLE) {
        while (lp_sft_batcher_epoch(b) == 0) lp_sft_batcher_next(b, &mb, err, sizeof err);
        int same = 1;
        lp_sft_batcher_rewind(b);
        lp_sft_batch a;
        /* compare the orders of epoch 0 and 1 through their first rows */
        lp_sft_batcher_next(b, &a, err, sizeof err);
        first[1] = a.ids[0];
        same = first[0] == first[1];
        CHECK(same, "the same seed gives the same order");
    } else {
        CHECK(first[0] == 0, "file order without shuffling");
    }
    lp_sft_batcher_destroy(b);
}

static void run_resume(lp_sft_tokens *ex) {
    char err[256];
    lp_sft_batcher *a, *c;
    unsigned fl = LP_SFT_PACK | LP_SFT_SHUFFLE;
    ASSERT(lp_sft_batcher_create(&a, ex, NEX, BB, TT, fl, -7, 9, err, sizeof err) == 0, "%s", err);
    ASSERT(lp_sft_batcher_create(&c, ex, NEX, BB, TT, fl, -7, 9, err, sizeof err) == 0, "%s", err);
    lp_sft_batch mb, mc;
    /* into the middle of epoch 1 */
    for (int i = 0; i < 9; i++) lp_sft_batcher_next(a, &mb, err, sizeof err);
    uint8_t st[LP_SFT_BATCHER_STATE_SIZE];
    lp_sft_batcher_state_save(a, st);
    CHECK(lp_sft_batcher_state_restore(c, st, sizeof st, err, sizeof err) == 0, "%s", err);
    CHECK(lp_sft_batcher_epoch(c) == lp_sft_batcher_epoch(a) &&
              lp_sft_batcher_position(c) == lp_sft_batcher_position(a),
          "epoch and position restored (epoch %llu position %llu)",
          (unsigned long long)lp_sft_batcher_epoch(a), (unsigned long long)lp_sft_batcher_position(a));
    int same = 1;
    for (int i = 0; i < 20; i++) {
        lp_sft_batcher_next(a, &mb, err, sizeof err);
        lp_sft_batcher_next(c, &mc, err, sizeof err);
        same &= mb.T == mc.T && !memcmp(mb.ids, mc.ids, (size_t)BB * TT * sizeof *mb.ids) &&
                !memcmp(mb.targets, mc.targets, (size_t)BB * TT * sizeof *mb.ids) &&
                !memcmp(mb.seg, mc.seg, (size_t)BB * TT * sizeof *mb.ids);
    }
    CHECK(same, "the resumed stream equals the uninterrupted one");
    lp_sft_batcher_destroy(c);
    /* another seed, another packing mode, another data set: refused */
    ASSERT(lp_sft_batcher_create(&c, ex, NEX, BB, TT, fl, -7, 10, err, sizeof err) == 0, "%s", err);
    CHECK(lp_sft_batcher_state_restore(c, st, sizeof st, err, sizeof err) != 0 && strstr(err, "seed"), "%s",
          err);
    lp_sft_batcher_destroy(c);
    ASSERT(lp_sft_batcher_create(&c, ex, NEX, BB, TT, LP_SFT_SHUFFLE, -7, 9, err, sizeof err) == 0, "%s",
           err);
    CHECK(lp_sft_batcher_state_restore(c, st, sizeof st, err, sizeof err) != 0 && strstr(err, "packing"),
          "%s", err);
    lp_sft_batcher_destroy(c);
    ex[5].ids[1]++;
    ASSERT(lp_sft_batcher_create(&c, ex, NEX, BB, TT, fl, -7, 9, err, sizeof err) == 0, "%s", err);
    CHECK(lp_sft_batcher_state_restore(c, st, sizeof st, err, sizeof err) != 0 && strstr(err, "data"), "%s",
          err);
    ex[5].ids[1]--;
    lp_sft_batcher_destroy(c);
    CHECK(lp_sft_batcher_state_restore(a, st, 10, err, sizeof err) != 0, "short state refused");
    lp_sft_batcher_destroy(a);
}

static void run_once(lp_sft_tokens *ex, unsigned flags) {
    char err[256];
    lp_sft_batcher *b;
    ASSERT(lp_sft_batcher_create(&b, ex, NEX, BB, TT, flags | LP_SFT_ONCE, -7, 1, err, sizeof err) == 0, "%s",
           err);
    for (int pass = 0; pass < 2; pass++) {
        int seen[NEX] = {0}, ok = 1, rc;
        lp_sft_batch mb;
        while ((rc = lp_sft_batcher_next(b, &mb, err, sizeof err)) == 0)
            ok &= check_batch(&mb, flags & 1, seen);
        for (int i = 0; i < NEX; i++) ok &= seen[i] == 1;
        CHECK(ok && rc == 1, "one pass (flags %u, pass %d): every example exactly once", flags, pass);
        lp_sft_batcher_rewind(b);
    }
    lp_sft_batcher_destroy(b);
}

/* ---- shared prefix ------------------------------------------------------
 * example i: the preamble (PRE tokens 7000000 + j, mask 0), then its own
 * tokens 1000 * i + j: q = 1 + i % 3 prompt tokens, then the response */
#define NPX   29
#define PRE   6
#define PREID 7000000

static size_t own_len(int i) { return 2 + (size_t)(i * 5 % 11); }

static void make_prefixed(lp_sft_tokens *ex) {
    for (int i = 0; i < NPX; i++) {
        size_t m = own_len(i), n = PRE + m, q = 1 + (size_t)(i % 3);
        ex[i].ids = malloc(n * sizeof *ex[i].ids);
        ex[i].mask = malloc(n);
        ex[i].n = n;
        ex[i].prompt_n = PRE + q;
        for (size_t j = 0; j < n; j++) {
            ex[i].ids[j] = j < PRE ? PREID + (int32_t)j : 1000 * i + (int32_t)(j - PRE);
            ex[i].mask[j] = j >= PRE + q;
        }
    }
}

/* one micro-batch of prefixed rows: each row with an example opens with
 * the P-token preamble (seg -2, no target), then whole remainders (seg 0,
 * 1, ..., targets on their response tokens), then padding */
static int check_prefixed(const lp_sft_batch *b, int P, int *seen, int64_t *rows_used) {
    int ok = 1;
    int64_t tokens = 0, row_tokens = 0, targets = 0, examples = 0;
    for (int r = 0; r < b->B; r++) {
        const int32_t *ids = b->ids + (size_t)r * b->T, *tg = b->targets + (size_t)r * b->T;
        const int32_t *sg = b->seg + (size_t)r * b->T;
        if (ids[0] == -7) { /* an empty row (one pass's end) */
            for (int t = 0; t < b->T; t++) ok &= ids[t] == -7 && sg[t] == -1 && tg[t] == -1;
            continue;
        }
        (*rows_used)++;
        for (int t = 0; t < P; t++) ok &= ids[t] == PREID + t && sg[t] == -2 && tg[t] == -1;
        row_tokens += P;
        int t = P, segno = 0;
        while (t < b->T && ids[t] != -7) {
            int ex = ids[t] / 1000, m = (int)own_len(ex), q = 1 + ex % 3;
            ok &= ids[t] % 1000 == 0 && t + m <= b->T;
            for (int j = 0; j < m; j++) {
                ok &= ids[t + j] == 1000 * ex + j && sg[t + j] == segno;
                /* own token j predicts j + 1 when that is a response token */
                int32_t want = j + 1 < m && j + 1 >= q ? ids[t + j] + 1 : -1;
                ok &= tg[t + j] == want;
                targets += want >= 0;
            }
            seen[ex]++;
            examples++;
            tokens += P + m;
            row_tokens += m;
            t += m;
            segno++;
        }
        for (; t < b->T; t++) ok &= ids[t] == -7 && sg[t] == -1 && tg[t] == -1;
    }
    ok &= tokens == b->tokens && targets == b->targets_n && examples == b->examples &&
          row_tokens == b->row_tokens;
    return ok;
}

static void run_prefixed(void) {
    lp_sft_tokens ex[NPX];
    make_prefixed(ex);
    char err[256];
    lp_sft_batcher *b, *c;
    const unsigned fl = LP_SFT_PACK | LP_SFT_SHUFFLE | LP_SFT_SHARE_PREFIX;
    ASSERT(lp_sft_batcher_create(&b, ex, NPX, BB, TT, fl, -7, 5, err, sizeof err) == 0, "%s", err);
    CHECK(lp_sft_batcher_prefix(b) == PRE, "shared prefix %d tokens, expected %d", lp_sft_batcher_prefix(b),
          PRE);
    uint64_t per_epoch = lp_sft_batcher_count(b, 1.0), two = lp_sft_batcher_count(b, 2.0), got = 0;
    int seen[NPX] = {0}, ok = 1;
    int64_t rows = 0, full = 0, computed = 0;
    lp_sft_batch mb;
    while (lp_sft_batcher_epoch(b) < 2) {
        ASSERT(lp_sft_batcher_next(b, &mb, err, sizeof err) == 0, "%s", err);
        ok &= check_prefixed(&mb, PRE, seen, &rows);
        full += mb.tokens;
        computed += mb.row_tokens;
        got++;
        if (got == per_epoch) {
            int once = 1;
            for (int i = 0; i < NPX; i++) once &= seen[i] >= 1 && seen[i] <= 2;
            CHECK(once, "shared prefix: every example in epoch 0");
        }
    }
    CHECK(ok, "shared prefix: rows well formed (preamble once a row, remainders whole, targets)");
    CHECK(got == two, "shared prefix: count(2 epochs) %llu, counted %llu", (unsigned long long)two,
          (unsigned long long)got);
    printf("shared prefix of %d: %lld rows, %lld example tokens in %lld row tokens\n", PRE, (long long)rows,
           (long long)full, (long long)computed);
    CHECK(computed < full, "sharing computes fewer tokens (%lld) than the examples hold (%lld)",
          (long long)computed, (long long)full);
    /* without sharing the same data needs more rows */
    ASSERT(
        lp_sft_batcher_create(&c, ex, NPX, BB, TT, LP_SFT_PACK | LP_SFT_SHUFFLE, -7, 5, err, sizeof err) == 0,
        "%s", err);
    CHECK(lp_sft_batcher_prefix(c) == 0 && lp_sft_batcher_count(c, 2.0) > two,
          "plain packing: no prefix, more micro-batches (%llu against %llu)",
          (unsigned long long)lp_sft_batcher_count(c, 2.0), (unsigned long long)two);
    /* a prefix state is not resumed without the prefix, nor the reverse */
    uint8_t st[LP_SFT_BATCHER_STATE_SIZE];
    lp_sft_batcher_state_save(b, st);
    CHECK(lp_sft_batcher_state_restore(c, st, sizeof st, err, sizeof err) != 0 &&
              strstr(err, "shared prefix=6"),
          "%s", err);
    lp_sft_batcher_destroy(c);
    /* resume: the restored stream equals the uninterrupted one */
    ASSERT(lp_sft_batcher_create(&c, ex, NPX, BB, TT, fl, -7, 5, err, sizeof err) == 0, "%s", err);
    CHECK(lp_sft_batcher_state_restore(c, st, sizeof st, err, sizeof err) == 0, "%s", err);
    int same = 1;
    for (int i = 0; i < 15; i++) {
        lp_sft_batch mc;
        lp_sft_batcher_next(b, &mb, err, sizeof err);
        lp_sft_batcher_next(c, &mc, err, sizeof err);
        same &= !memcmp(mb.ids, mc.ids, (size_t)BB * TT * sizeof *mb.ids) &&
                !memcmp(mb.targets, mc.targets, (size_t)BB * TT * sizeof *mb.ids) &&
                !memcmp(mb.seg, mc.seg, (size_t)BB * TT * sizeof *mb.ids);
    }
    CHECK(same, "shared prefix: the resumed stream equals the uninterrupted one");
    lp_sft_batcher_destroy(c);
    lp_sft_batcher_destroy(b);
    /* one pass: every example once */
    ASSERT(lp_sft_batcher_create(&b, ex, NPX, BB, TT, fl | LP_SFT_ONCE, -7, 5, err, sizeof err) == 0, "%s",
           err);
    int seen1[NPX] = {0}, rc;
    ok = 1;
    while ((rc = lp_sft_batcher_next(b, &mb, err, sizeof err)) == 0)
        ok &= check_prefixed(&mb, PRE, seen1, &rows);
    for (int i = 0; i < NPX; i++) ok &= seen1[i] == 1;
    CHECK(ok && rc == 1, "shared prefix, one pass: every example exactly once");
    lp_sft_batcher_destroy(b);
    /* the cap: an example whose response starts right after the preamble
     * keeps one prompt token after the prefix (5); a fourth token that
     * differs leaves 3, under the minimum: plain packing */
    ex[4].mask[PRE] = 1;
    ASSERT(lp_sft_batcher_create(&b, ex, NPX, BB, TT, fl, -7, 5, err, sizeof err) == 0, "%s", err);
    CHECK(lp_sft_batcher_prefix(b) == PRE - 1,
          "prefix %d with a response right after the preamble, expected %d", lp_sft_batcher_prefix(b),
          PRE - 1);
    lp_sft_batcher_next(b, &mb, err, sizeof err);
    int no_target = 1;
    for (int r = 0; r < BB; r++)
        for (int t = 0; t < PRE - 1; t++)
            no_target &= mb.targets[r * TT + t] == -1 && mb.seg[r * TT + t] == -2;
    CHECK(no_target, "capped prefix: no target on a prefix position");
    lp_sft_batcher_destroy(b);
    ex[4].mask[PRE] = 0;
    ex[9].ids[3]++;
    ASSERT(lp_sft_batcher_create(&b, ex, NPX, BB, TT, fl, -7, 5, err, sizeof err) == 0, "%s", err);
    CHECK(lp_sft_batcher_prefix(b) == 0, "a 3-token common prefix is not shared (got %d)",
          lp_sft_batcher_prefix(b));
    lp_sft_batcher_destroy(b);
    for (int i = 0; i < NPX; i++) lp_sft_tokens_free(&ex[i]);
}

int main(void) {
    lp_sft_tokens ex[NEX];
    make(ex);
    run_epochs(LP_SFT_PACK | LP_SFT_SHUFFLE, ex);
    run_epochs(LP_SFT_SHUFFLE, ex);
    run_epochs(LP_SFT_PACK, ex);
    run_epochs(0, ex);
    run_resume(ex);
    run_once(ex, LP_SFT_PACK);
    run_once(ex, 0);
    /* no common prefix here: sharing asked for is plain packing */
    run_epochs(LP_SFT_PACK | LP_SFT_SHUFFLE | LP_SFT_SHARE_PREFIX, ex);
    run_prefixed();
    /* packing fills rows: fewer rows than examples, none over T */
    char err[256];
    lp_sft_batcher *b;
    REQUIRE(lp_sft_batcher_create(&b, ex, NEX, 1, TT, LP_SFT_PACK, -7, 1, err, sizeof err) == 0, "%s", err);
    uint64_t rows = lp_sft_batcher_count(b, 1.0);
    CHECK(rows < NEX && rows > 0, "packed rows %llu for %d examples", (unsigned long long)rows, NEX);
    lp_sft_batcher_destroy(b);
    ex[0].n = TT + 1;
    CHECK(lp_sft_batcher_create(&b, ex, NEX, 1, TT, LP_SFT_PACK, -7, 1, err, sizeof err) != 0 &&
              strstr(err, "expected 1..24"),
          "over-long example refused: %s", err);
    for (int i = 0; i < NEX; i++) lp_sft_tokens_free(&ex[i]);
    DONE();
}
