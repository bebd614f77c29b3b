/* A minimal backend for boundary_test: memory, copies and two kernels, one
 * failing as a device launch would, every other entry left NULL. Built with
 * -DFAKE_OLD it claims API version 1 (a library built against old
 * headers); with -DFAKE_V20 a table of version 2.0's size, whose entries
 * past it the dispatch code must never read (they fail loudly if it
 * does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lpk/backend.h>

struct lpk_backend_state {
    lpk_backend_services sv;
};

static int init(const lpk_backend_services *sv, lpk_backend_state **st, char *err, size_t errlen) {
    if (sv->size < sizeof *sv || sv->threads < 1) {
        snprintf(err, errlen, "fake backend: bad services");
        return -1;
    }
    *st = calloc(1, sizeof **st);
    if (!*st) return -1;
    (*st)->sv = *sv;
    return 0;
}
static int fini(lpk_backend_state *st) {
    free(st);
    return 0;
}
static void *alloc(lpk_backend_state *st, size_t n) {
    (void)st;
    return malloc(n ? n : 1);
}
static int release(lpk_backend_state *st, void *p) {
    (void)st;
    free(p);
    return 0;
}
static int copy(lpk_backend_state *st, void *d, const void *s, size_t n) {
    (void)st;
    memmove(d, s, n);
    return 0;
}
static int fill(lpk_backend_state *st, float *x, float v, size_t n) {
    (void)st;
    for (size_t i = 0; i < n; i++) x[i] = v;
    return 0;
}
/* fails like a device launch: the message goes through the services */
static int gemm(lpk_backend_state *st, lpk_trans ta, lpk_trans tb, int M, int N, int K, float alpha,
                lpk_dtype dt, const void *A, int lda, const void *B, int ldb, const float *bias, float beta,
                float *C, int ldc) {
    (void)ta, (void)tb, (void)alpha, (void)dt, (void)A, (void)lda, (void)B, (void)ldb;
    (void)bias, (void)beta, (void)C, (void)ldc;
    char msg[128];
    snprintf(msg, sizeof msg, "fake gemm: launch failed for %dx%dx%d", M, N, K);
    st->sv.error(st->sv.host, msg);
    return -1;
}
static int sumsq(lpk_backend_state *st, const float *x, size_t n, double *out) {
    (void)x, (void)n, (void)out;
    st->sv.error(st->sv.host, "fake sumsq: device lost");
    return -1;
}

#ifdef FAKE_V20
static int seg_fwd(lpk_backend_state *st, float *out, float *lse, const float *qkv, const int32_t *start,
                   int B, int T, int C, int H) {
    (void)out, (void)lse, (void)qkv, (void)start, (void)B, (void)T, (void)C, (void)H;
    st->sv.error(st->sv.host, "fake: an entry past the table's size was called");
    return -1;
}
#endif

static const lpk_backend table = {
#ifdef FAKE_OLD
    .api_version = 1,
#else
    .api_version = LPK_API_VERSION,
#endif
#ifdef FAKE_V20
    .size = LPK_BACKEND_MIN_SIZE,
    .attn_fwd_seg = seg_fwd,
#else
    .size = sizeof(lpk_backend),
#endif
    .name = "fake",
    .init = init,
    .fini = fini,
    .alloc = alloc,
    .free = release,
    .gemm = gemm,
    .fill = fill,
    .sumsq = sumsq,
    .copy_in = copy,
    .copy_out = copy,
    .copy = copy,
};

const lpk_backend *lpk_backend_entry(void) { return &table; }
