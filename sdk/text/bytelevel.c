/* GPT-2's reversible byte -> printable code point mapping, used to store
 * arbitrary bytes as text in vocab.json / tokenizer.json. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "text_internal.h"

static uint32_t g_b2c[256];
static int16_t g_c2b[512]; /* every mapped code point is < 512 */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_tables(void) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        g_b2c[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
    }
    for (int i = 0; i < 512; i++) g_c2b[i] = -1;
    for (int b = 0; b < 256; b++) g_c2b[g_b2c[b]] = (int16_t)b;
}

void lpt_bytelevel_tables(const uint32_t **byte_to_cp) {
    pthread_once(&g_once, init_tables);
    *byte_to_cp = g_b2c;
}

char *lpt_bytelevel_encode(const char *s, size_t n, size_t *outlen) {
    pthread_once(&g_once, init_tables);
    char *o = malloc(2 * n + 1), *p = o; /* all code points < 0x800: <= 2 bytes */
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = g_b2c[(unsigned char)s[i]];
        if (c < 0x80) {
            *p++ = (char)c;
        } else {
            *p++ = (char)(0xC0 | (c >> 6));
            *p++ = (char)(0x80 | (c & 0x3F));
        }
    }
    *p = 0;
    *outlen = (size_t)(p - o);
    return o;
}

int lpt_bytelevel_decode(const char *s, size_t n, char **out, size_t *outlen) {
    pthread_once(&g_once, init_tables);
    char *o = malloc(n + 1), *p = o;
    if (!o) return -1;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        uint32_t c;
        if (u[i] < 0x80) {
            c = u[i++];
        } else if ((u[i] & 0xE0) == 0xC0 && i + 1 < n && (u[i + 1] & 0xC0) == 0x80) {
            c = ((uint32_t)(u[i] & 0x1F) << 6) | (u[i + 1] & 0x3F);
            i += 2;
        } else {
            free(o);
            return -1;
        }
        if (c >= 512 || g_c2b[c] < 0) {
            free(o);
            return -1;
        }
        *p++ = (char)g_c2b[c];
    }
    *p = 0;
    *outlen = (size_t)(p - o);
    *out = o;
    return 0;
}
