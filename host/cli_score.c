/* `llmpipe score`: a reward model's scores for responses to one prompt,
 * ranked, or the pairwise accuracy table of a preference (or ranked) file. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/cli.h"
#include "llmpipe/ckpt.h"
#include "llmpipe/data.h"
#include "llmpipe/reward.h"
#include "llmpipe/stage.h"

#define MAX_RESPONSES 256

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpipe score --model DIR (--prompt TEXT | --instruction TEXT [--input TEXT])\n"
            "                     --response TEXT [--response TEXT ...]\n"
            "       llmpipe score --model DIR --pairs FILE [--kind pref|ranked] [--limit N]\n"
            "                     [--scores-out FILE] [--json]\n"
            "       common: [--tokenizer PATH] [--batch N] [--threads N] [--device cpu|cuda]\n"
            "               [--precision fp32|bf16]\n"
            "DIR is a reward-model folder (GPT2ForSequenceClassification: score.weight), such as\n"
            "a run's artifacts/rm. --prompt is used as given (the prompts of `llmpipe data synth`\n"
            "files are already rendered); --instruction renders the Alpaca template. Each response\n"
            "is scored at the end-of-text closing prompt + response; the normalised score uses the\n"
            "folder's %s. --pairs prints accuracy per flaw and per family\n"
            "(`flaw`/`family` fields), --kind ranked scores every pair of each list.\n",
            LP_REWARD_NORM_FILE);
}

typedef struct scorer {
    lpk_ctx *ctx;
    lp_model *m;
    lp_tokenizer *tok;
    lp_reward_norm norm;
    int has_norm, batch;
    int32_t eot;
    long truncated;
} scorer;

static int open_scorer(scorer *s, const char *dir, const char *tok_path, const char *device, int threads,
                       const char *precision) {
    char err[2048], tp[4096];
    if (lp_stage_classify(dir) != LP_INPUT_REWARD_MODEL) {
        fprintf(stderr,
                "llmpipe score: %s: not a reward-model folder (config.json, model.safetensors with "
                "score.weight)\n",
                dir);
        return 2;
    }
    if (tok_path)
        snprintf(tp, sizeof tp, "%s", tok_path);
    else
        snprintf(tp, sizeof tp, "%s/tokenizer.json", dir);
    lp_model_config cfg;
    if (lp_tokenizer_open(&s->tok, tp, err, sizeof err) ||
        lp_model_folder_config(dir, &cfg, err, sizeof err)) {
        fprintf(stderr, "llmpipe score: %s\n", err);
        return 2;
    }
    if ((s->eot = lp_tokenizer_eot(s->tok)) < 0) {
        fprintf(stderr, "llmpipe score: %s: the tokenizer has no %s token\n", tp, LP_EOT_TOKEN);
        return 2;
    }
    cfg.scalar_head = 1;
    if (!(s->ctx = lp_kernel_ctx_open("llmpipe score", device, threads, precision, err, sizeof err)) ||
        !(s->m = lp_model_create_frozen(&cfg, s->ctx, err, sizeof err)) ||
        lp_model_import_ex(s->m, dir, NULL, err, sizeof err)) {
        fprintf(stderr, "llmpipe score: %s\n", err);
        return 1;
    }
    int rc = lp_reward_norm_load(dir, &s->norm, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "llmpipe score: %s\n", err);
        return 2;
    }
    s->has_norm = rc == 1;
    return 0;
}

static void close_scorer(scorer *s) {
    lp_model_destroy(s->m);
    lpk_ctx_destroy(s->ctx);
    lp_tokenizer_destroy(s->tok);
}

/* prompt + response + end-of-text; an over-long one keeps its end, which
 * holds the question and the answer. */
static int encode(scorer *s, const char *prompt, const char *response, int32_t **ids, int32_t *len) {
    char err[1024];
    lp_sft_tokens t;
    if (lp_response_tokenize(s->tok, prompt, response, 0, &t, err, sizeof err)) {
        fprintf(stderr, "llmpipe score: %s\n", err);
        return -1;
    }
    size_t n_ctx = (size_t)lp_model_get_config(s->m)->n_ctx, keep = t.n < n_ctx ? t.n : n_ctx;
    if (keep < t.n) s->truncated++;
    memmove(t.ids, t.ids + (t.n - keep), keep * sizeof *t.ids);
    free(t.mask);
    *ids = t.ids;
    *len = (int32_t)keep;
    return 0;
}

static int score_all(scorer *s, int32_t **seqs, const int32_t *lens, size_t n, float *out) {
    char err[2048];
    if (lp_score_sequences(s->m, (const int32_t *const *)seqs, lens, n, s->batch, s->eot, out, err,
                           sizeof err)) {
        fprintf(stderr, "llmpipe score: %s\n", err);
        return -1;
    }
    return 0;
}

static void print_json_string(const char *s) {
    json_t *j = json_string(s);
    char *t = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
    printf("%s", t ? t : "\"?\"");
    free(t);
    json_decref(j);
}

static int by_score_desc(const void *a, const void *b, void *sc) {
    const float *s = sc;
    int x = *(const int *)a, y = *(const int *)b;
    if (s[x] != s[y]) return s[x] > s[y] ? -1 : 1;
    return x - y;
}

/* insertion sort: a few responses, and qsort_r is not portable */
static void rank_order(int *idx, int n, const float *sc) {
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && by_score_desc(&idx[j], &idx[j - 1], (void *)sc) < 0; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
}

static int score_responses(scorer *s, const char *prompt, const char **resp, int n) {
    int32_t *seqs[MAX_RESPONSES], lens[MAX_RESPONSES];
    float sc[MAX_RESPONSES];
    int idx[MAX_RESPONSES], k = 0, rc = 0;
    for (; k < n && !rc; k++)
        if (encode(s, prompt, resp[k], &seqs[k], &lens[k])) rc = 2;
    if (!rc && score_all(s, seqs, lens, (size_t)n, sc)) rc = 1;
    if (!rc) {
        rank_order(idx, n, sc);
        printf("rank %10s %11s  response\n", "score", s->has_norm ? "normalised" : "");
        for (int r = 0; r < n; r++) {
            int i = idx[r];
            printf("%4d %10.4f ", r + 1, sc[i]);
            if (s->has_norm)
                printf("%11.4f  ", lp_reward_normalize(&s->norm, sc[i]));
            else
                printf("%11s  ", "");
            print_json_string(resp[i]);
            printf("\n");
        }
        if (!s->has_norm) fprintf(stderr, "llmpipe score: the model folder has no %s\n", LP_REWARD_NORM_FILE);
    }
    for (int i = 0; i < k; i++) free(seqs[i]);
    return rc;
}

static int score_pairs(scorer *s, const char *path, const char *kind, size_t limit, const char *scores_out,
                       int as_json) {
    char err[2048];
    lp_dataset *d = NULL;
    int ranked = kind && !strcmp(kind, "ranked");
    if (kind && !ranked && strcmp(kind, "pref")) {
        fprintf(stderr, "llmpipe score: --kind: expected pref or ranked, got '%s'\n", kind);
        return 2;
    }
    if (lp_dataset_load(&d, path, ranked ? LP_DATA_RANKED : LP_DATA_PREF, 0, err, sizeof err)) {
        /* without --kind, a ranked file is recognised too */
        char err2[2048];
        if (kind || lp_dataset_load(&d, path, LP_DATA_RANKED, 0, err2, sizeof err2)) {
            fprintf(stderr, "llmpipe score: %s\n", err);
            return 2;
        }
        ranked = 1;
    }
    lp_record_tags *fam = NULL, *flaw = NULL;
    if (lp_record_tags_load(&fam, path, "family", err, sizeof err) ||
        lp_record_tags_load(&flaw, path, "flaw", err, sizeof err)) {
        fprintf(stderr, "llmpipe score: %s\n", err);
        lp_dataset_destroy(d);
        lp_record_tags_destroy(fam);
        return 2;
    }
    size_t nrec = lp_dataset_count(d);
    if (limit && limit < nrec) nrec = limit;
    size_t nseq = 0;
    for (size_t i = 0; i < nrec; i++) nseq += ranked ? (size_t)lp_dataset_get(d, i)->k : 2;
    int32_t **seqs = calloc(nseq, sizeof *seqs), *lens = calloc(nseq, sizeof *lens);
    float *sc = calloc(nseq, sizeof *sc);
    int rc = !seqs || !lens || !sc ? 1 : 0;
    for (size_t i = 0, at = 0; i < nrec && !rc; i++) {
        const lp_record *r = lp_dataset_get(d, i);
        int k = ranked ? r->k : 2;
        for (int j = 0; j < k && !rc; j++, at++)
            if (encode(s, r->prompt,
                       ranked ? r->responses[j]
                       : j    ? r->rejected
                              : r->chosen,
                       &seqs[at], &lens[at]))
                rc = 2;
    }
    if (!rc && score_all(s, seqs, lens, nseq, sc)) rc = 1;
    FILE *out = NULL;
    if (!rc && scores_out && !(out = fopen(scores_out, "w"))) {
        fprintf(stderr, "llmpipe score: %s: cannot write\n", scores_out);
        rc = 2;
    }
    lp_pref_tally by_flaw, by_family;
    memset(&by_flaw, 0, sizeof by_flaw);
    memset(&by_family, 0, sizeof by_family);
    long ordered = 0;
    for (size_t i = 0, at = 0; i < nrec && !rc; i++) {
        const lp_record *r = lp_dataset_get(d, i);
        int k = ranked ? r->k : 2, all_in_order = 1;
        const char *fm = lp_record_tag(fam, i, r->line), *fl = lp_record_tag(flaw, i, r->line);
        for (int a = 0; a < k; a++)
            for (int b = a + 1; b < k; b++) {
                char grp[48];
                if (ranked)
                    snprintf(grp, sizeof grp, "rank%d>rank%d", a + 1, b + 1);
                else
                    snprintf(grp, sizeof grp, "%s", fl ? fl : "other");
                double margin = (double)sc[at + (size_t)a] - (double)sc[at + (size_t)b];
                lp_pref_tally_add(&by_flaw, grp, margin);
                lp_pref_tally_add(&by_family, fm, margin);
                all_in_order &= margin > 0;
            }
        ordered += all_in_order;
        if (out) {
            json_t *arr = json_array();
            for (int j = 0; j < k; j++) json_array_append_new(arr, json_real(sc[at + (size_t)j]));
            json_t *o = json_pack("{s:i, s:o}", "line", r->line, "scores", arr);
            char *t = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
            fprintf(out, "%s\n", t);
            free(t);
            json_decref(o);
        }
        at += (size_t)k;
    }
    if (out && fclose(out)) {
        fprintf(stderr, "llmpipe score: %s: write failed\n", scores_out);
        rc = 1;
    }
    if (!rc && as_json) {
        json_t *v = json_object();
        json_object_set_new(v, "accuracy", json_real(lp_pref_tally_accuracy(&by_flaw, -1)));
        json_object_set_new(v, "margin", json_real(lp_pref_tally_margin(&by_flaw, -1)));
        json_object_set_new(v, "pairs", json_integer(lp_pref_tally_count(&by_flaw, -1)));
        if (ranked) json_object_set_new(v, "ranked_order", json_real((double)ordered / (double)nrec));
        for (int g = 0; g < by_flaw.groups; g++) {
            char key[80];
            snprintf(key, sizeof key, "%s/%s", ranked ? "pair" : "flaw", by_flaw.name[g]);
            json_object_set_new(v, key, json_real(lp_pref_tally_accuracy(&by_flaw, g)));
        }
        for (int g = 0; g < by_family.groups; g++) {
            char key[80];
            snprintf(key, sizeof key, "family/%s", by_family.name[g]);
            json_object_set_new(v, key, json_real(lp_pref_tally_accuracy(&by_family, g)));
        }
        json_t *j = json_pack("{s:s, s:s, s:o}", "kind", "score", "pairs", path, "values", v);
        char *t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        printf("%s\n", t);
        free(t);
        json_decref(j);
    } else if (!rc) {
        lp_pref_tally_print(&by_flaw, ranked ? "pair" : "flaw", 1, stdout);
        printf("\n");
        lp_pref_tally_print(&by_family, "family", 0, stdout);
        if (ranked)
            printf("\nfully ordered lists: %ld of %zu (%.1f%%)\n", ordered, nrec, 100.0 * ordered / nrec);
    }
    if (s->truncated)
        fprintf(stderr, "llmpipe score: %ld sequences longer than the context kept their end\n",
                s->truncated);
    for (size_t i = 0; i < nseq && seqs; i++) free(seqs[i]);
    free(seqs);
    free(lens);
    free(sc);
    lp_dataset_destroy(d);
    lp_record_tags_destroy(fam);
    lp_record_tags_destroy(flaw);
    return rc;
}

int lp_cli_score(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *instruction = NULL, *input = "", *pairs = NULL, *kind = NULL;
    const char *tok = NULL, *device = "cpu", *precision = "fp32", *scores_out = NULL;
    const char *resp[MAX_RESPONSES];
    int n_resp = 0, threads = 0, batch = 32, as_json = 0;
    size_t limit = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--json")) {
            as_json = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v || a[0] != '-') {
            fprintf(stderr, "llmpipe score: %s '%s'\n", v ? "unexpected argument" : "missing value after", a);
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--model"))
            model = v;
        else if (!strcmp(a, "--prompt"))
            prompt = v;
        else if (!strcmp(a, "--instruction"))
            instruction = v;
        else if (!strcmp(a, "--input"))
            input = v;
        else if (!strcmp(a, "--response")) {
            if (n_resp == MAX_RESPONSES) {
                fprintf(stderr, "llmpipe score: at most %d --response\n", MAX_RESPONSES);
                return 2;
            }
            resp[n_resp++] = v;
        } else if (!strcmp(a, "--pairs"))
            pairs = v;
        else if (!strcmp(a, "--kind"))
            kind = v;
        else if (!strcmp(a, "--limit"))
            limit = (size_t)atol(v);
        else if (!strcmp(a, "--scores-out"))
            scores_out = v;
        else if (!strcmp(a, "--tokenizer"))
            tok = v;
        else if (!strcmp(a, "--batch"))
            batch = atoi(v);
        else if (!strcmp(a, "--threads"))
            threads = atoi(v);
        else if (!strcmp(a, "--device"))
            device = v;
        else if (!strcmp(a, "--precision"))
            precision = v;
        else {
            fprintf(stderr, "llmpipe score: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    int prompt_mode = prompt || instruction || n_resp;
    if (!model || (prompt_mode == (pairs != NULL)) ||
        (prompt_mode && (!(prompt || instruction) || !n_resp)) || (prompt && instruction)) {
        fprintf(stderr,
                "llmpipe score: give --model and either --prompt/--instruction with --response, or "
                "--pairs\n");
        usage(stderr);
        return 2;
    }
    if (batch < 1) {
        fprintf(stderr, "llmpipe score: --batch: expected >= 1, got %d\n", batch);
        return 2;
    }
    if (strcmp(precision, "fp32") && strcmp(precision, "bf16")) {
        fprintf(stderr, "llmpipe score: --precision: expected fp32 or bf16, got '%s'\n", precision);
        return 2;
    }
    scorer s;
    memset(&s, 0, sizeof s);
    s.batch = batch;
    int rc = open_scorer(&s, model, tok, device, threads, precision);
    if (!rc) {
        if (pairs)
            rc = score_pairs(&s, pairs, kind, limit, scores_out, as_json);
        else {
            char *rendered = instruction ? lp_render_prompt(lp_alpaca_template(), instruction, input) : NULL;
            if (instruction && !rendered) {
                fprintf(stderr, "llmpipe score: out of memory\n");
                rc = 1;
            } else
                rc = score_responses(&s, rendered ? rendered : prompt, resp, n_resp);
            free(rendered);
        }
    }
    close_scorer(&s);
    return rc;
}
