/* Sampling: greedy, temperature (empirical frequencies match softmax),
 * top-k and top-p support, seed reproducibility, stop tokens, and generation
 * through the KV cache equal to greedy decoding by full forwards. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmpipe/model.h>
#include <llmpipe/sampler.h>

#include "fixture.h"

#define NV 12

int main(void) {
    float z[NV] = {1.0f, 2.5f, -1.0f, 0.3f, 2.5f, 0.0f, -3.0f, 1.7f, 0.9f, -0.2f, 2.0f, 0.5f};
    lp_sampler *s = lp_sampler_create(NV);
    ASSERT(s, "sampler create");
    lp_rng rng;
    lp_rng_seed(&rng, 1);
    /* greedy: first of the tied maxima (ids 1 and 4) */
    ASSERT(lp_sample(s, z, &(lp_sampling){0}, &rng) == 1, "greedy is not argmax");

    /* temperature 0.8: frequencies vs softmax(z/0.8), 60k draws, 5 sigma */
    const int N = 60000;
    double p[NV], sum = 0;
    for (int i = 0; i < NV; i++) sum += p[i] = exp(z[i] / 0.8);
    long cnt[NV] = {0};
    lp_sampling t08 = {.temperature = 0.8f};
    for (int i = 0; i < N; i++) cnt[lp_sample(s, z, &t08, &rng)]++;
    for (int i = 0; i < NV; i++) {
        double q = p[i] / sum, sd = sqrt(N * q * (1 - q));
        ASSERT(fabs(cnt[i] - N * q) <= 5 * sd + 1, "token %d drawn %ld times, expected %.0f", i, cnt[i],
               N * q);
    }
    /* top-k = 3: only ids {1, 4, 10}, in proportion */
    memset(cnt, 0, sizeof cnt);
    lp_sampling k3 = {.temperature = 1.0f, .top_k = 3};
    for (int i = 0; i < N; i++) cnt[lp_sample(s, z, &k3, &rng)]++;
    for (int i = 0; i < NV; i++)
        ASSERT((cnt[i] > 0) == (i == 1 || i == 4 || i == 10), "top-k drew token %d %ld times", i, cnt[i]);
    double e25 = exp(2.5), e20 = exp(2.0), tot = 2 * e25 + e20;
    ASSERT(fabs(cnt[10] - N * e20 / tot) < 5 * sqrt(N * e20 / tot), "top-k proportions off");
    /* top-p: the smallest prefix of sorted probabilities reaching p */
    double sorted[NV];
    for (int i = 0; i < NV; i++) sorted[i] = exp(z[i]);
    double tp = 0.7, acc = 0, all = 0;
    for (int i = 0; i < NV; i++) all += sorted[i];
    /* descending: 1, 4 (2.5), 10 (2.0), 7 (1.7), 0 (1.0) ... */
    int order[] = {1, 4, 10, 7, 0, 8, 11, 3, 5, 9, 2, 6};
    int keep = 0;
    while (acc < tp) acc += exp(z[order[keep++]]) / all;
    memset(cnt, 0, sizeof cnt);
    lp_sampling p07 = {.temperature = 1.0f, .top_p = (float)tp};
    for (int i = 0; i < N; i++) cnt[lp_sample(s, z, &p07, &rng)]++;
    for (int i = 0; i < NV; i++) {
        int in = 0;
        for (int j = 0; j < keep; j++) in |= order[j] == i;
        ASSERT((cnt[i] > 0) == in, "top-p=%.1f drew token %d %ld times (nucleus of %d)", tp, i, cnt[i], keep);
    }
    printf("sampler: greedy, temperature frequencies, top-k=3, top-p=0.7 (nucleus %d) ok\n", keep);
    /* seeds: same seed same stream, different seed different stream */
    lp_rng a, b, c;
    lp_rng_seed(&a, 99);
    lp_rng_seed(&b, 99);
    lp_rng_seed(&c, 100);
    int same = 1, diff = 0;
    for (int i = 0; i < 200; i++) {
        int x = lp_sample(s, z, &t08, &a), y = lp_sample(s, z, &t08, &b), w = lp_sample(s, z, &t08, &c);
        same &= x == y;
        diff |= x != w;
    }
    ASSERT(same && diff, "seeded streams: same=%d differ=%d", same, diff);
    lp_sampler_destroy(s);

    /* generation through the KV cache on a small random model */
    const int B = 3, W = 6, V = 53, NEW = 10;
    lp_model_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 32, .vocab_size = V, .n_ctx = 32};
    char err[256];
    lpk_ctx *ctx = lpk_ctx_create(&(lpk_ctx_opts){.num_threads = 2}, err, sizeof err);
    ASSERT(ctx, "%s", err);
    lp_model *m = lp_model_create(&cfg, ctx, err, sizeof err);
    ASSERT(m, "%s", err);
    lp_model_init_gpt2(m, 3);
    for (int i = 0; i < lp_model_num_params(m); i++) fx_param_map(m, i, 20.0f, NULL); /* peaky logits */
    int32_t prompts[3 * 6] = {5, 9, 2, 0, 0, 0, 7, 1, 4, 8, 3, 6, 11, 0, 0, 0, 0, 0};
    int32_t lens[3] = {3, 6, 1};
    int32_t out[3 * 10], olen[3], out2[3 * 10], olen2[3];
    lp_generate_opts go = {.sampling = {0}, .seed = 1, .max_new = NEW};
    ASSERT(lp_generate(m, prompts, lens, B, W, &go, out, olen) == 0, "%s", lp_model_error(m));
    /* greedy reference by full forwards, one row at a time */
    for (int r = 0; r < B; r++) {
        int32_t seq[32];
        int n = lens[r];
        memcpy(seq, prompts + r * W, n * sizeof(int32_t));
        ASSERT(olen[r] == NEW, "row %d generated %d tokens", r, olen[r]);
        for (int k = 0; k < NEW; k++) {
            ASSERT(lp_model_forward(m, seq, 1, n) == 0, "%s", lp_model_error(m));
            float *all = fx_logits_host(m, (size_t)n * V), *lg = all + (size_t)(n - 1) * V;
            int best = 0;
            for (int v = 1; v < V; v++)
                if (lg[v] > lg[best]) best = v;
            free(all);
            ASSERT(out[r * NEW + k] == best, "row %d token %d: cache gave %d, full forward %d", r, k,
                   out[r * NEW + k], best);
            seq[n++] = best;
        }
    }
    printf("greedy generation with the KV cache equals full-forward greedy decoding\n");
    /* stop token: stop at the first occurrence of row 0's 4th token */
    int32_t stop = out[3];
    int first = 0;
    while (out[first] != stop) first++;
    go.stop = &stop;
    go.n_stop = 1;
    ASSERT(lp_generate(m, prompts, lens, B, W, &go, out2, olen2) == 0, "%s", lp_model_error(m));
    ASSERT(olen2[0] == first + 1 && !memcmp(out, out2, (first + 1) * sizeof(int32_t)),
           "stop token: row 0 length %d, expected %d", olen2[0], first + 1);
    for (int r = 1; r < B; r++) {
        int e = 0;
        while (e < NEW && out[r * NEW + e] != stop) e++;
        ASSERT(olen2[r] == (e < NEW ? e + 1 : NEW), "stop token: row %d length %d", r, olen2[r]);
    }
    /* sampled generation is reproducible by seed */
    go.stop = NULL;
    go.n_stop = 0;
    go.sampling = (lp_sampling){.temperature = 1.0f, .top_k = 20, .top_p = 0.95f};
    go.seed = 77;
    ASSERT(lp_generate(m, prompts, lens, B, W, &go, out, olen) == 0, "gen");
    ASSERT(lp_generate(m, prompts, lens, B, W, &go, out2, olen2) == 0, "gen");
    ASSERT(!memcmp(out, out2, sizeof out), "same seed gave different samples");
    go.seed = 78;
    ASSERT(lp_generate(m, prompts, lens, B, W, &go, out2, olen2) == 0, "gen");
    ASSERT(memcmp(out, out2, sizeof out), "different seeds gave identical samples");
    printf("stop tokens and seeded sampled generation ok\nPASS\n");
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    return 0;
}
