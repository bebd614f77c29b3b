/* Little-endian 64-bit fields of the position states that checkpoints
 * keep (data loaders, SFT batches, a stage's pair order): the bytes are
 * the same on every machine. */
#ifndef LLMPIPE_LE64_H
#define LLMPIPE_LE64_H

#include <stdint.h>

static inline void lp_put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t lp_get_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#endif
