/* The dispatch code against a minimal backend library (fake_backend.c):
 * a kernel's failure reaches the caller through the services' error
 * callback (int -1 and lpk_ctx_error; NaN for a value call, whose error is
 * cleared on entry), an entry the backend leaves NULL is a clean "not
 * implemented", a library of another API version is refused, and one of
 * version 2.0 (a smaller table) loads with its missing entries absent. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lpk/kernels.h>

#include "tests/support/check.h"

int main(void) {
    const char *src = getenv("TEST_SRCDIR");
    char dir[4096], err[1024];
    snprintf(dir, sizeof dir, "%s/%s/tests/backend", src ? src : ".",
             getenv("TEST_WORKSPACE") ? getenv("TEST_WORKSPACE") : "llmpipe");
    setenv("LLMPIPE_KERNEL_PATH", dir, 1);

    lpk_ctx *c = lpk_ctx_create(&(lpk_ctx_opts){.backend = "fake", .num_threads = 1}, err, sizeof err);
    if (!c) {
        fprintf(stderr, "FAIL: %s\n", err);
        return 1;
    }
    CHECK(!strcmp(lpk_ctx_backend_name(c), "fake"), "name %s", lpk_ctx_backend_name(c));

    float *x = lpk_alloc(c, 4 * sizeof(float)), host[4];
    CHECK(x && lpk_fill(c, x, 2.5f, 4) == 0, "fill: %s", lpk_ctx_error(c));
    CHECK(lpk_copy_out(c, host, x, sizeof host) == 0 && host[3] == 2.5f, "copy_out");

    int r = lpk_gemm(c, LPK_NOTRANS, LPK_NOTRANS, 2, 2, 2, 1.0f, LPK_F32, x, 2, x, 2, 0.0f, x, 2);
    printf("gemm -> %d, '%s'\n", r, lpk_ctx_error(c));
    CHECK(r < 0 && !strcmp(lpk_ctx_error(c), "fake gemm: launch failed for 2x2x2"), "gemm: %d '%s'", r,
          lpk_ctx_error(c));

    r = lpk_scale(c, x, 2.0f, 4);
    printf("scale -> %d, '%s'\n", r, lpk_ctx_error(c));
    CHECK(r < 0 && !strcmp(lpk_ctx_error(c), "scale: not implemented by kernel backend 'fake'"),
          "scale: %d '%s'", r, lpk_ctx_error(c));
    CHECK(lpk_sync(c) == 0, "sync (NULL entry: nothing to wait for)");

    double v = lpk_sumsq(c, x, 4);
    printf("sumsq -> %g, '%s'\n", v, lpk_ctx_error(c));
    CHECK(isnan(v) && !strcmp(lpk_ctx_error(c), "fake sumsq: device lost"), "sumsq: %g '%s'", v,
          lpk_ctx_error(c));
    v = lpk_xent(c, x, 2, NULL, NULL, 1, 2, 1.0, NULL, NULL, 1.0f);
    printf("xent -> %g, '%s'\n", v, lpk_ctx_error(c));
    CHECK(isnan(v) && strstr(lpk_ctx_error(c), "xent: not implemented"), "xent: '%s'", lpk_ctx_error(c));
    lpk_ctx_clear_error(c);
    CHECK(!lpk_ctx_error(c)[0], "clear_error");
    /* segment attention: NULL start is the plain entry, else its own */
    int32_t *st = lpk_alloc(c, sizeof(int32_t));
    r = lpk_attn_fwd_seg(c, x, x, x, NULL, 1, 1, 1, 1);
    CHECK(r < 0 && !strcmp(lpk_ctx_error(c), "attn_fwd: not implemented by kernel backend 'fake'"), "'%s'",
          lpk_ctx_error(c));
    r = lpk_attn_bwd_seg(c, x, x, x, x, x, st, 1, 1, 1, 1);
    printf("attn_bwd_seg -> %d, '%s'\n", r, lpk_ctx_error(c));
    CHECK(r < 0 && !strcmp(lpk_ctx_error(c), "attn_bwd_seg: not implemented by kernel backend 'fake'"),
          "'%s'", lpk_ctx_error(c));
    lpk_free(c, st);
    lpk_free(c, x);
    lpk_ctx_destroy(c);

    /* a 2.0 library loads; what its table is too small to hold is absent */
    c = lpk_ctx_create(&(lpk_ctx_opts){.backend = "fake_v20", .num_threads = 1}, err, sizeof err);
    CHECK(c, "a table of version 2.0's size was refused: %s", err);
    if (c) {
        x = lpk_alloc(c, 4 * sizeof(float));
        st = lpk_alloc(c, sizeof(int32_t));
        CHECK(x && st && lpk_fill(c, x, 1.0f, 4) == 0, "fill: %s", lpk_ctx_error(c));
        r = lpk_attn_fwd_seg(c, x, x, x, st, 1, 1, 1, 1);
        printf("fake_v20 attn_fwd_seg -> %d, '%s'\n", r, lpk_ctx_error(c));
        CHECK(r < 0 && !strcmp(lpk_ctx_error(c), "attn_fwd_seg: not implemented by kernel backend 'fake'"),
              "'%s'", lpk_ctx_error(c));
        lpk_free(c, st);
        lpk_free(c, x);
        lpk_ctx_destroy(c);
    }

    CHECK(!lpk_ctx_create(&(lpk_ctx_opts){.backend = "fake_old"}, err, sizeof err),
          "an API version 1 library was accepted");
    printf("fake_old -> '%s'\n", err);
    CHECK(strstr(err, "API version 1, this program needs 2") && !strchr(err, '\n'), "'%s'", err);

    DONE();
}
