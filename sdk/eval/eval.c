#include "llmpipe/eval.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/synth.h"

/* Exact match ignores surrounding white space only: an answer with trailing
 * chatter is wrong, as the synthetic checkers also rule. */
static int trimmed_equal(const char *a, const char *b) {
    while (isspace((unsigned char)*a)) a++;
    while (isspace((unsigned char)*b)) b++;
    size_t la = strlen(a), lb = strlen(b);
    while (la && isspace((unsigned char)a[la - 1])) la--;
    while (lb && isspace((unsigned char)b[lb - 1])) lb--;
    return la == lb && memcmp(a, b, la) == 0;
}

int lp_eval_score(const lp_record *task, const char *answer) {
    if (task->family && lp_synth_family_find(task->family) >= 0) {
        int c = lp_synth_check(task->family, task->prompt, answer);
        if (c >= 0) return c > 0;
    }
    if (task->reference) return trimmed_equal(task->reference, answer);
    return -1;
}

void lp_eval_count(lp_eval_result *res, const char *family, int correct) {
    const char *name = family && family[0] ? family : "other";
    int i = 0;
    while (i < res->families && strcmp(res->name[i], name) != 0) i++;
    if (i == res->families) {
        if (res->families == LP_EVAL_MAX_FAMILIES)
            i = res->families - 1;
        else
            snprintf(res->name[res->families++], sizeof res->name[0], "%s", name);
    }
    res->n[i]++;
    if (correct > 0) res->correct[i]++;
}

double lp_eval_accuracy(const lp_eval_result *res, int family) {
    long n = 0, c = 0;
    for (int i = 0; i < res->families; i++) {
        if (family >= 0 && i != family) continue;
        n += res->n[i];
        c += res->correct[i];
    }
    return n ? (double)c / (double)n : -1.0;
}

void lp_eval_print(const lp_eval_result *res, FILE *f) {
    fprintf(f, "%-16s %6s %8s %9s\n", "family", "n", "correct", "accuracy");
    long n = 0, c = 0;
    for (int i = 0; i < res->families; i++) {
        fprintf(f, "%-16s %6ld %8ld %8.1f%%\n", res->name[i], res->n[i], res->correct[i],
                100.0 * lp_eval_accuracy(res, i));
        n += res->n[i];
        c += res->correct[i];
    }
    fprintf(f, "%-16s %6ld %8ld %8.1f%%\n", "total", n, c, n ? 100.0 * (double)c / (double)n : 0.0);
}

int lp_eval_run(lp_model *m, lp_tokenizer *tok, const lp_dataset *tasks, const char *tasks_path,
                const lp_eval_opts *opts, lp_eval_result *res, lp_eval_answer_fn fn, void *user, char *err,
                size_t errsz) {
    int batch = opts && opts->batch > 0 ? opts->batch : 16;
    int max_new = opts && opts->max_new > 0 ? opts->max_new : 64;
    size_t count = lp_dataset_count(tasks);
    if (opts && opts->limit && opts->limit < count) count = opts->limit;
    const lp_model_config *cfg = lp_model_get_config(m);
    if (max_new >= cfg->n_ctx) {
        snprintf(err, errsz,
                 "max_new %d leaves no room for a prompt in the "
                 "model's context of %d",
                 max_new, cfg->n_ctx);
        return -1;
    }
    int max_prompt = cfg->n_ctx - max_new;
    for (size_t i = 0; i < count; i++) {
        const lp_record *r = lp_dataset_get(tasks, i);
        if ((r->family == NULL || lp_synth_family_find(r->family) < 0) && r->reference == NULL) {
            snprintf(err, errsz,
                     "%s:%d: task has neither a known 'family' nor a "
                     "'reference' to compare with",
                     tasks_path, r->line);
            return -1;
        }
    }
    int32_t eot = lp_tokenizer_eot(tok);
    int32_t *prompts = malloc(sizeof *prompts * (size_t)batch * max_prompt);
    int32_t *lens = malloc(sizeof *lens * (size_t)batch);
    int32_t *out = malloc(sizeof *out * (size_t)batch * max_new);
    int32_t *out_lens = malloc(sizeof *out_lens * (size_t)batch);
    int rc = 0;
    for (size_t start = 0; start < count && rc == 0; start += (size_t)batch) {
        int B = (int)(count - start < (size_t)batch ? count - start : (size_t)batch);
        int longest = 1;
        for (int b = 0; b < B && rc == 0; b++) {
            const lp_record *r = lp_dataset_get(tasks, start + (size_t)b);
            lp_ids ids = {0};
            if (lp_tokenizer_encode(tok, r->prompt, strlen(r->prompt), 0, &ids, err, errsz) != 0) {
                rc = -1;
                break;
            }
            /* Keep the end of an over-long prompt: the question is at its end. */
            size_t skip = ids.n > (size_t)max_prompt ? ids.n - (size_t)max_prompt : 0;
            if (skip) res->truncated++;
            lens[b] = (int32_t)(ids.n - skip);
            if (lens[b] == 0) {
                ids.n = 0;
                lens[b] = 1;
                lp_ids_push(&ids, eot);
            }
            memcpy(prompts + (size_t)b * max_prompt, ids.v + skip, sizeof *ids.v * (size_t)lens[b]);
            if (lens[b] > longest) longest = lens[b];
            lp_ids_free(&ids);
        }
        if (rc) break;
        /* lp_generate wants [B, max_prompt] rows of the batch's own width. */
        if (longest < max_prompt)
            for (int b = 1; b < B; b++)
                memmove(prompts + (size_t)b * longest, prompts + (size_t)b * max_prompt,
                        sizeof *prompts * (size_t)lens[b]);
        /* Padding is never attended to, but it is embedded: keep it a valid id. */
        for (int b = 0; b < B; b++)
            for (int t = lens[b]; t < longest; t++) prompts[(size_t)b * longest + t] = eot;
        lp_generate_opts g = {
            .sampling = {.temperature = 0}, .seed = 0, .max_new = max_new, .stop = &eot, .n_stop = 1};
        if (lp_generate(m, prompts, lens, B, longest, &g, out, out_lens) != 0) {
            snprintf(err, errsz, "generation failed: %s", lp_model_error(m));
            rc = -1;
            break;
        }
        for (int b = 0; b < B; b++) {
            const lp_record *r = lp_dataset_get(tasks, start + (size_t)b);
            char *answer = NULL;
            size_t alen = 0;
            if (lp_tokenizer_decode(tok, out + (size_t)b * max_new, (size_t)out_lens[b], 1, &answer, &alen,
                                    err, errsz) != 0) {
                rc = -1;
                break;
            }
            int correct = lp_eval_score(r, answer);
            lp_eval_count(res, r->family, correct);
            if (fn) fn(user, r, answer, correct);
            free(answer);
        }
    }
    free(prompts);
    free(lens);
    free(out);
    free(out_lens);
    return rc;
}
