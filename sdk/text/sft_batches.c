/* SFT micro-batches: per-epoch shuffled order, packing into rows with
 * segment numbers (optionally behind one shared prefix a row) or padding to
 * the longest row, exact position for resume. */
#include <stdlib.h>
#include <string.h>

#include "llmpipe/data.h"
#include "llmpipe/le64.h"
#include "llmpipe/mix.h"
#include "text_internal.h"

#define STATE_MAGIC 0x4c505342u /* "BSPL" */
/* LP_SEG_SHARED of llmpipe/model.h (not included: the text library does
 * not link the kernels) */
#define SEG_SHARED (-2)

struct lp_sft_batcher {
    const lp_sft_tokens *ex;
    size_t n;
    int B, T, pack, shuffle, once;
    int pre; /* shared prefix length (0: none), packed only */
    int32_t pad;
    uint64_t seed, fingerprint;
    uint64_t epoch, pos; /* next example: order[pos] of epoch */
    size_t *order;
    int32_t *ids, *targets, *seg;
};

/* Fisher-Yates from a stream that depends only on (seed, epoch), so an
 * order can be rebuilt after a resume without replaying earlier epochs. */
static void make_order(size_t *order, size_t n, uint64_t seed, uint64_t epoch, int shuffle) {
    for (size_t i = 0; i < n; i++) order[i] = i;
    if (!shuffle) return;
    uint64_t s = lp_mix64(seed ^ lp_mix64(epoch + 0x5f7a11ULL));
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(lp_splitmix64(&s) % i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

/* The longest token prefix of all examples whose every position's target
 * is a prompt token (mask 0 up to and including the token after it), so
 * the prefix computes the same for every example and carries no loss;
 * 0 when shorter than LP_SFT_MIN_PREFIX. */
static int common_prefix(const lp_sft_tokens *ex, size_t n) {
    size_t L = ex[0].n - 1;
    for (size_t j = 1; j <= L; j++)
        if (ex[0].mask[j]) L = j - 1;
    for (size_t i = 1; i < n && L >= LP_SFT_MIN_PREFIX; i++) {
        size_t k = 0, lim = ex[i].n - 1 < L ? ex[i].n - 1 : L;
        while (k < lim && ex[i].ids[k] == ex[0].ids[k] && !ex[i].mask[k + 1]) k++;
        L = k;
    }
    return L >= LP_SFT_MIN_PREFIX ? (int)L : 0;
}

int lp_sft_batcher_create(lp_sft_batcher **out, const lp_sft_tokens *ex, size_t n, int B, int T,
                          unsigned flags, int32_t pad, uint64_t seed, char *err, size_t errsz) {
    *out = NULL;
    if (n == 0) return lp_errf(err, errsz, "sft batches: no examples");
    if (B < 1 || T < 2) return lp_errf(err, errsz, "sft batches: need B >= 1 and T >= 2 (got %d, %d)", B, T);
    uint64_t fp = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        if (ex[i].n < 1 || ex[i].n > (size_t)T)
            return lp_errf(err, errsz, "sft batches: example %zu has %zu tokens, expected 1..%d", i, ex[i].n,
                           T);
        fp = lp_mix64(fp ^ ex[i].n) ^ lp_fnv1a64(ex[i].ids, ex[i].n * sizeof *ex[i].ids);
    }
    lp_sft_batcher *b = calloc(1, sizeof *b);
    if (!b) return lp_errf(err, errsz, "sft batches: out of memory");
    *b = (lp_sft_batcher){ex,
                          n,
                          B,
                          T,
                          (flags & LP_SFT_PACK) != 0,
                          (flags & LP_SFT_SHUFFLE) != 0,
                          (flags & LP_SFT_ONCE) != 0,
                          0,
                          pad,
                          seed,
                          fp,
                          0,
                          0,
                          NULL,
                          NULL,
                          NULL,
                          NULL};
    size_t cells = (size_t)B * (size_t)T;
    b->order = malloc(n * sizeof *b->order);
    b->ids = malloc(cells * sizeof *b->ids);
    b->targets = malloc(cells * sizeof *b->targets);
    b->seg = malloc(cells * sizeof *b->seg);
    if (!b->order || !b->ids || !b->targets || !b->seg) {
        lp_sft_batcher_destroy(b);
        return lp_errf(err, errsz, "sft batches: out of memory");
    }
    if (b->pack && (flags & LP_SFT_SHARE_PREFIX)) b->pre = common_prefix(ex, n);
    make_order(b->order, n, seed, 0, b->shuffle);
    *out = b;
    return 0;
}

void lp_sft_batcher_destroy(lp_sft_batcher *b) {
    if (!b) return;
    free(b->order);
    free(b->ids);
    free(b->targets);
    free(b->seg);
    free(b);
}

static const lp_sft_tokens *peek(lp_sft_batcher *b) { return &b->ex[b->order[b->pos]]; }

static void advance(lp_sft_batcher *b) {
    if (++b->pos == b->n) {
        b->pos = 0;
        b->epoch++;
        make_order(b->order, b->n, b->seed, b->epoch, b->shuffle);
    }
}

/* Writes tokens [from, n) of one example at ids/targets/seg + at; a token
 * is a target of the token before it when its mask says so. */
static int64_t place(lp_sft_batcher *b, const lp_sft_tokens *e, size_t from, size_t at, int32_t seg) {
    int64_t nt = 0;
    memcpy(b->ids + at, e->ids + from, (e->n - from) * sizeof *e->ids);
    for (size_t j = from; j < e->n; j++, at++) {
        int tgt = j + 1 < e->n && e->mask[j + 1];
        b->targets[at] = tgt ? e->ids[j + 1] : -1;
        b->seg[at] = seg;
        nt += tgt;
    }
    return nt;
}

int lp_sft_batcher_next(lp_sft_batcher *b, lp_sft_batch *o, char *err, size_t errsz) {
    (void)err;
    (void)errsz;
    memset(o, 0, sizeof *o);
    if (b->once && b->epoch > 0) return 1;
    const int B = b->B, T = b->T;
    int Tb = T;
    if (!b->pack) {
        /* rows as long as this micro-batch's longest example: look ahead
         * without moving (the order may turn over into the next epoch) */
        uint64_t e0 = b->epoch, p0 = b->pos;
        Tb = 1;
        for (int r = 0; r < B && !(b->once && b->epoch > e0); r++) {
            if ((int)peek(b)->n > Tb) Tb = (int)peek(b)->n;
            advance(b);
        }
        if (b->epoch != e0) make_order(b->order, b->n, b->seed, e0, b->shuffle);
        b->epoch = e0;
        b->pos = p0;
    }
    size_t cells = (size_t)B * (size_t)Tb;
    for (size_t i = 0; i < cells; i++) {
        b->ids[i] = b->pad;
        b->targets[i] = -1;
        b->seg[i] = -1;
    }
    const size_t P = (size_t)b->pre;
    for (int r = 0; r < B && !(b->once && b->epoch > 0); r++) {
        size_t used = 0;
        int32_t seg = 0;
        if (P) {
            /* every example starts with the prefix: the first one's tokens
             * (no targets, by common_prefix) */
            place(b, peek(b), 0, (size_t)r * Tb, SEG_SHARED);
            for (size_t j = 0; j < P; j++) b->targets[(size_t)r * Tb + j] = -1;
            used = P;
        }
        do {
            const lp_sft_tokens *e = peek(b);
            o->targets_n += place(b, e, P, (size_t)r * Tb + used, seg++);
            o->tokens += (int64_t)e->n;
            o->examples++;
            used += e->n - P;
            advance(b);
        } while (b->pack && !(b->once && b->epoch > 0) && used + peek(b)->n - P <= (size_t)T);
        o->row_tokens += (int64_t)used;
    }
    o->B = B;
    o->T = Tb;
    o->ids = b->ids;
    o->targets = b->targets;
    o->seg = b->pack ? b->seg : NULL;
    return 0;
}

void lp_sft_batcher_rewind(lp_sft_batcher *b) {
    if (b->epoch != 0) make_order(b->order, b->n, b->seed, 0, b->shuffle);
    b->epoch = 0;
    b->pos = 0;
}

uint64_t lp_sft_batcher_epoch(const lp_sft_batcher *b) { return b->epoch; }
uint64_t lp_sft_batcher_position(const lp_sft_batcher *b) { return b->pos; }
int lp_sft_batcher_prefix(const lp_sft_batcher *b) { return b->pre; }

uint64_t lp_sft_batcher_count(const lp_sft_batcher *b, double epochs) {
    if (!(epochs > 0)) return 0;
    uint64_t full = (uint64_t)epochs;
    uint64_t want = full * b->n + (uint64_t)((epochs - (double)full) * (double)b->n + 0.5);
    if (!b->pack) return (want + (uint64_t)b->B - 1) / (uint64_t)b->B;
    size_t *order = malloc(b->n * sizeof *order);
    if (!order) return 0;
    /* the rows of the stream, counted exactly as next() fills them */
    uint64_t seen = 0, rows = 0, epoch = 0;
    size_t pos = 0;
    make_order(order, b->n, b->seed, 0, b->shuffle);
    const size_t P = (size_t)b->pre;
    while (seen < want) {
        size_t used = P;
        do {
            used += b->ex[order[pos]].n - P;
            seen++;
            if (++pos == b->n) {
                pos = 0;
                make_order(order, b->n, b->seed, ++epoch, b->shuffle);
            }
        } while (used + b->ex[order[pos]].n - P <= (size_t)b->T);
        rows++;
    }
    free(order);
    return (rows + (uint64_t)b->B - 1) / (uint64_t)b->B;
}

/* packing, shuffle, and the shared prefix's length (bits 32..63: a row
 * layout saved with one prefix is not resumed with another) */
static uint64_t state_flags(const lp_sft_batcher *b) {
    return (uint64_t)b->pack | (uint64_t)b->shuffle << 1 | (uint64_t)(uint32_t)b->pre << 32;
}

void lp_sft_batcher_state_save(const lp_sft_batcher *b, uint8_t st[LP_SFT_BATCHER_STATE_SIZE]) {
    memset(st, 0, LP_SFT_BATCHER_STATE_SIZE);
    lp_put_le64(st, (uint64_t)STATE_MAGIC | (uint64_t)1 << 32);
    lp_put_le64(st + 8, (uint64_t)(uint32_t)b->B | (uint64_t)(uint32_t)b->T << 32);
    lp_put_le64(st + 16, state_flags(b));
    lp_put_le64(st + 24, b->seed);
    lp_put_le64(st + 32, b->n);
    lp_put_le64(st + 40, b->fingerprint);
    lp_put_le64(st + 48, b->epoch);
    lp_put_le64(st + 56, b->pos);
}

int lp_sft_batcher_state_restore(lp_sft_batcher *b, const uint8_t *st, size_t size, char *err, size_t errsz) {
    if (size != LP_SFT_BATCHER_STATE_SIZE || lp_get_le64(st) != ((uint64_t)STATE_MAGIC | (uint64_t)1 << 32))
        return lp_errf(err, errsz, "sft batch state: not a version 1 state of %d bytes",
                       LP_SFT_BATCHER_STATE_SIZE);
    uint64_t bt = lp_get_le64(st + 8), flags = lp_get_le64(st + 16);
    if ((int)(uint32_t)bt != b->B || (int)(uint32_t)(bt >> 32) != b->T || flags != state_flags(b) ||
        lp_get_le64(st + 24) != b->seed)
        return lp_errf(
            err, errsz,
            "sft batch state: saved with B=%d T=%d seed=%llu packing=%d shared prefix=%d, this run "
            "has B=%d T=%d seed=%llu packing=%d shared prefix=%d",
            (int)(uint32_t)bt, (int)(uint32_t)(bt >> 32), (unsigned long long)lp_get_le64(st + 24),
            (int)(flags & 1), (int)(uint32_t)(flags >> 32), b->B, b->T, (unsigned long long)b->seed, b->pack,
            b->pre);
    if (lp_get_le64(st + 32) != b->n || lp_get_le64(st + 40) != b->fingerprint)
        return lp_errf(err, errsz,
                       "sft batch state: saved over %llu examples with other tokens, this run has %zu: the "
                       "data, template or tokenizer changed",
                       (unsigned long long)lp_get_le64(st + 32), b->n);
    uint64_t pos = lp_get_le64(st + 56);
    if (pos >= b->n)
        return lp_errf(err, errsz, "sft batch state: position %llu beyond %zu examples",
                       (unsigned long long)pos, b->n);
    b->epoch = lp_get_le64(st + 48);
    b->pos = pos;
    make_order(b->order, b->n, b->seed, b->epoch, b->shuffle);
    return 0;
}
