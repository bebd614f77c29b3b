/* Finite-difference gradient check, independent of PyTorch: a naive
 * float64 implementation of the same GPT (written here from the maths) is
 * differentiated numerically by central differences, and compared with the
 * library's analytic fp32 gradients for every parameter element, for two
 * objectives: masked LM loss + critic values, and PPO-style log-prob +
 * entropy at a temperature. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmpipe/model.h>

#include "fixture.h"

enum { B = 2, T = 5, C = 8, H = 2, V = 11, L = 2, NCTX = 6 };
static const float TEMP = 0.8f;

static lp_model *g_m;
static double *g_p; /* float64 copy of all parameters */
static size_t g_off[64];
static int32_t tok[B * T], tgt[B * T];
static float wts[B * T], vcoef[B * T], acoef[B * T], ecoef[B * T];

static const double *prm(int i) { return g_p + g_off[i]; }

static void layernorm(double *o, const double *x, const double *w, const double *b) {
    for (int n = 0; n < B * T; n++) {
        double mu = 0, var = 0;
        for (int c = 0; c < C; c++) mu += x[n * C + c];
        mu /= C;
        for (int c = 0; c < C; c++) var += (x[n * C + c] - mu) * (x[n * C + c] - mu);
        var /= C;
        for (int c = 0; c < C; c++) o[n * C + c] = (x[n * C + c] - mu) / sqrt(var + 1e-5) * w[c] + b[c];
    }
}

static void linear(double *y, const double *x, const double *W, const double *bias, int in, int out) {
    for (int n = 0; n < B * T; n++)
        for (int j = 0; j < out; j++) {
            double s = bias[j];
            for (int i = 0; i < in; i++) s += x[n * in + i] * W[i * out + j];
            y[n * out + j] = s;
        }
}

/* kind 0: masked LM loss + sum(vcoef * values); kind 1: sum(a*logp + e*H) */
static double objective(int kind) {
    double x[B * T * C], h[B * T * C], qkv[B * T * 3 * C], att[B * T * C], tmp[B * T * C];
    double fc[B * T * 4 * C];
    int pi = 0;
    const double *wte = prm(pi++), *wpe = prm(pi++);
    for (int n = 0; n < B * T; n++)
        for (int c = 0; c < C; c++) x[n * C + c] = wte[tok[n] * C + c] + wpe[(n % T) * C + c];
    const int hs = C / H;
    for (int l = 0; l < L; l++) {
        const double *ln1w = prm(pi), *ln1b = prm(pi + 1), *qw = prm(pi + 2), *qb = prm(pi + 3);
        const double *pw = prm(pi + 4), *pb = prm(pi + 5), *ln2w = prm(pi + 6), *ln2b = prm(pi + 7);
        const double *fw = prm(pi + 8), *fb = prm(pi + 9), *gw = prm(pi + 10), *gb = prm(pi + 11);
        pi += 12;
        layernorm(h, x, ln1w, ln1b);
        linear(qkv, h, qw, qb, C, 3 * C);
        for (int b = 0; b < B; b++)
            for (int hd = 0; hd < H; hd++)
                for (int i = 0; i < T; i++) {
                    double s[T], mx = -1e300, sum = 0;
                    const double *q = qkv + (b * T + i) * 3 * C + hd * hs;
                    for (int j = 0; j <= i; j++) {
                        const double *k = qkv + (b * T + j) * 3 * C + C + hd * hs;
                        double a = 0;
                        for (int d = 0; d < hs; d++) a += q[d] * k[d];
                        s[j] = a / sqrt((double)hs);
                        if (s[j] > mx) mx = s[j];
                    }
                    for (int j = 0; j <= i; j++) {
                        s[j] = exp(s[j] - mx);
                        sum += s[j];
                    }
                    for (int d = 0; d < hs; d++) {
                        double o = 0;
                        for (int j = 0; j <= i; j++)
                            o += s[j] / sum * qkv[(b * T + j) * 3 * C + 2 * C + hd * hs + d];
                        att[(b * T + i) * C + hd * hs + d] = o;
                    }
                }
        linear(tmp, att, pw, pb, C, C);
        for (int k = 0; k < B * T * C; k++) x[k] += tmp[k];
        layernorm(h, x, ln2w, ln2b);
        linear(fc, h, fw, fb, C, 4 * C);
        for (int k = 0; k < B * T * 4 * C; k++) {
            double v = fc[k];
            fc[k] = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        }
        linear(tmp, fc, gw, gb, 4 * C, C);
        for (int k = 0; k < B * T * C; k++) x[k] += tmp[k];
    }
    layernorm(h, x, prm(pi), prm(pi + 1));
    const double *score = prm(pi + 2);
    double J = 0, wsum = 0;
    for (int n = 0; n < B * T; n++) {
        double z[V], mx = -1e300, sum = 0;
        for (int v = 0; v < V; v++) {
            double a = 0;
            for (int c = 0; c < C; c++) a += h[n * C + c] * wte[v * C + c];
            z[v] = kind ? a / TEMP : a;
            if (z[v] > mx) mx = z[v];
        }
        for (int v = 0; v < V; v++) sum += exp(z[v] - mx);
        double lse = mx + log(sum);
        if (kind == 0) {
            if (tgt[n] >= 0) {
                J += wts[n] * (lse - z[tgt[n]]);
                wsum += wts[n];
            }
        } else {
            double ent = 0;
            for (int v = 0; v < V; v++) ent -= exp(z[v] - lse) * (z[v] - lse);
            J += acoef[n] * (z[tgt[n]] - lse) + ecoef[n] * ent;
        }
    }
    if (kind == 0) {
        J /= wsum;
        for (int n = 0; n < B * T; n++) {
            double a = 0;
            for (int c = 0; c < C; c++) a += h[n * C + c] * score[c];
            J += vcoef[n] * a;
        }
    }
    return J;
}

static float ln_jitter(const lp_param *p, size_t k) {
    (void)k;
    return strstr(p->name, "ln_") ? 0.3f * (rand() / (float)RAND_MAX - 0.5f) : 0.0f;
}

static int run(int kind) {
    lp_model *m = g_m;
    lp_model_zero_grad(m);
    ASSERT(lp_model_forward(m, tok, B, T) == 0, "%s", lp_model_error(m));
    double ours;
    if (kind == 0) {
        float vals[B * T];
        ASSERT(lp_model_lm_loss(m, tgt, wts, 0, NULL, &ours) == 0, "%s", lp_model_error(m));
        ASSERT(lp_model_values(m, vals) == 0, "%s", lp_model_error(m));
        for (int n = 0; n < B * T; n++) ours += vcoef[n] * vals[n];
        ASSERT(lp_model_values_grad(m, vcoef) == 0, "%s", lp_model_error(m));
    } else {
        float lp[B * T], en[B * T];
        ASSERT(lp_model_logprobs(m, tgt, TEMP, lp, en) == 0, "%s", lp_model_error(m));
        ours = 0;
        for (int n = 0; n < B * T; n++) ours += acoef[n] * lp[n] + ecoef[n] * en[n];
        ASSERT(lp_model_logprobs_grad(m, tgt, TEMP, acoef, ecoef) == 0, "%s", lp_model_error(m));
    }
    ASSERT(lp_model_backward(m) == 0, "%s", lp_model_error(m));
    double ref = objective(kind);
    double eobj = fabs(ours - ref) / fabs(ref);
    /* global gradient scale, for tensors whose true gradient is ~0 */
    double gscale = 0;
    float *grads[64]; /* as many as g_off */
    for (int i = 0; i < lp_model_num_params(m); i++) {
        const lp_param *p = lp_model_param(m, i);
        grads[i] = fx_grad_host(m, i);
        for (size_t k = 0; k < p->numel; k++) gscale = fmax(gscale, fabs(grads[i][k]));
    }
    double worst = 0;
    const char *wn = "";
    int fails = 0;
    const double eps = 1e-5;
    for (int i = 0; i < lp_model_num_params(m); i++) {
        const lp_param *p = lp_model_param(m, i);
        double maxd = 0, maxfd = 0;
        for (size_t k = 0; k < p->numel; k++) {
            double *x = g_p + g_off[i] + k, x0 = *x;
            *x = x0 + eps;
            double jp = objective(kind);
            *x = x0 - eps;
            double jm = objective(kind);
            *x = x0;
            double fd = (jp - jm) / (2 * eps);
            maxd = fmax(maxd, fabs(fd - grads[i][k]));
            maxfd = fmax(maxfd, fabs(fd));
        }
        free(grads[i]);
        double e = maxd / fmax(maxfd, 1e-3 * gscale);
        if (e > worst) {
            worst = e;
            wn = p->name;
        }
        if (!(e <= 1e-4)) {
            fprintf(stderr, "  %s: relative error %.3g\n", p->name, e);
            fails++;
        }
    }
    printf(
        "objective %d: fp32 %.9f vs float64 %.9f (rel %.2g); gradients vs central "
        "differences: worst rel %.3g (%s)\n",
        kind, ours, ref, eobj, worst, wn);
    if (!(eobj <= 1e-5)) {
        fprintf(stderr, "  objective differs\n");
        fails++;
    }
    return fails;
}

int main(void) {
    lp_model_config cfg = {
        .n_layer = L, .n_head = H, .n_embd = C, .vocab_size = V, .n_ctx = NCTX, .scalar_head = 1};
    char err[256];
    lpk_ctx *ctx = lpk_ctx_create(&(lpk_ctx_opts){.num_threads = 2}, err, sizeof err);
    ASSERT(ctx, "%s", err);
    g_m = lp_model_create(&cfg, ctx, err, sizeof err);
    ASSERT(g_m, "%s", err);
    lp_model_init_gpt2(g_m, 7);
    srand(11);
    size_t total = 0;
    for (int i = 0; i < lp_model_num_params(g_m); i++) {
        const lp_param *p = lp_model_param(g_m, i);
        g_off[i] = total;
        total += p->numel;
        /* O(1) weights make every path matter (GPT-2 init is nearly linear) */
        fx_param_map(g_m, i, 15.0f, ln_jitter);
    }
    g_p = malloc(total * sizeof(double));
    for (int i = 0; i < lp_model_num_params(g_m); i++) {
        const lp_param *p = lp_model_param(g_m, i);
        float *h = fx_param_host(g_m, i);
        for (size_t k = 0; k < p->numel; k++) g_p[g_off[i] + k] = h[k];
        free(h);
    }
    for (int n = 0; n < B * T; n++) {
        tok[n] = rand() % V;
        tgt[n] = rand() % V;
        wts[n] = n % T < 2 ? 0.0f : 0.5f + (float)(n % 3);
        vcoef[n] = (float)(rand() % 7 - 3) * 0.1f;
        acoef[n] = (float)(rand() % 5 - 2) * 0.5f;
        ecoef[n] = (float)(rand() % 5 - 2) * 0.2f;
    }
    tgt[3] = -1; /* an ignored target (objective 0 only; objective 1 needs a token) */
    int fails = run(0);
    tgt[3] = 4;
    fails += run(1);
    free(g_p);
    lp_model_destroy(g_m);
    lpk_ctx_destroy(ctx);
    if (fails) {
        fprintf(stderr, "FAIL: %d\n", fails);
        return 1;
    }
    printf("PASS\n");
    return 0;
}
