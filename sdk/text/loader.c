/* Deterministic (B, T) window loader over token shards. */
#include <stdlib.h>
#include <string.h>

#include "llmpipe/data.h"
#include "llmpipe/le64.h"
#include "text_internal.h"

#define STATE_MAGIC 0x444c504cu /* "LPLD" */

struct lp_loader {
    lp_shard **shards;
    int nshards;
    uint64_t *first; /* first global window index of each shard, plus the total */
    uint64_t nwin, tokens;
    int B, T, shuffle;
    uint64_t seed, epoch, pos;
    uint64_t *order; /* window order of the current epoch */
};

/* Fisher-Yates with a splitmix64 stream drawn from (seed, epoch). */
static void make_order(lp_loader *l) {
    for (uint64_t i = 0; i < l->nwin; i++) l->order[i] = i;
    if (!l->shuffle) return;
    uint64_t s = lp_mix64(l->seed ^ lp_mix64(l->epoch + 0x9e3779b97f4a7c15ull));
    for (uint64_t i = l->nwin; i > 1; i--) {
        uint64_t r = lp_splitmix64(&s);
        /* multiply-shift: unbiased enough for any practical window count */
        uint64_t j = (uint64_t)(((unsigned __int128)r * i) >> 64);
        uint64_t tmp = l->order[i - 1];
        l->order[i - 1] = l->order[j];
        l->order[j] = tmp;
    }
}

void lp_loader_destroy(lp_loader *l) {
    if (!l) return;
    for (int i = 0; i < l->nshards; i++) lp_shard_close(l->shards[i]);
    free(l->shards);
    free(l->first);
    free(l->order);
    free(l);
}

int lp_loader_create(lp_loader **out, const char *const *paths, int npaths, int B, int T, uint64_t seed,
                     int shuffle, char *err, size_t errsz) {
    if (B <= 0 || T <= 0 || npaths <= 0)
        return lp_errf(err, errsz,
                       "loader: need B > 0, T > 0 and at least one shard (got B=%d T=%d, %d shards)", B, T,
                       npaths);
    lp_loader *l = calloc(1, sizeof *l);
    if (!l) goto oom;
    l->shards = calloc((size_t)npaths, sizeof *l->shards);
    l->first = calloc((size_t)npaths + 1, sizeof *l->first);
    if (!l->shards || !l->first) goto oom;
    l->B = B;
    l->T = T;
    l->seed = seed;
    l->shuffle = shuffle;
    for (int i = 0; i < npaths; i++) {
        if (lp_shard_open(&l->shards[i], paths[i], err, errsz)) {
            lp_loader_destroy(l);
            return -1;
        }
        l->nshards++;
        uint64_t c = lp_shard_count(l->shards[i]);
        l->first[i] = l->nwin;
        l->nwin += c > (uint64_t)T ? (c - 1) / (uint64_t)T : 0;
        l->tokens += c;
    }
    l->first[npaths] = l->nwin;
    if (!l->nwin) {
        lp_errf(err, errsz, "loader: %s: fewer than T + 1 = %d tokens in every shard", paths[0], T + 1);
        lp_loader_destroy(l);
        return -1;
    }
    l->order = malloc(l->nwin * sizeof *l->order);
    if (!l->order) goto oom;
    make_order(l);
    *out = l;
    return 0;
oom:
    lp_loader_destroy(l);
    return lp_errf(err, errsz, "loader: out of memory");
}

void lp_loader_next(lp_loader *l, int32_t *x, int32_t *y) {
    size_t T = (size_t)l->T;
    for (int b = 0; b < l->B; b++) {
        if (l->pos == l->nwin) {
            l->epoch++;
            l->pos = 0;
            make_order(l);
        }
        uint64_t g = l->order[l->pos++];
        int lo = 0, hi = l->nshards - 1; /* last shard whose first window <= g */
        while (lo < hi) {
            int mid = (lo + hi + 1) / 2;
            if (l->first[mid] <= g)
                lo = mid;
            else
                hi = mid - 1;
        }
        uint64_t off = (g - l->first[lo]) * T;
        /* x and y overlap in T - 1 tokens: read x, then y's last one */
        lp_shard_read(l->shards[lo], off, T, x + (size_t)b * T);
        memcpy(y + (size_t)b * T, x + (size_t)b * T + 1, (T - 1) * sizeof *y);
        lp_shard_read(l->shards[lo], off + T, 1, y + (size_t)b * T + T - 1);
    }
}

uint64_t lp_loader_windows(const lp_loader *l) { return l->nwin; }
uint64_t lp_loader_epoch(const lp_loader *l) { return l->epoch; }

/* Layout: magic, version, B, T, shuffle, seed, tokens, windows, epoch, pos. */
int lp_loader_state_save(const lp_loader *l, uint8_t st[LP_LOADER_STATE_SIZE]) {
    memset(st, 0, LP_LOADER_STATE_SIZE);
    lp_put_le64(st, (uint64_t)STATE_MAGIC | (uint64_t)1 << 32);
    lp_put_le64(st + 8, (uint64_t)(uint32_t)l->B | (uint64_t)(uint32_t)l->T << 32);
    lp_put_le64(st + 16, (uint64_t)l->shuffle);
    lp_put_le64(st + 24, l->seed);
    lp_put_le64(st + 32, l->tokens);
    lp_put_le64(st + 40, l->nwin);
    lp_put_le64(st + 48, l->epoch);
    lp_put_le64(st + 56, l->pos);
    return 0;
}

int lp_loader_state_restore(lp_loader *l, const uint8_t *st, size_t size, char *err, size_t errsz) {
    if (size != LP_LOADER_STATE_SIZE || lp_get_le64(st) != ((uint64_t)STATE_MAGIC | (uint64_t)1 << 32))
        return lp_errf(err, errsz, "loader state: not a version 1 loader state of %d bytes",
                       LP_LOADER_STATE_SIZE);
    uint64_t bt = lp_get_le64(st + 8);
    if ((int)(uint32_t)bt != l->B || (int)(uint32_t)(bt >> 32) != l->T ||
        (int)lp_get_le64(st + 16) != l->shuffle || lp_get_le64(st + 24) != l->seed)
        return lp_errf(err, errsz,
                       "loader state: saved with B=%d T=%d seed=%llu shuffle=%d, this loader has B=%d T=%d "
                       "seed=%llu shuffle=%d",
                       (int)(uint32_t)bt, (int)(uint32_t)(bt >> 32), (unsigned long long)lp_get_le64(st + 24),
                       (int)lp_get_le64(st + 16), l->B, l->T, (unsigned long long)l->seed, l->shuffle);
    if (lp_get_le64(st + 32) != l->tokens || lp_get_le64(st + 40) != l->nwin)
        return lp_errf(err, errsz,
                       "loader state: saved over %llu tokens, the shards now hold %llu: the dataset changed",
                       (unsigned long long)lp_get_le64(st + 32), (unsigned long long)l->tokens);
    uint64_t pos = lp_get_le64(st + 56);
    if (pos > l->nwin)
        return lp_errf(err, errsz, "loader state: position %llu beyond %llu windows", (unsigned long long)pos,
                       (unsigned long long)l->nwin);
    l->epoch = lp_get_le64(st + 48);
    l->pos = pos;
    make_order(l);
    return 0;
}
