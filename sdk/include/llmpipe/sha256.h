/* SHA-256 (FIPS 180-4), streaming. Written here so neither the data plane
 * nor the checkpoint files need a crypto library; artifact and checkpoint
 * hashes are plain hex strings of this digest. */
#ifndef LLMPIPE_SHA256_H
#define LLMPIPE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LP_SHA256_HEX_SIZE 65 /* 64 hex digits + NUL */

typedef struct lp_sha256 {
    uint32_t h[8];
    uint64_t total; /* bytes fed so far */
    uint8_t buf[64];
    size_t used; /* bytes waiting in buf */
} lp_sha256;

void lp_sha256_init(lp_sha256 *s);
void lp_sha256_update(lp_sha256 *s, const void *data, size_t len);
void lp_sha256_final(lp_sha256 *s, uint8_t out[32]);
/* Finishes s and writes the digest as lowercase hex into hex (65 bytes). */
void lp_sha256_final_hex(lp_sha256 *s, char hex[LP_SHA256_HEX_SIZE]);
/* Tests: 1 = never use the CPU's SHA instructions (checks the portable
 * code on machines that have them). */
void lp_sha256_force_portable(int on);
void lp_sha256_hex(const void *data, size_t len, char hex[LP_SHA256_HEX_SIZE]);

#ifdef __cplusplus
}
#endif
#endif
