/* Packed rows against plain rows, printed (never asserted):
 *  - attention forward + backward at B=8, T=256, C=192, H=4: full causal
 *    against rows packed with segments of ~120 tokens (and padding);
 *  - a training step (forward, LM loss, backward, clipping, AdamW) of the
 *    quickstart model (n_layer 4, n_head 4, n_embd 192, vocab 2048) at
 *    B=8, T=256, plain against packed;
 * each in fp32 and bf16 precision, median of the repetitions: wall time
 * and the process's CPU time (all threads; the steadier measure of work
 * on a shared machine).
 * Usage: packed_bench [threads] [steps] [attn|plain|packed]; attn: the
 * attention alone (with a kernel library of API 2.0, which has no segment
 * entries, the causal figure alone); plain, packed: that fp32 training step
 * alone (for an instruction count under callgrind). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llmpipe/model.h>
#include <llmpipe/optim.h>

enum { B = 8, T = 256, C = 192, H = 4, L = 4, V = 2048 };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmpd);
    return v[n / 2];
}

/* Row b: segments of 108..132 tokens (a different split per row), the
 * rest of the row (under 108 tokens) padding (seg -1). Returns the useful
 * (non-padding) tokens. */
static int make_segments(int32_t *seg, int32_t *start) {
    int useful = 0;
    for (int b = 0; b < B; b++) {
        int t = 0, id = 0;
        while (1) {
            int len = 108 + (b * 7 + id * 11) % 25;
            if (t + len > T) break;
            for (int k = 0; k < len; k++) seg[b * T + t + k] = id;
            t += len;
            useful += len;
            id++;
        }
        for (int k = t; k < T; k++) seg[b * T + k] = -1;
    }
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            start[b * T + t] = t && seg[b * T + t] == seg[b * T + t - 1] ? start[b * T + t - 1] : t;
    return useful;
}

static float *dev_rand(lpk_ctx *c, size_t n, unsigned *s) {
    float *h = malloc(n * sizeof *h), *d = lpk_alloc(c, n * sizeof *d);
    for (size_t i = 0; i < n; i++) {
        *s = *s * 1664525u + 1013904223u;
        h[i] = (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
    }
    if (d) lpk_copy_in(c, d, h, n * sizeof *h);
    free(h);
    return d;
}

/* median ms of attention forward + backward with start (NULL: causal),
 * wall and CPU (*cpu); -1 when the backend cannot */
static double time_attention(lpk_ctx *c, const int32_t *start_host, int reps, double *cpu) {
    unsigned s = 1;
    const size_t NC = (size_t)B * T * C;
    float *qkv = dev_rand(c, 3 * NC, &s), *dout = dev_rand(c, NC, &s);
    float *out = lpk_alloc(c, NC * sizeof(float)), *lse = lpk_alloc(c, (size_t)B * H * T * sizeof(float));
    float *dqkv = lpk_alloc(c, 3 * NC * sizeof(float));
    int32_t *start = NULL;
    if (start_host) {
        start = lpk_alloc(c, (size_t)B * T * sizeof(int32_t));
        lpk_copy_in(c, start, start_host, (size_t)B * T * sizeof(int32_t));
    }
    double *ms = malloc(sizeof(double) * reps), *cms = malloc(sizeof(double) * reps);
    for (int r = -2; r < reps; r++) {
        double t0 = now(), c0 = cpu_now();
        if (lpk_attn_fwd_seg(c, out, lse, qkv, start, B, T, C, H) ||
            lpk_attn_bwd_seg(c, dqkv, dout, qkv, out, lse, start, B, T, C, H)) {
            fprintf(stderr, "attention: %s\n", lpk_ctx_error(c));
            reps = 1;
            ms[0] = cms[0] = -1;
            break;
        }
        if (r >= 0) ms[r] = (now() - t0) * 1e3;
        if (r >= 0) cms[r] = (cpu_now() - c0) * 1e3;
    }
    double med = median(ms, reps);
    *cpu = median(cms, reps);
    free(ms);
    free(cms);
    void *bufs[] = {qkv, dout, out, lse, dqkv, start};
    for (int i = 0; i < 6; i++) lpk_free(c, bufs[i]);
    return med;
}

/* median ms of a training step, packed when seg != NULL; wall and CPU */
static double time_step(lpk_ctx *c, const int32_t *seg, int steps, double *loss_out, double *cpu) {
    lp_model_config cfg = {.n_layer = L, .n_head = H, .n_embd = C, .vocab_size = V, .n_ctx = T};
    char err[256];
    lp_model *m = lp_model_create(&cfg, c, err, sizeof err);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    lp_model_init_gpt2(m, 1);
    lp_adamw *opt = lp_adamw_create(m, &(lp_adamw_config){.lr = 3e-4f, .beta2 = 0.95f, .weight_decay = 0.1f});
    int32_t *tok = malloc(sizeof(int32_t) * B * T), *tgt = malloc(sizeof(int32_t) * B * T);
    unsigned s = 7;
    for (int i = 0; i < B * T; i++) {
        s = s * 1664525u + 1013904223u;
        tok[i] = (int32_t)((s >> 8) % V);
    }
    /* next token within the segment; padding and segment ends carry none */
    for (int i = 0; i < B * T; i++)
        tgt[i] = (i + 1) % T && (!seg || (seg[i] >= 0 && seg[i + 1] == seg[i])) ? tok[i + 1] : -1;
    double *ms = malloc(sizeof(double) * steps), *cms = malloc(sizeof(double) * steps), loss = 0;
    for (int r = -1; r < steps; r++) {
        double t0 = now(), c0 = cpu_now();
        lp_model_zero_grad(m);
        if (lp_model_forward_packed(m, tok, seg, B, T) || lp_model_lm_loss(m, tgt, NULL, 0, NULL, &loss) ||
            lp_model_backward(m)) {
            fprintf(stderr, "%s\n", lp_model_error(m));
            exit(1);
        }
        float coef = lp_model_clip_coef(m, 1.0, NULL);
        lp_adamw_step(opt, 3e-4f, coef);
        if (r >= 0) ms[r] = (now() - t0) * 1e3;
        if (r >= 0) cms[r] = (cpu_now() - c0) * 1e3;
    }
    double med = median(ms, steps);
    *cpu = median(cms, steps);
    *loss_out = loss;
    free(ms);
    free(cms);
    free(tok);
    free(tgt);
    lp_adamw_destroy(opt);
    lp_model_destroy(m);
    return med;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0, steps = argc > 2 ? atoi(argv[2]) : 5;
    const int attn_only = argc > 3 && !strcmp(argv[3], "attn");
    int32_t *seg = malloc(sizeof(int32_t) * B * T), *start = malloc(sizeof(int32_t) * B * T);
    int useful = make_segments(seg, start);
    if (argc > 3 && (!strcmp(argv[3], "plain") || !strcmp(argv[3], "packed"))) {
        char err[256];
        lpk_ctx *c = lpk_ctx_create(&(lpk_ctx_opts){.num_threads = threads}, err, sizeof err);
        if (!c) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        double loss, cpu, ms = time_step(c, strcmp(argv[3], "plain") ? seg : NULL, steps, &loss, &cpu);
        printf("fp32 %s training step: %.1f ms (CPU %.1f), loss %.3f\n", argv[3], ms, cpu, loss);
        lpk_ctx_destroy(c);
        free(seg);
        free(start);
        return 0;
    }
    printf("B=%d T=%d C=%d H=%d; packed rows: segments of 108..132 tokens, %d of %d tokens useful (%.1f%%)\n",
           B, T, C, H, useful, B * T, 100.0 * useful / (B * T));
    for (int bf = 0; bf < 2; bf++) {
        char err[256];
        lpk_ctx *c = lpk_ctx_create(
            &(lpk_ctx_opts){.num_threads = threads, .precision = bf ? LPK_PREC_BF16 : LPK_PREC_FP32}, err,
            sizeof err);
        if (!c) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        const char *pn = bf ? "bf16" : "fp32";
        printf("%s precision, backend %s, %d threads%s\n", pn, lpk_ctx_backend_name(c), lpk_ctx_threads(c),
               bf && !lpk_ctx_has_native_bf16(c) ? " (bf16 products not native: fp32 attention kernel)" : "");
        double acc, apc, ac = time_attention(c, NULL, 20, &acc), ap = time_attention(c, start, 20, &apc);
        printf(
            "  attention fwd+bwd: causal %.2f ms (CPU %.2f), packed %.2f ms (CPU %.2f): %.2fx wall, %.2fx "
            "CPU\n",
            ac, acc, ap, apc, ac / ap, acc / apc);
        if (attn_only) {
            lpk_ctx_destroy(c);
            continue;
        }
        double lc, lpk, scc, spc;
        double sc = time_step(c, NULL, steps, &lc, &scc), sp = time_step(c, seg, steps, &lpk, &spc);
        printf(
            "  training step: plain %.1f ms (CPU %.1f; %.0f tokens/s, loss %.3f), packed %.1f ms (CPU %.1f; "
            "%.0f tokens/s, %.0f useful tokens/s, loss %.3f)\n",
            sc, scc, B * T / (sc / 1e3), lc, sp, spc, B * T / (sp / 1e3), useful / (sp / 1e3), lpk);
        printf("RESULT %s attn_causal_ms %.3f attn_packed_ms %.3f step_plain_ms %.2f step_packed_ms %.2f\n",
               pn, ac, ap, sc, sp);
        lpk_ctx_destroy(c);
    }
    free(seg);
    free(start);
    return 0;
}
