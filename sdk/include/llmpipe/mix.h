/* 64-bit mixing for seeds and streams, so every part derives its random
 * numbers the same way: splitmix64 (Steele, Lea, Flood 2014) and FNV-1a. */
#ifndef LLMPIPE_MIX_H
#define LLMPIPE_MIX_H

#include <stddef.h>
#include <stdint.h>

/* The splitmix64 finaliser: a bijection that spreads every input bit. */
static inline uint64_t lp_mix64(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The next number of the splitmix64 stream whose state is *s. */
static inline uint64_t lp_splitmix64(uint64_t *s) {
    *s += 0x9e3779b97f4a7c15ull;
    return lp_mix64(*s);
}

/* FNV-1a over n bytes. */
static inline uint64_t lp_fnv1a64(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

#endif
