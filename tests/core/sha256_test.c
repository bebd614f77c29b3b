/* SHA-256 against the FIPS 180-4 / NIST example vectors, and streaming in
 * odd-sized pieces against one-shot hashing; both the SHA-extension path and
 * the portable one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/sha256.h"
#include "tests/support/check.h"

static void expect(const char *what, const char *got, const char *want) {
    CHECK(!strcmp(got, want), "%s: got %s want %s", what, got, want);
}

static void vectors(void) {
    char hex[LP_SHA256_HEX_SIZE];
    lp_sha256_hex("", 0, hex);
    expect("empty", hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    lp_sha256_hex("abc", 3, hex);
    expect("abc", hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    lp_sha256_hex(m448, strlen(m448), hex);
    expect("448-bit", hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 =
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnop"
        "jklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    lp_sha256_hex(m896, strlen(m896), hex);
    expect("896-bit", hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    /* One million 'a', fed in uneven pieces. */
    lp_sha256 s;
    lp_sha256_init(&s);
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t n = step < 1000000 - off ? step : 1000000 - off;
        lp_sha256_update(&s, a + off, n);
        off += n;
        step = step * 3 % 997 + 1;
    }
    lp_sha256_final_hex(&s, hex);
    expect("million a", hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* Every split point of a 200-byte message matches the one-shot digest. */
    unsigned char msg[200];
    for (int i = 0; i < 200; i++) msg[i] = (unsigned char)(i * 7 + 3);
    char whole[LP_SHA256_HEX_SIZE];
    lp_sha256_hex(msg, sizeof msg, whole);
    for (size_t cut = 0; cut <= sizeof msg; cut++) {
        lp_sha256_init(&s);
        lp_sha256_update(&s, msg, cut);
        lp_sha256_update(&s, msg + cut, sizeof msg - cut);
        lp_sha256_final_hex(&s, hex);
        expect("split", hex, whole);
    }
    free(a);
}

int main(void) {
    vectors(); /* with the CPU's SHA instructions where it has them */
    lp_sha256_force_portable(1);
    vectors();
    DONE();
}
