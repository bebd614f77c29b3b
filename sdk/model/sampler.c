/* Token sampling (greedy, temperature, top-k, top-p) and batched generation
 * over the KV cache. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <llmpipe/sampler.h>

#include "internal.h"

struct lp_sampler {
    int V;
    int32_t *idx;
    float *prob;
};

lp_sampler *lp_sampler_create(int vocab) {
    if (vocab < 1) return NULL;
    lp_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->V = vocab;
    s->idx = malloc((size_t)vocab * sizeof *s->idx);
    s->prob = malloc((size_t)vocab * sizeof *s->prob);
    if (!s->idx || !s->prob) {
        lp_sampler_destroy(s);
        return NULL;
    }
    return s;
}

void lp_sampler_destroy(lp_sampler *s) {
    if (!s) return;
    free(s->idx);
    free(s->prob);
    free(s);
}

static const float *g_sort_logits; /* qsort has no context argument */

/* descending logit, then ascending id: a total order, so sampling does not
 * depend on the sort algorithm */
static int cmp_desc(const void *a, const void *b) {
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    float x = g_sort_logits[i], y = g_sort_logits[j];
    if (x > y) return -1;
    if (x < y) return 1;
    return (i > j) - (i < j);
}

static int argmax(const float *z, int V) {
    int best = -1;
    for (int j = 0; j < V; j++)
        if (isfinite(z[j]) && (best < 0 || z[j] > z[best])) best = j;
    return best;
}

int lp_sample(lp_sampler *s, const float *z, const lp_sampling *cfg, lp_rng *rng) {
    const int V = s->V;
    if (!(cfg->temperature > 0.0f)) return argmax(z, V);
    int n = 0;
    for (int j = 0; j < V; j++)
        if (isfinite(z[j])) s->idx[n++] = j;
    if (n == 0) return -1;
    int k = (cfg->top_k > 0 && cfg->top_k < n) ? cfg->top_k : n;
    int need_sort = k < n || (cfg->top_p > 0.0f && cfg->top_p < 1.0f);
    if (need_sort) {
        g_sort_logits = z;
        qsort(s->idx, (size_t)n, sizeof *s->idx, cmp_desc);
        n = k;
    }
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = fmaxf(mx, z[s->idx[i]]);
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        s->prob[i] = expf((z[s->idx[i]] - mx) / cfg->temperature);
        sum += s->prob[i];
    }
    if (cfg->top_p > 0.0f && cfg->top_p < 1.0f) {
        /* smallest prefix of the sorted tokens whose mass reaches top_p */
        double acc = 0.0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            acc += s->prob[i] / sum;
            if (acc >= cfg->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
        sum = 0.0;
        for (int i = 0; i < n; i++) sum += s->prob[i];
    }
    double u = lp_rng_uniform(rng) * sum, acc = 0.0;
    for (int i = 0; i < n; i++) {
        acc += s->prob[i];
        if (u < acc) return s->idx[i];
    }
    return s->idx[n - 1];
}

int lp_generate(lp_model *m, const int32_t *prompts, const int32_t *lens, int B, int max_prompt,
                const lp_generate_opts *o, int32_t *out, int32_t *out_lens) {
    lp_model_begin(m);
    const lp_model_config *cfg = lp_model_get_config(m);
    const int V = cfg->vocab_size;
    int maxlen = 0;
    for (int b = 0; b < B; b++) maxlen = lens[b] > maxlen ? lens[b] : maxlen;
    int total = maxlen + o->max_new;
    if (total > cfg->n_ctx) total = cfg->n_ctx;
    if (o->max_new < 1 || maxlen + 1 > total) {
        lp_model_set_error(m, "generate: max_new %d with prompts up to %d tokens does not fit n_ctx %d",
                           o->max_new, maxlen, cfg->n_ctx);
        return -1;
    }
    lp_kv_cache *kv = lp_kv_cache_create(m, B, total);
    lp_sampler *smp = lp_sampler_create(V);
    float *logits = malloc((size_t)B * V * sizeof(float));
    lp_rng *rng = malloc((size_t)B * sizeof *rng);
    uint8_t *active = malloc((size_t)B);
    int32_t *next = malloc((size_t)B * sizeof *next);
    int rc = -1;
    if (!kv || !smp || !logits || !rng || !active || !next) {
        if (kv) lp_model_set_error(m, "generate: out of memory for batch %d", B);
        goto done;
    }
    for (int b = 0; b < B; b++) {
        lp_rng_seed(&rng[b], o->seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(b + 1)));
        out_lens[b] = 0;
        active[b] = 1;
    }
    if (lp_model_prefill(m, kv, prompts, lens, max_prompt, logits)) goto done;
    for (int step = 0;; step++) {
        int any = 0;
        for (int b = 0; b < B; b++) {
            if (!active[b]) continue;
            int t = lp_sample(smp, logits + (size_t)b * V, &o->sampling, &rng[b]);
            if (t < 0) {
                lp_model_set_error(m, "generate: row %d has no finite logit to sample from", b);
                goto done;
            }
            out[(size_t)b * o->max_new + out_lens[b]++] = t;
            next[b] = t;
            for (int i = 0; i < o->n_stop; i++)
                if (o->stop[i] == t) active[b] = 0;
            if (out_lens[b] >= o->max_new || lp_kv_cache_len(kv, b) >= total) active[b] = 0;
            any |= active[b];
        }
        if (!any) break;
        if (lp_model_decode_step(m, kv, next, active, logits)) goto done;
    }
    rc = 0;
done:
    free(next);
    free(active);
    free(rng);
    free(logits);
    lp_sampler_destroy(smp);
    lp_kv_cache_destroy(kv);
    return rc;
}
