/* Generated samples of a stage's model, published as text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/sampler.h"
#include "stage_internal.h"

/* One prompt's continuation as "step N: <prompt><text>" (NULL: the prompt
 * leaves no room in the context, or out of memory with err set). */
static char *one(const lp_host_services *h, lp_model *m, lp_tokenizer *tok, const lp_stage_sample_opts *o,
                 const char *prompt, int64_t step, int *rc, char *err, size_t errsz) {
    const int n_ctx = lp_model_get_config(m)->n_ctx;
    lp_ids ids = {0};
    char *text = NULL, *clean = NULL, *msg = NULL;
    int32_t *out = NULL;
    *rc = -1;
    if (o->bos >= 0) lp_ids_push(&ids, o->bos); /* a document start, as in training */
    if (lp_tokenizer_encode(tok, prompt, strlen(prompt), 0, &ids, err, errsz)) goto done;
    int max_new = o->max_tokens;
    if ((int)ids.n + max_new > n_ctx) max_new = n_ctx - (int)ids.n;
    if (max_new < 1) {
        *rc = 0;
        goto done;
    }
    int32_t len = (int32_t)ids.n, out_len = 0, stop = o->bos;
    lp_generate_opts go = {.sampling = {o->temperature, o->top_k, 0},
                           .seed = h->seed(h->host) ^ (uint64_t)step * 0x9E3779B97F4A7C15ull,
                           .max_new = max_new,
                           .stop = o->bos >= 0 ? &stop : NULL,
                           .n_stop = o->bos >= 0};
    out = malloc((size_t)max_new * sizeof *out);
    if (!out || lp_generate(m, ids.v, &len, 1, len, &go, out, &out_len)) {
        lp_errf(err, errsz, "stage '%s': sample: generation failed: %s", lp_stage_name(h),
                out ? lp_model_error(m) : "out of memory");
        goto done;
    }
    size_t tl;
    if (lp_tokenizer_decode(tok, out, (size_t)out_len, 1, &text, &tl, err, errsz)) goto done;
    /* samples end at arbitrary byte-level tokens */
    clean = lp_utf8_sanitize(text, tl);
    msg = clean ? malloc(strlen(prompt) + strlen(clean) + 64) : NULL;
    if (!msg) {
        lp_errf(err, errsz, "stage '%s': sample: out of memory", lp_stage_name(h));
        goto done;
    }
    sprintf(msg, "step %lld: %s%s", (long long)step, prompt, clean);
    *rc = 0;
done:
    free(clean);
    free(text);
    free(out);
    lp_ids_free(&ids);
    return msg;
}

int lp_stage_emit_samples(const lp_host_services *h, lp_model *m, lp_tokenizer *tok,
                          const lp_stage_sample_opts *o, int64_t step, char *err, size_t errsz) {
    for (size_t i = 0; i < o->n_prompts; i++) {
        int rc;
        char *msg = one(h, m, tok, o, o->prompts[i], step, &rc, err, errsz);
        if (rc) return -1;
        if (!msg) continue;
        h->emit_text(h->host, "sample", msg);
        h->log(h->host, LP_LOG_INFO, msg);
        free(msg);
    }
    return 0;
}
