/* GPT-2 pre-tokenisation: the reference regex through PCRE2 with Unicode
 * properties, so Chinese, English and mixed text split as in GPT-2 and
 * Hugging Face's ByteLevel pre-tokenizer. */
#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>
#include <stdlib.h>

#include "text_internal.h"

static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

struct lpt_pretok {
    pcre2_code *re;
    pcre2_match_data *md;
};

lpt_pretok *lpt_pretok_create(char *err, size_t errsz) {
    lpt_pretok *p = calloc(1, sizeof *p);
    if (!p) {
        lp_errf(err, errsz, "pre-tokenizer: out of memory");
        return NULL;
    }
    int ec;
    PCRE2_SIZE eo;
    /* MATCH_INVALID_UTF: invalid sequences simply never match, so arbitrary
     * bytes can be split (they fall into the gaps between matches). */
    p->re = pcre2_compile((PCRE2_SPTR)GPT2_PATTERN, PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ec, &eo, NULL);
    if (!p->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        lp_errf(err, errsz, "pre-tokenizer regex at offset %zu: %s", (size_t)eo, (char *)msg);
        free(p);
        return NULL;
    }
    /* JIT is an optimisation only: the interpreter gives the same matches. */
    (void)pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE);
    p->md = pcre2_match_data_create_from_pattern(p->re, NULL);
    if (!p->md) {
        lpt_pretok_destroy(p);
        lp_errf(err, errsz, "pre-tokenizer: out of memory");
        return NULL;
    }
    return p;
}

void lpt_pretok_destroy(lpt_pretok *p) {
    if (!p) return;
    pcre2_match_data_free(p->md);
    pcre2_code_free(p->re);
    free(p);
}

int lpt_pretok_split(lpt_pretok *p, const char *text, size_t len, lpt_piece_fn fn, void *ctx, char *err,
                     size_t errsz) {
    size_t pos = 0;
    while (pos < len) {
        int rc = pcre2_match(p->re, (PCRE2_SPTR)text, len, pos, 0, p->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return lp_errf(err, errsz, "pre-tokenizer match at byte %zu: %s", pos, (char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
        size_t s = ov[0], e = ov[1];
        if (s > pos && fn(ctx, text + pos, s - pos)) return 0;
        if (e == s) { /* cannot happen with this pattern; guard against a loop */
            return lp_errf(err, errsz, "pre-tokenizer: empty match at byte %zu", s);
        }
        if (fn(ctx, text + s, e - s)) return 0;
        pos = e;
    }
    if (pos < len) fn(ctx, text + pos, len - pos);
    return 0;
}
