/* Sampling, labelling and ranking of the on-policy answers. */
#include "onpolicy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/error.h"
#include "llmpipe/eval.h"
#include "llmpipe/reward.h"
#include "llmpipe/sampler.h"

void rm_onpolicy_free(rm_onpolicy *op) {
    for (size_t i = 0; i < op->n; i++) {
        free(op->seq ? op->seq[i] : NULL);
        free(op->family ? op->family[i] : NULL);
        free(op->answer ? op->answer[i] : NULL);
    }
    free(op->answer);
    free(op->seq);
    free(op->len);
    free(op->right);
    free(op->family);
    free(op->scores);
    memset(op, 0, sizeof *op);
}

int rm_onpolicy_sample(rm_onpolicy *op, lp_model *m, lp_tokenizer *tok, const lp_dataset *tasks,
                       const rm_onpolicy_opts *o, char *err, size_t n) {
    memset(op, 0, sizeof *op);
    size_t P = lp_dataset_count(tasks) < o->prompts ? lp_dataset_count(tasks) : o->prompts;
    int S = o->per_prompt, n_ctx = lp_model_get_config(m)->n_ctx;
    int max_new = o->max_new < n_ctx - 1 ? o->max_new : n_ctx - 1;
    int max_prompt = n_ctx - max_new;
    op->n = P * (size_t)S;
    op->per_prompt = S;
    op->seq = calloc(op->n ? op->n : 1, sizeof *op->seq);
    op->len = calloc(op->n ? op->n : 1, sizeof *op->len);
    op->right = calloc(op->n ? op->n : 1, sizeof *op->right);
    op->family = calloc(op->n ? op->n : 1, sizeof *op->family);
    op->scores = calloc(op->n ? op->n : 1, sizeof *op->scores);
    op->answer = calloc(op->n ? op->n : 1, sizeof *op->answer);
    /* whole prompts a batch: rows of one prompt stay together */
    int per_batch = o->batch / S > 0 ? o->batch / S : 1, rows = per_batch * S;
    int32_t *prompts = malloc((size_t)rows * (size_t)max_prompt * sizeof *prompts);
    int32_t *lens = malloc((size_t)rows * sizeof *lens);
    int32_t *out = malloc((size_t)rows * (size_t)max_new * sizeof *out);
    int32_t *out_lens = malloc((size_t)rows * sizeof *out_lens);
    if (!op->seq || !op->len || !op->right || !op->family || !op->scores || !op->answer || !prompts ||
        !lens || !out || !out_lens) {
        free(prompts);
        free(lens);
        free(out);
        free(out_lens);
        return lp_errf(err, n, "reward on-policy: out of memory");
    }
    int32_t eot = lp_tokenizer_eot(tok);
    int rc = 0;
    for (size_t p0 = 0; p0 < P && !rc; p0 += (size_t)per_batch) {
        int np = (int)(P - p0 < (size_t)per_batch ? P - p0 : (size_t)per_batch), B = np * S, width = 1;
        for (int i = 0; i < np && !rc; i++) {
            const lp_record *r = lp_dataset_get(tasks, p0 + (size_t)i);
            lp_ids ids = {0};
            if (lp_tokenizer_encode(tok, r->prompt, strlen(r->prompt), 0, &ids, err, n)) {
                rc = -1;
                break;
            }
            /* the question is at the end of an over-long prompt */
            size_t skip = ids.n > (size_t)max_prompt ? ids.n - (size_t)max_prompt : 0;
            int L = (int)(ids.n - skip);
            for (int s = 0; s < S; s++) {
                lens[i * S + s] = L;
                memcpy(prompts + (size_t)(i * S + s) * max_prompt, ids.v + skip, (size_t)L * sizeof *ids.v);
            }
            if (L > width) width = L;
            lp_ids_free(&ids);
        }
        if (rc) break;
        /* lp_generate takes rows of the batch's own width; padding must be a valid id */
        for (int b = 0; b < B; b++) {
            if (b)
                memmove(prompts + (size_t)b * width, prompts + (size_t)b * max_prompt, (size_t)lens[b] * 4);
            for (int t = lens[b]; t < width; t++) prompts[(size_t)b * width + t] = eot;
        }
        lp_generate_opts g = {.sampling = {.temperature = o->temperature},
                              .seed = o->seed + p0,
                              .max_new = max_new,
                              .stop = &eot,
                              .n_stop = 1};
        if (lp_generate(m, prompts, lens, B, width, &g, out, out_lens)) {
            rc = lp_errf(err, n, "reward on-policy: generation: %s", lp_model_error(m));
            break;
        }
        for (int b = 0; b < B && !rc; b++) {
            size_t at = p0 * (size_t)S + (size_t)b;
            const lp_record *r = lp_dataset_get(tasks, p0 + (size_t)(b / S));
            char *answer = NULL;
            size_t alen = 0;
            lp_sft_tokens t;
            if (lp_tokenizer_decode(tok, out + (size_t)b * max_new, (size_t)out_lens[b], 1, &answer, &alen,
                                    err, n) ||
                lp_response_tokenize(tok, r->prompt, answer, 0, &t, err, n)) {
                free(answer);
                rc = -1;
                break;
            }
            /* what the reward model is shown: the prompt's end when it is over-long */
            size_t keep = t.n > (size_t)o->keep ? (size_t)o->keep : t.n;
            memmove(t.ids, t.ids + (t.n - keep), keep * sizeof *t.ids);
            op->seq[at] = t.ids;
            op->len[at] = (int32_t)keep;
            free(t.mask);
            op->right[at] = lp_eval_score(r, answer) > 0;
            op->n_right += op->right[at];
            op->family[at] = strdup(r->family ? r->family : "other");
            op->answer[at] = answer;
        }
    }
    free(prompts);
    free(lens);
    free(out);
    free(out_lens);
    if (rc) return -1;
    for (size_t p = 0; p < P; p++) {
        int r = 0;
        for (int s = 0; s < S; s++) r += op->right[p * (size_t)S + (size_t)s];
        op->prompts_mixed += r > 0 && r < S;
    }
    return 0;
}

int rm_onpolicy_rank(rm_onpolicy *op, lp_model *m, int batch, int32_t pad, double *acc, long *pairs,
                     char *err, size_t n) {
    *acc = NAN;
    *pairs = 0;
    if (!op->n) return 0;
    if (lp_score_sequences(m, (const int32_t *const *)op->seq, op->len, op->n, batch, pad, op->scores, err,
                           n))
        return -1;
    long good = 0, all = 0;
    int S = op->per_prompt;
    for (size_t p = 0; p < op->n / (size_t)S; p++)
        for (int i = 0; i < S; i++)
            for (int j = 0; j < S; j++) {
                size_t a = p * (size_t)S + (size_t)i, b = p * (size_t)S + (size_t)j;
                if (!op->right[a] || op->right[b]) continue;
                all++;
                good += op->scores[a] > op->scores[b];
            }
    *pairs = all;
    if (all) *acc = (double)good / (double)all;
    return 0;
}

int rm_onpolicy_misses(const rm_onpolicy *op, size_t *right, size_t *wrong, int max) {
    int k = 0, S = op->per_prompt;
    for (size_t p = 0; S > 0 && p < op->n / (size_t)S && k < max; p++)
        for (int i = 0; i < S && k < max; i++)
            for (int j = 0; j < S && k < max; j++) {
                size_t a = p * (size_t)S + (size_t)i, b = p * (size_t)S + (size_t)j;
                if (op->right[a] && !op->right[b] && !(op->scores[a] > op->scores[b])) {
                    right[k] = a;
                    wrong[k++] = b;
                    /* one pair a task: the examples should differ */
                    i = j = S;
                }
            }
    return k;
}
