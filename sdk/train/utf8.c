/* Generated text is cut at arbitrary byte-level tokens, so it can end (or,
 * from an undertrained model, be riddled) with broken UTF-8 that JSON
 * consumers refuse; samples go out sanitised. */
#include <stdlib.h>
#include <string.h>

#include "llmpipe/train.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t seq_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        min = 0x10000;
    } else
        return 0;
    if (n < len) return 0;
    unsigned cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

char *lp_utf8_sanitize(const char *text, size_t n) {
    char *out = malloc(3 * n + 1); /* each bad byte becomes 3 bytes at most */
    if (!out) return NULL;
    const unsigned char *s = (const unsigned char *)text;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t l = seq_len(s + i, n - i);
        if (l && !(l == 1 && s[i] == 0)) {
            memcpy(out + o, s + i, l);
            o += l;
            i += l;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3); /* U+FFFD */
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    return out;
}
