/* xoshiro256** (Blackman & Vigna), seeded with splitmix64. */
#include <math.h>

#include <llmpipe/sampler.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void lp_rng_seed(lp_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t lp_rng_u64(lp_rng *r) {
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

double lp_rng_uniform(lp_rng *r) { return (double)(lp_rng_u64(r) >> 11) * 0x1.0p-53; }

double lp_rng_normal(lp_rng *r) {
    /* Box-Muller; 1 - u keeps the log argument in (0, 1] */
    double u1 = 1.0 - lp_rng_uniform(r), u2 = lp_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
