/* Prompt templates, SFT tokenization with a response-only loss mask, and
 * packing of short examples. */
#include <stdlib.h>
#include <string.h>

#include "llmpipe/data.h"
#include "text_internal.h"

static const lp_prompt_template ALPACA = {
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n",
    "Below is an instruction that describes a task. Write a response that appropriately completes the "
    "request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n",
};

const lp_prompt_template *lp_alpaca_template(void) { return &ALPACA; }

int lp_template_check(const lp_prompt_template *tpl, char *err, size_t errsz) {
    if (!tpl->with_input || !strstr(tpl->with_input, "{instruction}") || !strstr(tpl->with_input, "{input}"))
        return lp_errf(err, errsz, "prompt template (with input): must contain {instruction} and {input}");
    if (!tpl->no_input || !strstr(tpl->no_input, "{instruction}"))
        return lp_errf(err, errsz, "prompt template (no input): must contain {instruction}");
    return 0;
}

char *lp_render_prompt(const lp_prompt_template *tpl, const char *instruction, const char *input) {
    const char *f = input && *input ? tpl->with_input : tpl->no_input;
    size_t li = strlen(instruction), ln = input ? strlen(input) : 0, cap = strlen(f) + 1;
    for (const char *p = f; (p = strchr(p, '{')); p++) cap += li + ln; /* generous */
    char *o = malloc(cap), *q = o;
    if (!o) return NULL;
    while (*f) {
        if (!strncmp(f, "{instruction}", 13)) {
            memcpy(q, instruction, li);
            q += li;
            f += 13;
        } else if (!strncmp(f, "{input}", 7)) {
            memcpy(q, input, ln);
            q += ln;
            f += 7;
        } else {
            *q++ = *f++;
        }
    }
    *q = 0;
    return o;
}

void lp_sft_tokens_free(lp_sft_tokens *e) {
    free(e->ids);
    free(e->mask);
    memset(e, 0, sizeof *e);
}

int lp_response_tokenize(lp_tokenizer *t, const char *prompt, const char *response, size_t max_len,
                         lp_sft_tokens *out, char *err, size_t errsz) {
    memset(out, 0, sizeof *out);
    if (lp_tokenizer_eot(t) < 0)
        return lp_errf(err, errsz, "the tokenizer has no %s token to end responses with", LP_EOT_TOKEN);
    lp_ids ids = {0};
    /* the prompt and the response are encoded apart so the mask boundary is
     * exact; special-token text in the data stays plain text */
    int rc = lp_tokenizer_encode(t, prompt, strlen(prompt), 0, &ids, err, errsz);
    size_t np = ids.n;
    if (!rc) rc = lp_tokenizer_encode(t, response, strlen(response), 0, &ids, err, errsz);
    if (!rc && lp_ids_push(&ids, lp_tokenizer_eot(t))) rc = lp_errf(err, errsz, "out of memory");
    if (rc) {
        lp_ids_free(&ids);
        return -1;
    }
    size_t n = ids.n;
    if (max_len && n > max_len) {
        n = max_len;
        out->truncated = 1;
    }
    out->ids = ids.v;
    out->mask = malloc(n ? n : 1);
    if (!out->mask) {
        lp_ids_free(&ids);
        return lp_errf(err, errsz, "out of memory");
    }
    for (size_t i = 0; i < n; i++) out->mask[i] = i >= np;
    out->n = n;
    out->prompt_n = np < n ? np : n;
    return 0;
}

int lp_sft_tokenize(lp_tokenizer *t, const lp_prompt_template *tpl, const lp_record *r, size_t max_len,
                    lp_sft_tokens *out, char *err, size_t errsz) {
    memset(out, 0, sizeof *out);
    char *prompt = lp_render_prompt(tpl, r->instruction, r->input);
    if (!prompt) return lp_errf(err, errsz, "sft: out of memory");
    int rc = lp_response_tokenize(t, prompt, r->output, max_len, out, err, errsz);
    free(prompt);
    return rc;
}

void lp_packed_free(lp_packed *p) {
    free(p->ids);
    free(p->seg);
    free(p->mask);
    memset(p, 0, sizeof *p);
}

int lp_sft_pack(const lp_sft_tokens *ex, size_t n, size_t T, int32_t pad, lp_packed *out, char *err,
                size_t errsz) {
    memset(out, 0, sizeof *out);
    if (!T) return lp_errf(err, errsz, "pack: T must be positive");
    /* first pass counts rows so the arrays are allocated once */
    size_t rows = 0, used = T;
    for (size_t i = 0; i < n; i++) {
        size_t len = ex[i].n < T ? ex[i].n : T;
        if (!len) continue;
        if (used + len > T) {
            rows++;
            used = 0;
        }
        used += len;
    }
    out->ids = malloc((rows ? rows : 1) * T * sizeof *out->ids);
    out->seg = malloc((rows ? rows : 1) * T * sizeof *out->seg);
    out->mask = calloc((rows ? rows : 1) * T, 1);
    if (!out->ids || !out->seg || !out->mask) {
        lp_packed_free(out);
        lp_errf(err, errsz, "pack: out of memory");
        return -1;
    }
    for (size_t i = 0; i < rows * T; i++) {
        out->ids[i] = pad;
        out->seg[i] = -1;
    }
    out->rows = rows;
    out->T = T;
    size_t row = (size_t)-1;
    int32_t seg = 0;
    used = T;
    for (size_t i = 0; i < n; i++) {
        size_t len = ex[i].n < T ? ex[i].n : T;
        if (!len) continue;
        if (used + len > T) {
            row++;
            used = 0;
            seg = 0;
        }
        size_t at = row * T + used;
        memcpy(out->ids + at, ex[i].ids, len * sizeof *out->ids);
        memcpy(out->mask + at, ex[i].mask, len);
        for (size_t j = 0; j < len; j++) out->seg[at + j] = seg;
        seg++;
        used += len;
    }
    return 0;
}
