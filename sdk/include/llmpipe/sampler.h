/* Seeded random numbers, token sampling and batched generation. */
#ifndef LLMPIPE_SAMPLER_H
#define LLMPIPE_SAMPLER_H

#include <stdint.h>

#include <llmpipe/model.h>

#ifdef __cplusplus
extern "C" {
#endif

/* xoshiro256** seeded through splitmix64: fast, and the same stream on
 * every platform. */
typedef struct lp_rng {
    uint64_t s[4];
} lp_rng;
void lp_rng_seed(lp_rng *r, uint64_t seed);
uint64_t lp_rng_u64(lp_rng *r);
double lp_rng_uniform(lp_rng *r); /* [0, 1) */
double lp_rng_normal(lp_rng *r);  /* N(0, 1) */

typedef struct lp_sampling {
    float temperature; /* <= 0: greedy */
    int top_k;         /* <= 0: off */
    float top_p;       /* <= 0 or >= 1: off */
} lp_sampling;

/* Opaque per-call workspace sized for a vocabulary. */
typedef struct lp_sampler lp_sampler;
lp_sampler *lp_sampler_create(int vocab);
void lp_sampler_destroy(lp_sampler *s);
/* Samples from logits[vocab]; returns the token or -1 on bad input (non-finite
 * logits everywhere). Ties go to the lower token id. */
int lp_sample(lp_sampler *s, const float *logits, const lp_sampling *cfg, lp_rng *rng);

typedef struct lp_generate_opts {
    lp_sampling sampling;
    uint64_t seed;       /* row b uses the stream seeded by (seed, b) */
    int max_new;         /* tokens to generate at most per row */
    const int32_t *stop; /* stop tokens (kept in the output) */
    int n_stop;
} lp_generate_opts;

/* prompts: [B, max_prompt] row-major, lens[b] real lengths. out: [B, max_new]
 * generated tokens; out_lens[b] how many. Needs lens[b] + max_new <= n_ctx. */
int lp_generate(lp_model *m, const int32_t *prompts, const int32_t *lens, int B, int max_prompt,
                const lp_generate_opts *opts, int32_t *out, int32_t *out_lens);

#ifdef __cplusplus
}
#endif
#endif
