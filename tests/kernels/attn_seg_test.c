/* The segment attention kernels (lpk_attn_fwd_seg / lpk_attn_bwd_seg)
 * against the float64 PyTorch block-diagonal reference of
 * tests/reference/packed_fixture.bin (gen_packed_fixture.py), in fp32 and
 * bf16 precision, and bitwise independent of the thread count.
 * Usage: attn_seg_test FIXTURE. Relative error: max|ours - ref| / max|ref|.
 *
 * Tolerances. fp32: output and input gradient 1e-5, log-sum-exp 1e-6
 * (measured ~2e-7, float rounding over <= 130 keys). bf16 precision with
 * native bf16 products (AVX512-BF16): inputs, probabilities and score
 * gradients are rounded to bf16 (unit roundoff 2^-9) with fp32 sums, as
 * PyTorch's autocast does; the bounds are those of kernels_test's plain
 * bf16 attention (output 1.5e-2, lse 1e-2, gradient 3e-2). Without native
 * bf16 the bf16 precision runs the fp32 kernel and gets the fp32 bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lpk/kernels.h>

#include "tests/model/fixture.h"

typedef struct run {
    float *out, *lse, *dqkv;
} run;

static void *dev_in(lpk_ctx *c, const void *host, size_t bytes) {
    void *d = lpk_alloc(c, bytes);
    ASSERT(d && lpk_copy_in(c, d, host, bytes) == 0, "device copy: %s", lpk_ctx_error(c));
    return d;
}

/* Forward and backward of case p on a context; host results */
static run attend(const fx_file *fx, const char *p, lpk_precision prec, int threads) {
    char nm[64], err[256];
    snprintf(nm, sizeof nm, "%sshape", p);
    const int32_t *sh = fx_i32(fx, nm);
    const int B = sh[0], T = sh[1], C = sh[2], H = sh[3];
    const size_t NC = (size_t)B * T * C, NH = (size_t)B * H * T;
    lpk_ctx *c = lpk_ctx_create(&(lpk_ctx_opts){.num_threads = threads, .precision = prec}, err, sizeof err);
    ASSERT(c, "%s", err);
    snprintf(nm, sizeof nm, "%sqkv", p);
    float *qkv = dev_in(c, fx_f32(fx, nm), 3 * NC * sizeof(float));
    snprintf(nm, sizeof nm, "%sdout", p);
    float *dout = dev_in(c, fx_f32(fx, nm), NC * sizeof(float));
    snprintf(nm, sizeof nm, "%sstart", p);
    int32_t *start = dev_in(c, fx_i32(fx, nm), (size_t)B * T * sizeof(int32_t));
    float *out = lpk_alloc(c, NC * sizeof(float)), *lse = lpk_alloc(c, NH * sizeof(float));
    float *dqkv = lpk_alloc(c, 3 * NC * sizeof(float));
    ASSERT(out && lse && dqkv, "alloc");
    ASSERT(lpk_attn_fwd_seg(c, out, lse, qkv, start, B, T, C, H) == 0, "fwd: %s", lpk_ctx_error(c));
    ASSERT(lpk_attn_bwd_seg(c, dqkv, dout, qkv, out, lse, start, B, T, C, H) == 0, "bwd: %s",
           lpk_ctx_error(c));
    run r = {malloc(NC * sizeof(float)), malloc(NH * sizeof(float)), malloc(3 * NC * sizeof(float))};
    ASSERT(r.out && r.lse && r.dqkv, "alloc");
    ASSERT(lpk_copy_out(c, r.out, out, NC * sizeof(float)) == 0 &&
               lpk_copy_out(c, r.lse, lse, NH * sizeof(float)) == 0 &&
               lpk_copy_out(c, r.dqkv, dqkv, 3 * NC * sizeof(float)) == 0,
           "copy out: %s", lpk_ctx_error(c));
    void *bufs[] = {qkv, dout, start, out, lse, dqkv};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) lpk_free(c, bufs[i]);
    lpk_ctx_destroy(c);
    return r;
}

static void run_free(run *r) {
    free(r->out);
    free(r->lse);
    free(r->dqkv);
}

int main(int argc, char **argv) {
    ASSERT(argc >= 2, "usage: attn_seg_test FIXTURE");
    fx_file fx;
    ASSERT(fx_load(&fx, argv[1]) == 0, "cannot load fixture %s", argv[1]);
    char err[256];
    lpk_ctx *c16 =
        lpk_ctx_create(&(lpk_ctx_opts){.num_threads = 1, .precision = LPK_PREC_BF16}, err, sizeof err);
    ASSERT(c16, "%s", err);
    const int native = lpk_ctx_has_native_bf16(c16);
    printf("backend %s, bf16 products %s\n", lpk_ctx_backend_name(c16),
           native ? "native" : "not native here (bf16 precision runs the fp32 kernel)");
    lpk_ctx_destroy(c16);

    for (int k = 0; k < 2; k++) {
        char p[16], nm[64];
        snprintf(p, sizeof p, "attn%d/", k);
        snprintf(nm, sizeof nm, "%sshape", p);
        const int32_t *sh = fx_i32(&fx, nm);
        const size_t NC = (size_t)sh[0] * sh[1] * sh[2], NH = (size_t)sh[0] * sh[3] * sh[1];
        for (int bf = 0; bf < 2; bf++) {
            const int wide = bf && native;
            const double t_out = wide ? 1.5e-2 : 1e-5, t_lse = wide ? 1e-2 : 1e-6,
                         t_grad = wide ? 3e-2 : 1e-5;
            run r2 = attend(&fx, p, bf ? LPK_PREC_BF16 : LPK_PREC_FP32, 2);
            snprintf(nm, sizeof nm, "%sout", p);
            double e_out = fx_relerr(r2.out, fx_f32(&fx, nm), NC);
            snprintf(nm, sizeof nm, "%slse", p);
            double e_lse = fx_relerr(r2.lse, fx_f32(&fx, nm), NH);
            snprintf(nm, sizeof nm, "%sdqkv", p);
            double e_grad = fx_relerr(r2.dqkv, fx_f32(&fx, nm), 3 * NC);
            printf("%s B=%d T=%d C=%d H=%d %s: out %.3g (tol %g)  lse %.3g (tol %g)  dqkv %.3g (tol %g)\n", p,
                   sh[0], sh[1], sh[2], sh[3], bf ? "bf16" : "fp32", e_out, t_out, e_lse, t_lse, e_grad,
                   t_grad);
            CHECK(e_out <= t_out, "%s%s output rel err %.3g > %g", p, bf ? " bf16" : "", e_out, t_out);
            CHECK(e_lse <= t_lse, "%s%s lse rel err %.3g > %g", p, bf ? " bf16" : "", e_lse, t_lse);
            CHECK(e_grad <= t_grad, "%s%s dqkv rel err %.3g > %g", p, bf ? " bf16" : "", e_grad, t_grad);
            /* the work is split over (row, head) pairs, each summed by one
             * thread in a fixed order */
            run r1 = attend(&fx, p, bf ? LPK_PREC_BF16 : LPK_PREC_FP32, 1);
            CHECK(!memcmp(r1.out, r2.out, NC * sizeof(float)) &&
                      !memcmp(r1.lse, r2.lse, NH * sizeof(float)) &&
                      !memcmp(r1.dqkv, r2.dqkv, 3 * NC * sizeof(float)),
                  "%s%s: 1 and 2 threads differ", p, bf ? " bf16" : "");
            run_free(&r1);
            run_free(&r2);
        }
    }
    fx_free(&fx);
    DONE();
}
