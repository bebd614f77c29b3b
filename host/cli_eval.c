/* `llmpipe eval --model DIR --tasks FILE`: greedy answers and exact match per
 * task family, as a table and as a metrics JSON object. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/cli.h"
#include "llmpipe/ckpt.h"
#include "llmpipe/clock.h"
#include "llmpipe/eval.h"
#include "llmpipe/stage.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpipe eval --model DIR --tasks FILE [--tokenizer PATH]\n"
            "                    [--batch N] [--max-new N] [--limit N] "
            "[--threads N]\n"
            "                    [--device cpu|cuda] [--precision fp32|bf16]\n"
            "                    [--answers-out FILE] [--json]\n"
            "       llmpipe eval --score ANSWERS --tasks FILE [--json]\n"
            "DIR is a model folder (model.safetensors, config.json, "
            "tokenizer.json),\nsuch as a run's artifacts/NAME. FILE is a task "
            "JSONL (prompt, family,\nreference), e.g. eval.jsonl from `llmpipe "
            "data synth`. --score grades\nanswers made elsewhere: JSONL with "
            "`answer`, one line per task, in order.\n");
}

typedef struct answers_out {
    FILE *f;
} answers_out;

static void write_answer(void *user, const lp_record *task, const char *answer, int correct) {
    answers_out *o = user;
    if (o->f == NULL) return;
    /* an answer can end inside a character (byte-level tokens): JSON needs
     * valid UTF-8, so such bytes are written as U+FFFD */
    char *clean = lp_utf8_sanitize(answer, strlen(answer));
    json_t *j = json_pack("{s:s, s:s?, s:s?, s:s, s:b}", "prompt", task->prompt, "family", task->family,
                          "reference", task->reference, "answer", clean ? clean : "", "correct", correct > 0);
    char *line = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (line)
        fprintf(o->f, "%s\n", line);
    else
        fprintf(stderr, "llmpipe eval: the answer to the task of line %d could not be written\n", task->line);
    free(line);
    free(clean);
    json_decref(j);
}

static void print_json(const lp_eval_result *res, const char *model, const char *tasks, double seconds) {
    json_t *values = json_object();
    long n = 0;
    for (int i = 0; i < res->families; i++) {
        char key[80];
        snprintf(key, sizeof key, "exact_match/%s", res->name[i]);
        json_object_set_new(values, key, json_real(lp_eval_accuracy(res, i)));
        n += res->n[i];
    }
    json_object_set_new(values, "exact_match", json_real(n ? lp_eval_accuracy(res, -1) : 0.0));
    json_object_set_new(values, "n", json_integer(n));
    json_object_set_new(values, "seconds", json_real(seconds));
    json_t *j = json_pack("{s:s, s:s?, s:s, s:f, s:o}", "kind", "eval", "model", model, "tasks", tasks,
                          "time", (double)time(NULL), "values", values);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    printf("%s\n", s);
    free(s);
    json_decref(j);
}

/* Grades answers produced elsewhere, line by line against the tasks. */
static int score_file(const char *answers_path, const lp_dataset *tasks, const char *tasks_path,
                      lp_eval_result *res) {
    FILE *f = fopen(answers_path, "r");
    if (f == NULL) {
        fprintf(stderr, "llmpipe eval: %s: cannot open\n", answers_path);
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    size_t i = 0;
    int lineno = 0, rc = 0;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        if (line[strspn(line, " \t\r\n")] == '\0') continue;
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        const char *answer = j ? json_string_value(json_object_get(j, "answer")) : NULL;
        if (answer == NULL) {
            fprintf(stderr, "llmpipe eval: %s:%d:%d: %s\n", answers_path, lineno, j ? 1 : je.column,
                    j ? "expected an object with a string 'answer'" : je.text);
            json_decref(j);
            rc = 2;
            break;
        }
        if (i >= lp_dataset_count(tasks)) {
            fprintf(stderr,
                    "llmpipe eval: %s:%d: more answers than the %zu tasks "
                    "of %s\n",
                    answers_path, lineno, lp_dataset_count(tasks), tasks_path);
            json_decref(j);
            rc = 2;
            break;
        }
        const lp_record *t = lp_dataset_get(tasks, i++);
        int c = lp_eval_score(t, answer);
        json_decref(j);
        if (c < 0) {
            fprintf(stderr,
                    "llmpipe eval: %s:%d: task has neither a known "
                    "'family' nor a 'reference'\n",
                    tasks_path, t->line);
            rc = 2;
            break;
        }
        lp_eval_count(res, t->family, c);
    }
    free(line);
    fclose(f);
    if (rc == 0 && i != lp_dataset_count(tasks)) {
        fprintf(stderr, "llmpipe eval: %s: %zu answers for %zu tasks in %s\n", answers_path, i,
                lp_dataset_count(tasks), tasks_path);
        rc = 2;
    }
    return rc;
}

int lp_cli_eval(int argc, char **argv) {
    const char *model_dir = NULL, *tasks_path = NULL, *tok_path = NULL;
    const char *answers_out_path = NULL, *score_path = NULL;
    const char *precision = "fp32", *device = "cpu";
    int as_json = 0, threads = 0;
    lp_eval_opts opts = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--json") == 0) {
            as_json = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL || a[0] != '-') {
            fprintf(stderr, "llmpipe eval: %s '%s'\n",
                    v == NULL ? "missing value after" : "unexpected argument", a);
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--model") == 0)
            model_dir = v;
        else if (strcmp(a, "--tasks") == 0)
            tasks_path = v;
        else if (strcmp(a, "--tokenizer") == 0)
            tok_path = v;
        else if (strcmp(a, "--answers-out") == 0)
            answers_out_path = v;
        else if (strcmp(a, "--score") == 0)
            score_path = v;
        else if (strcmp(a, "--precision") == 0)
            precision = v;
        else if (strcmp(a, "--batch") == 0)
            opts.batch = atoi(v);
        else if (strcmp(a, "--max-new") == 0)
            opts.max_new = atoi(v);
        else if (strcmp(a, "--limit") == 0)
            opts.limit = (size_t)atol(v);
        else if (strcmp(a, "--threads") == 0)
            threads = atoi(v);
        else if (strcmp(a, "--device") == 0)
            device = v;
        else {
            fprintf(stderr, "llmpipe eval: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (tasks_path == NULL || (model_dir == NULL) == (score_path == NULL)) {
        usage(stderr);
        return 2;
    }
    if (strcmp(precision, "fp32") != 0 && strcmp(precision, "bf16") != 0) {
        fprintf(stderr,
                "llmpipe eval: --precision must be fp32 or bf16, not "
                "'%s'\n",
                precision);
        return 2;
    }
    char err[2048];
    lp_dataset *tasks = NULL;
    if (lp_dataset_load(&tasks, tasks_path, LP_DATA_PROMPTS, 0, err, sizeof err) != 0) {
        fprintf(stderr, "llmpipe eval: %s\n", err);
        return 2;
    }
    lp_eval_result res;
    memset(&res, 0, sizeof res);
    double t0 = lp_mono_s();
    int rc = 0;
    lpk_ctx *ctx = NULL;
    lp_model *model = NULL;
    lp_tokenizer *tok = NULL;
    answers_out out = {0};
    if (score_path) {
        rc = score_file(score_path, tasks, tasks_path, &res);
        goto report;
    }
    lp_model_config cfg;
    if (lp_model_folder_config(model_dir, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "llmpipe eval: %s\n", err);
        rc = 2;
        goto done;
    }
    char path[4096];
    if (tok_path == NULL) {
        snprintf(path, sizeof path, "%s/tokenizer.json", model_dir);
        tok_path = path;
    }
    if (lp_tokenizer_open(&tok, tok_path, err, sizeof err) != 0) {
        fprintf(stderr, "llmpipe eval: %s\n", err);
        rc = 2;
        goto done;
    }
    /* evaluation only decodes: a frozen model keeps no gradients */
    ctx = lp_kernel_ctx_open("eval", device, threads, precision, err, sizeof err);
    if (ctx) model = lp_model_create_frozen(&cfg, ctx, err, sizeof err);
    if (model == NULL || lp_model_import(model, model_dir, err, sizeof err) != 0) {
        fprintf(stderr, "llmpipe eval: %s\n", err);
        rc = 2;
        goto done;
    }
    if (answers_out_path) {
        out.f = fopen(answers_out_path, "w");
        if (out.f == NULL) {
            fprintf(stderr, "llmpipe eval: %s: cannot write\n", answers_out_path);
            rc = 2;
            goto done;
        }
    }
    if (lp_eval_run(model, tok, tasks, tasks_path, &opts, &res, write_answer, &out, err, sizeof err) != 0) {
        fprintf(stderr, "llmpipe eval: %s\n", err);
        rc = 1;
        goto done;
    }
report:
    if (rc == 0) {
        double secs = lp_mono_s() - t0;
        if (as_json)
            print_json(&res, model_dir, tasks_path, secs);
        else
            lp_eval_print(&res, stdout);
        if (res.truncated)
            fprintf(stderr,
                    "llmpipe eval: %ld prompts were cut from the left to "
                    "fit the context\n",
                    res.truncated);
    }
done:
    if (out.f) fclose(out.f);
    lp_model_destroy(model);
    lpk_ctx_destroy(ctx);
    lp_tokenizer_destroy(tok);
    lp_dataset_destroy(tasks);
    return rc;
}
