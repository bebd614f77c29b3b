/* Held-out exact match of a stage's model, published as metrics, with a
 * few answers in the log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/clock.h"
#include "stage_internal.h"

typedef struct sampler_log {
    const lp_host_services *h;
    int left;
} sampler_log;

/* The task part of a rendered prompt: its lines after "### Instruction:"
 * up to "### Response:", section headers left out, joined by " | ". */
static void task_text(const char *prompt, char *out, size_t n) {
    const char *q = strstr(prompt, "### Instruction:\n");
    q = q ? q + 17 : prompt;
    size_t k = 0;
    out[0] = 0;
    while (*q && strncmp(q, "### Response:", 13)) {
        size_t len = strcspn(q, "\n");
        if (len && strncmp(q, "### ", 4)) {
            k += (size_t)snprintf(out + k, n - k, "%s%.*s", k ? " | " : "", (int)len, q);
            if (k >= n) {
                out[n - 1] = 0;
                return;
            }
        }
        q += len + (q[len] == '\n');
    }
}

static void log_sample(void *user, const lp_record *task, const char *answer, int correct) {
    sampler_log *sl = user;
    if (sl->left <= 0) return;
    sl->left--;
    char q[512];
    task_text(task->prompt, q, sizeof q);
    char *clean = lp_utf8_sanitize(answer, strlen(answer));
    lp_stage_logf(sl->h, LP_LOG_INFO, "sample [%s] %s -> \"%s\" (%s)", task->family ? task->family : "other",
                  q, clean ? clean : answer, correct > 0 ? "right" : "wrong");
    free(clean);
}

int lp_stage_exact_match(const lp_host_services *h, lp_model *m, lp_tokenizer *tok, const lp_dataset *tasks,
                         const char *tasks_path, const lp_eval_opts *opts, int samples, int64_t step,
                         lp_eval_result *res, char *err, size_t errsz) {
    memset(res, 0, sizeof *res);
    sampler_log sl = {h, samples};
    double t0 = lp_mono_s();
    if (lp_eval_run(m, tok, tasks, tasks_path, opts, res, log_sample, &sl, err, errsz)) return -1;
    lp_metric mt[LP_EVAL_MAX_FAMILIES + 1];
    char names[LP_EVAL_MAX_FAMILIES][64];
    size_t k = 0;
    long total = 0;
    mt[k++] = (lp_metric){"exact_match", lp_eval_accuracy(res, -1)};
    for (int i = 0; i < res->families; i++) {
        snprintf(names[i], sizeof names[i], "exact_match/%s", res->name[i]);
        mt[k++] = (lp_metric){names[i], lp_eval_accuracy(res, i)};
        total += res->n[i];
    }
    h->emit_metrics(h->host, step, mt, k);
    lp_stage_logf(h, LP_LOG_INFO, "step %lld: exact match %.1f%% on %ld held-out tasks (%.1f s)",
                  (long long)step, 100.0 * lp_eval_accuracy(res, -1), total, lp_mono_s() - t0);
    return 0;
}
