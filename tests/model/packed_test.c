/* lp_model_forward_packed: rows holding several examples (segments of seg),
 * each attending only to itself with positions restarting at 0.
 *  1. against the float64 PyTorch reference with an explicit block-diagonal
 *     causal mask (tests/reference/packed_fixture.bin): logits, per-token
 *     loss, loss, every gradient;
 *  2. each example (padding included) run alone through lp_model_forward:
 *     the packed batch's logits and per-token losses equal the examples',
 *     and its gradients (loss summed, norm 1) the sum of theirs;
 *  3. changing a token of one example changes nothing of the others:
 *     their logits, per-token losses and the gradients of a loss on them
 *     stay the same bit for bit, while the example's own logits change;
 *  4. the heads and a frozen model after a packed forward, seg NULL as
 *     lp_model_forward, and the errors (a segment longer than n_ctx).
 * Usage: packed_test FIXTURE fp32|bf16. Relative error of a tensor is
 * max|ours - ref| / max|ref|. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmpipe/model.h>

#include "fixture.h"

typedef struct tol {
    double logits, loss, grad;
} tol;

static lp_model *make(const fx_file *fx, lpk_ctx *ctx, int frozen) {
    const int32_t *cf = fx_i32(fx, "gpt/config");
    lp_model_config cfg = {
        .n_layer = cf[0], .n_head = cf[1], .n_embd = cf[2], .vocab_size = cf[3], .n_ctx = cf[4]};
    char err[256];
    lp_model *m = frozen ? lp_model_create_frozen(&cfg, ctx, err, sizeof err)
                         : lp_model_create(&cfg, ctx, err, sizeof err);
    ASSERT(m, "%s", err);
    fx_load_params(fx, m, "param/");
    return m;
}

/* every gradient, concatenated in parameter order (host, malloc'ed) */
static float *all_grads(lp_model *m) {
    float *g = malloc(lp_model_numel(m) * sizeof *g);
    ASSERT(g, "out of memory");
    size_t at = 0;
    for (int i = 0; i < lp_model_num_params(m); i++) {
        ASSERT(lp_model_grad_read(m, i, g + at) == 0, "%s", lp_model_error(m));
        at += lp_model_param(m, i)->numel;
    }
    return g;
}

/* worst relative error over the parameters of two concatenated gradients */
static double grads_relerr(lp_model *m, const float *a, const float *b, const char **worst) {
    double w = 0.0;
    size_t at = 0;
    for (int i = 0; i < lp_model_num_params(m); i++) {
        const lp_param *p = lp_model_param(m, i);
        double e = fx_relerr(a + at, b + at, p->numel);
        if (!(e <= w)) {
            w = e;
            *worst = p->name;
        }
        at += p->numel;
    }
    return w;
}

/* packed forward, loss with norm (<= 0: sum of weights), optionally the
 * backward; logits [N*V] and per-token nll [N] into host buffers */
static double packed_step(lp_model *m, const int32_t *tok, const int32_t *seg, const int32_t *tgt,
                          const float *w, int B, int T, double norm, float *logits, float *nll,
                          int backward) {
    double loss;
    ASSERT(lp_model_forward_packed(m, tok, seg, B, T) == 0, "%s", lp_model_error(m));
    if (logits) ASSERT(lp_model_logits_copy(m, logits) == 0, "%s", lp_model_error(m));
    ASSERT(lp_model_lm_loss(m, tgt, w, norm, nll, &loss) == 0, "%s", lp_model_error(m));
    if (backward) ASSERT(lp_model_backward(m) == 0, "%s", lp_model_error(m));
    return loss;
}

int main(int argc, char **argv) {
    ASSERT(argc >= 3, "usage: packed_test FIXTURE fp32|bf16");
    const int bf16 = !strcmp(argv[2], "bf16");
    /* 1. against PyTorch: the bounds of parity_test (fp32: logits and loss
     * 1e-5, gradients 1e-4; bf16 GEMM operands: 1e-2, 1e-4, 3e-2).
     * 2. packed against alone: the same arithmetic up to the order of fp32
     * sums (attention over a longer row, weight gradients summed over one
     * batch instead of several), fp32 1e-5 everywhere; in bf16 precision
     * such a 1-ulp difference can flip an operand's bf16 rounding (2^-9),
     * so the parity bounds. */
    const tol ref = bf16 ? (tol){1e-2, 1e-4, 3e-2} : (tol){1e-5, 1e-5, 1e-4};
    const tol alone = bf16 ? (tol){1e-2, 1e-3, 3e-2} : (tol){1e-5, 1e-5, 1e-5};
    fx_file fx;
    ASSERT(fx_load(&fx, argv[1]) == 0, "cannot load fixture %s", argv[1]);
    const int32_t *cf = fx_i32(&fx, "gpt/config");
    const int V = cf[3], NCTX = cf[4], B = cf[5], T = cf[6], N = B * T;
    char err[256];
    lpk_ctx *ctx =
        lpk_ctx_create(&(lpk_ctx_opts){.num_threads = 2, .precision = bf16 ? LPK_PREC_BF16 : LPK_PREC_FP32},
                       err, sizeof err);
    ASSERT(ctx, "%s", err);
    printf("%s precision, backend %s%s; B=%d T=%d n_ctx=%d\n", argv[2], lpk_ctx_backend_name(ctx),
           bf16 && !lpk_ctx_has_native_bf16(ctx) ? " (bf16 products not native here)" : "", B, T, NCTX);
    lp_model *m = make(&fx, ctx, 0);
    const int32_t *tok = fx_i32(&fx, "gpt/tokens"), *seg = fx_i32(&fx, "gpt/seg");
    const int32_t *tgt = fx_i32(&fx, "gpt/targets");
    const float *w = fx_f32(&fx, "gpt/weights");
    float *lg = malloc(sizeof(float) * N * V), *nll = malloc(sizeof(float) * N);
    ASSERT(lg && nll, "out of memory");

    /* 1. the PyTorch block-mask reference */
    int fails = 0;
    const char *worst = "";
    double loss = packed_step(m, tok, seg, tgt, w, B, T, 0.0, lg, nll, 1);
    double ref_loss = fx_f32(&fx, "gpt/loss")[0];
    double e_logits = fx_relerr(lg, fx_f32(&fx, "gpt/logits"), (size_t)N * V);
    double e_nll = fx_relerr(nll, fx_f32(&fx, "gpt/nll"), (size_t)N);
    double e_loss = fabs(loss - ref_loss) / fabs(ref_loss);
    double e_grad = fx_compare_params(&fx, m, "grad/", 1, ref.grad, &worst, &fails);
    printf(
        "reference: logits %.3g (tol %g)  per-token loss %.3g  loss %.7f vs %.7f rel %.3g (tol %g)  grads "
        "worst %.3g (tol %g, %s)\n",
        e_logits, ref.logits, e_nll, loss, ref_loss, e_loss, ref.loss, e_grad, ref.grad, worst);
    CHECK(e_logits <= ref.logits, "logits rel err %.3g", e_logits);
    CHECK(e_nll <= ref.logits, "per-token loss rel err %.3g", e_nll);
    CHECK(e_loss <= ref.loss, "loss rel err %.3g", e_loss);
    CHECK(fails == 0, "%d gradients above %g (worst %s %.3g)", fails, ref.grad, worst, e_grad);

    /* 2. each example alone, gradients summed (loss = sum of w * nll) */
    lp_model_zero_grad(m);
    packed_step(m, tok, seg, tgt, w, B, T, 1.0, lg, nll, 1);
    float *g_packed = all_grads(m);
    lp_model_zero_grad(m);
    float *lg1 = malloc(sizeof(float) * T * V), *nll1 = malloc(sizeof(float) * T);
    ASSERT(lg1 && nll1, "out of memory");
    double e_al = 0.0, e_anll = 0.0;
    int n_ex = 0;
    for (int b = 0; b < B; b++)
        for (int s = 0, e; s < T; s = e) {
            for (e = s + 1; e < T && seg[b * T + e] == seg[b * T + s];) e++;
            const int at = b * T + s, len = e - s;
            ASSERT(lp_model_forward(m, tok + at, 1, len) == 0, "%s", lp_model_error(m));
            ASSERT(lp_model_logits_copy(m, lg1) == 0, "%s", lp_model_error(m));
            ASSERT(lp_model_lm_loss(m, tgt + at, w + at, 1.0, nll1, NULL) == 0, "%s", lp_model_error(m));
            ASSERT(lp_model_backward(m) == 0, "%s", lp_model_error(m));
            e_al = fmax(e_al, fx_relerr(lg + (size_t)at * V, lg1, (size_t)len * V));
            e_anll = fmax(e_anll, fx_relerr(nll + at, nll1, (size_t)len));
            n_ex++;
        }
    float *g_alone = all_grads(m);
    double e_ag = grads_relerr(m, g_packed, g_alone, &worst);
    printf(
        "alone (%d examples): logits %.3g (tol %g)  per-token loss %.3g (tol %g)  summed grads worst %.3g "
        "(tol %g, %s)\n",
        n_ex, e_al, alone.logits, e_anll, alone.loss, e_ag, alone.grad, worst);
    CHECK(n_ex == 6, "%d examples in the fixture's rows, expected 6", n_ex);
    CHECK(e_al <= alone.logits, "packed logits differ from the examples alone: %.3g", e_al);
    CHECK(e_anll <= alone.loss, "packed per-token loss differs from the examples alone: %.3g", e_anll);
    CHECK(e_ag <= alone.grad, "packed gradients differ from the sum of the examples': %.3g (%s)", e_ag,
          worst);
    free(g_alone);
    free(g_packed);

    /* 3. no example sees another: a token of row 0's first example
     * (tokens 0..8) changes; the loss only on the other examples */
    int32_t *tok2 = malloc(sizeof(int32_t) * N), *tgt_o = malloc(sizeof(int32_t) * N);
    float *lg2 = malloc(sizeof(float) * N * V), *nll2 = malloc(sizeof(float) * N);
    ASSERT(tok2 && tgt_o && lg2 && nll2, "out of memory");
    int ex0 = 1;
    while (ex0 < T && seg[ex0] == seg[0]) ex0++;
    for (int i = 0; i < N; i++) tgt_o[i] = i < ex0 ? -1 : tgt[i];
    memcpy(tok2, tok, sizeof(int32_t) * N);
    tok2[3] = (tok2[3] + 1) % V;
    lp_model_zero_grad(m);
    packed_step(m, tok, seg, tgt_o, w, B, T, 1.0, lg, nll, 1);
    float *g1 = all_grads(m);
    lp_model_zero_grad(m);
    packed_step(m, tok2, seg, tgt_o, w, B, T, 1.0, lg2, nll2, 1);
    float *g2 = all_grads(m);
    size_t off = (size_t)ex0 * V;
    CHECK(!memcmp(lg + off, lg2 + off, sizeof(float) * ((size_t)N * V - off)),
          "changing token 3 (example 0) changed the logits of other examples");
    CHECK(!memcmp(nll + ex0, nll2 + ex0, sizeof(float) * (N - ex0)),
          "changing token 3 changed the per-token loss of other examples");
    CHECK(!memcmp(g1, g2, sizeof(float) * lp_model_numel(m)),
          "changing token 3 changed the gradients of a loss on the other examples");
    double own = fx_relerr(lg2 + 3 * V, lg + 3 * V, (size_t)(ex0 - 3) * V);
    printf(
        "isolation: other examples' logits, losses, gradients unchanged bit for bit; example 0's logits "
        "from token 3 moved by %.3g\n",
        own);
    CHECK(own > 1e-3, "example 0's own logits did not change (%.3g): the test cannot see anything", own);
    free(g1);
    free(g2);

    /* 4. heads: log-probs of the targets are minus their loss */
    float *lp = malloc(sizeof(float) * N);
    int32_t *lt = malloc(sizeof(int32_t) * N);
    ASSERT(lp && lt, "out of memory");
    for (int i = 0; i < N; i++) lt[i] = tgt[i] >= 0 ? tgt[i] : 0;
    packed_step(m, tok, seg, tgt, w, B, T, 0.0, lg, nll, 0);
    ASSERT(lp_model_forward_packed(m, tok, seg, B, T) == 0, "%s", lp_model_error(m));
    ASSERT(lp_model_logprobs(m, lt, 1.0f, lp, NULL) == 0, "%s", lp_model_error(m));
    double e_lp = 0.0;
    for (int i = 0; i < N; i++)
        if (tgt[i] >= 0) e_lp = fmax(e_lp, fabs(lp[i] + nll[i]));
    CHECK(e_lp <= 1e-5, "log-probs after a packed forward differ from the loss by %.3g", e_lp);
    /* a frozen model computes the same */
    lp_model *fz = make(&fx, ctx, 1);
    ASSERT(lp_model_forward_packed(fz, tok, seg, B, T) == 0, "%s", lp_model_error(fz));
    ASSERT(lp_model_logits_copy(fz, lg2) == 0, "%s", lp_model_error(fz));
    ASSERT(lp_model_logits_copy(m, lg) == 0, "%s", lp_model_error(m));
    CHECK(!memcmp(lg, lg2, sizeof(float) * N * V), "frozen model's packed logits differ");
    lp_model_destroy(fz);
    /* seg NULL is lp_model_forward (rows of at most n_ctx) */
    const int Tp = NCTX;
    ASSERT(lp_model_forward(m, tok, B, Tp) == 0, "%s", lp_model_error(m));
    ASSERT(lp_model_logits_copy(m, lg) == 0, "%s", lp_model_error(m));
    ASSERT(lp_model_forward_packed(m, tok, NULL, B, Tp) == 0, "%s", lp_model_error(m));
    ASSERT(lp_model_logits_copy(m, lg2) == 0, "%s", lp_model_error(m));
    CHECK(!memcmp(lg, lg2, sizeof(float) * B * Tp * V), "seg NULL differs from lp_model_forward");
    /* one segment per row is plain causal too */
    int32_t *one = calloc((size_t)B * Tp, sizeof *one);
    ASSERT(one && lp_model_forward_packed(m, tok, one, B, Tp) == 0, "%s", lp_model_error(m));
    ASSERT(lp_model_logits_copy(m, lg2) == 0, "%s", lp_model_error(m));
    CHECK(fx_relerr(lg2, lg, (size_t)B * Tp * V) <= alone.logits, "one segment per row differs from plain");
    free(one);
    /* errors: a segment longer than n_ctx, a plain row longer than n_ctx */
    int32_t *flat = calloc((size_t)N, sizeof *flat);
    ASSERT(flat, "out of memory");
    CHECK(lp_model_forward_packed(m, tok, flat, B, T) < 0 && strstr(lp_model_error(m), "longer than n_ctx"),
          "a %d-token segment with n_ctx %d: '%s'", T, NCTX, lp_model_error(m));
    printf("segment too long -> '%s'\n", lp_model_error(m));
    CHECK(!strchr(lp_model_error(m), '\n'), "one-line message");
    CHECK(lp_model_forward_packed(m, tok, NULL, B, T) < 0, "seg NULL with T %d > n_ctx %d was accepted", T,
          NCTX);
    CHECK(lp_model_forward_packed(m, tok, seg, 0, T) < 0, "B = 0 was accepted");
    /* and the model still works afterwards */
    double l2 = packed_step(m, tok, seg, tgt, w, B, T, 0.0, NULL, NULL, 1);
    CHECK(fabs(l2 - loss) <= 1e-6 * fabs(loss), "loss after the errors %.7f, before %.7f", l2, loss);
    free(flat);

    free(lp);
    free(lt);
    free(tok2);
    free(tgt_o);
    free(lg2);
    free(nll2);
    free(lg1);
    free(nll1);
    free(lg);
    free(nll);
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    fx_free(&fx);
    DONE();
}
