/* `llmpipe data synth|shard|check`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_text.h"
#include "llmpipe/data.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/synth.h"
#include "llmpipe/tokenizer.h"

static const char USAGE[] =
    "usage: llmpipe data synth --out DIR [--seed N] [--level 1|2|3] [--items MIN-MAX] [--max-value N]\n"
    "                          [--pool N] [--families F1,F2,...] [--sft N] [--pref N] [--ranked N]\n"
    "                          [--ppo N] [--eval N]\n"
    "       llmpipe data shard --tokenizer PATH --out DIR [--val-fraction F] [--doc-sep LINE]\n"
    "                          [--seed N] FILES...\n"
    "       llmpipe data check FILE --kind sft|pref|ranked|prompts [--skip-bad]\n"
    "synth writes DIR/{sft,pref,ranked,ppo,eval}.jsonl (defaults: seed 1, level 1, 20000 sft,\n"
    "2000 pref, 500 ranked, 500 ppo, 200 eval; families: all of sort, reverse, add, count,\n"
    "upper in _en and _zh). shard writes DIR/train.bin and DIR/val.bin (default\n"
    "--val-fraction 0.05; with --doc-sep, a line equal to LINE ends a document, else each\n"
    "file is one). check validates a record file and prints the record count.\n";

#define usage_error(...) lp_cli_usage_error("data", USAGE, __VA_ARGS__)

static int parse_num(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int ensure_dir(const char *d) {
    char err[512];
    if (lp_mkdir_p(d, err, sizeof err) == 0) return 0;
    fprintf(stderr, "llmpipe data: %s\n", err);
    return 1;
}

static int cmd_synth(int argc, char **argv) {
    lp_synth_opts o = {
        .seed = 1, .n_sft = 20000, .n_pref = 2000, .n_ranked = 500, .n_ppo = 500, .n_eval = 200};
    lp_synth_level knobs = {0};
    long long level = 1, v;
    const char *out = NULL;
    int fams[LP_SYNTH_FAMILIES], nf = 0;
    size_t *counts[] = {&o.n_sft, &o.n_pref, &o.n_ranked, &o.n_ppo, &o.n_eval};
    const char *count_names[] = {"--sft", "--pref", "--ranked", "--ppo", "--eval"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc, done = 0;
        for (int k = 0; k < 5 && !done; k++) {
            if (strcmp(a, count_names[k]) || !has) continue;
            if (parse_num(argv[++i], 0, 100000000, &v))
                return usage_error("expected a count in 0..100000000, got '%s'", argv[i]);
            *counts[k] = (size_t)v;
            done = 1;
        }
        if (done) continue;
        if (!strcmp(a, "--out") && has) {
            out = argv[++i];
        } else if (!strcmp(a, "--seed") && has) {
            if (parse_num(argv[++i], 0, INT64_MAX, &v))
                return usage_error("--seed: expected a non-negative integer, got '%s'", argv[i]);
            o.seed = (uint64_t)v;
        } else if (!strcmp(a, "--level") && has) {
            if (parse_num(argv[++i], 1, 3, &level))
                return usage_error("--level: expected 1, 2 or 3, got '%s'", argv[i]);
        } else if (!strcmp(a, "--items") && has) {
            int lo, hi, n = 0;
            if (sscanf(argv[++i], "%d-%d%n", &lo, &hi, &n) != 2 || argv[i][n] || lo < 1 || hi < lo || hi > 64)
                return usage_error("--items: expected MIN-MAX with 1 <= MIN <= MAX <= 64, got '%s'", argv[i]);
            knobs.min_items = lo;
            knobs.max_items = hi;
        } else if (!strcmp(a, "--max-value") && has) {
            if (parse_num(argv[++i], 1, 100000000, &v))
                return usage_error("--max-value: expected 1..100000000, got '%s'", argv[i]);
            knobs.max_value = (int)v;
        } else if (!strcmp(a, "--pool") && has) {
            if (parse_num(argv[++i], 1, 64, &v))
                return usage_error("--pool: expected 1..64 words, got '%s'", argv[i]);
            knobs.pool = (int)v;
        } else if (!strcmp(a, "--families") && has) {
            char *list = strdup(argv[++i]), *save = NULL;
            if (!list) return 1;
            for (char *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
                int idx = lp_synth_family_find(f);
                if (idx < 0 || nf == LP_SYNTH_FAMILIES) {
                    int rc = usage_error(
                        "--families: unknown or repeated family '%s' (sort_en, sort_zh, reverse_en, "
                        "reverse_zh, add_en, add_zh, count_en, count_zh, upper_en, upper_zh)",
                        f);
                    free(list);
                    return rc;
                }
                fams[nf++] = idx;
            }
            free(list);
        } else {
            return usage_error("synth: unknown option or missing value: %s", a);
        }
    }
    if (!out) return usage_error("synth: %s", "--out DIR is required");
    o.level = lp_synth_preset((int)level);
    if (knobs.min_items) {
        o.level.min_items = knobs.min_items;
        o.level.max_items = knobs.max_items;
    }
    if (knobs.max_value) o.level.max_value = knobs.max_value;
    if (knobs.pool) o.level.pool = knobs.pool;
    o.families = nf ? fams : NULL;
    o.nfamilies = nf;
    if (ensure_dir(out)) return 1;
    char err[512];
    if (lp_synth_write(out, &o, err, sizeof err)) {
        fprintf(stderr, "llmpipe data: %s\n", err);
        return strstr(err, "too few distinct") ? 2 : 1;
    }
    fprintf(stderr,
            "data synth: %zu sft, %zu pref, %zu ranked, %zu ppo, %zu eval -> %s (seed %llu, items %d-%d, max "
            "value %d, pool %d)\n",
            o.n_sft, o.n_pref, o.n_ranked, o.n_ppo, o.n_eval, out, (unsigned long long)o.seed,
            o.level.min_items, o.level.max_items, o.level.max_value, o.level.pool);
    return 0;
}

static int cmd_shard(int argc, char **argv) {
    const char *tokp = NULL, *out = NULL;
    lp_shard_build_opts o = {.val_fraction = 0.05, .seed = 1};
    const char **files = calloc((size_t)argc, sizeof *files);
    int nfiles = 0;
    long long v;
    if (!files) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--tokenizer") && has) {
            tokp = argv[++i];
        } else if (!strcmp(a, "--out") && has) {
            out = argv[++i];
        } else if (!strcmp(a, "--doc-sep") && has) {
            o.doc_sep_line = argv[++i];
        } else if (!strcmp(a, "--seed") && has) {
            if (parse_num(argv[++i], 0, INT64_MAX, &v)) {
                free(files);
                return usage_error("--seed: expected a non-negative integer, got '%s'", argv[i]);
            }
            o.seed = (uint64_t)v;
        } else if (!strcmp(a, "--val-fraction") && has) {
            char *end;
            o.val_fraction = strtod(argv[++i], &end);
            if (*end || end == argv[i] || !(o.val_fraction >= 0 && o.val_fraction < 1)) {
                free(files);
                return usage_error("--val-fraction: expected a number in [0, 1), got '%s'", argv[i]);
            }
        } else if (a[0] == '-' && a[1]) {
            free(files);
            return usage_error("shard: unknown option or missing value: %s", a);
        } else {
            files[nfiles++] = a;
        }
    }
    if (!tokp || !out || !nfiles) {
        free(files);
        return usage_error("shard: %s", "--tokenizer, --out and at least one FILE are required");
    }
    char err[512];
    lp_tokenizer *t;
    int rc = 0;
    if (lp_tokenizer_open(&t, tokp, err, sizeof err)) {
        fprintf(stderr, "llmpipe data: %s\n", err);
        free(files);
        return 2;
    }
    lp_shard_build_stats st;
    if (ensure_dir(out))
        rc = 1;
    else if (lp_shard_build(t, files, nfiles, out, &o, &st, err, sizeof err)) {
        fprintf(stderr, "llmpipe data: %s\n", err);
        rc = 1;
    } else {
        printf(
            "data shard: %llu bytes -> train %llu tokens (%llu documents), val %llu tokens (%llu documents), "
            "%.3f bytes/token -> %s/{train,val}.bin\n",
            (unsigned long long)st.bytes, (unsigned long long)st.tokens[0], (unsigned long long)st.docs[0],
            (unsigned long long)st.tokens[1], (unsigned long long)st.docs[1],
            st.tokens[0] + st.tokens[1] ? (double)st.bytes / (double)(st.tokens[0] + st.tokens[1]) : 0.0,
            out);
    }
    lp_tokenizer_destroy(t);
    free(files);
    return rc;
}

static int cmd_check(int argc, char **argv) {
    const char *file = NULL, *kindname = NULL;
    int skip = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--kind") && i + 1 < argc)
            kindname = argv[++i];
        else if (!strcmp(argv[i], "--skip-bad"))
            skip = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return usage_error("check: unknown option or missing value: %s", argv[i]);
        else if (file)
            return usage_error("check: one FILE only (got also '%s')", argv[i]);
        else
            file = argv[i];
    }
    lp_data_kind kind;
    if (!file || !kindname) return usage_error("check: %s", "FILE and --kind are required");
    if (lp_data_kind_parse(kindname, &kind))
        return usage_error("--kind: expected sft, pref, ranked or prompts, got '%s'", kindname);
    lp_dataset *d;
    char err[600];
    if (lp_dataset_load(&d, file, kind, skip, err, sizeof err)) {
        fprintf(stderr, "llmpipe data: %s\n", err);
        return 2;
    }
    /* prompts that name a synthetic family: their reference must pass its checker */
    size_t bad_refs = 0;
    for (size_t i = 0; kind == LP_DATA_PROMPTS && i < lp_dataset_count(d); i++) {
        const lp_record *r = lp_dataset_get(d, i);
        if (!r->family || !r->reference || lp_synth_family_find(r->family) < 0) continue;
        if (lp_synth_check(r->family, r->prompt, r->reference) != 1) {
            if (!bad_refs)
                fprintf(stderr, "llmpipe data: %s:%d:1: reference fails the %s checker\n", file, r->line,
                        r->family);
            bad_refs++;
        }
    }
    printf("%s: %zu %s records", file, lp_dataset_count(d), kindname);
    if (lp_dataset_skipped(d))
        printf(", %zu skipped (first: %s)", lp_dataset_skipped(d), lp_dataset_first_skip(d));
    if (bad_refs) printf(", %zu references fail their checker", bad_refs);
    printf("\n");
    lp_dataset_destroy(d);
    return bad_refs ? 2 : 0;
}

int lp_cli_data(int argc, char **argv) {
    int help = lp_cli_usage(argc, argv, USAGE);
    if (help >= 0) return help;
    if (!strcmp(argv[1], "synth")) return cmd_synth(argc - 1, argv + 1);
    if (!strcmp(argv[1], "shard")) return cmd_shard(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check")) return cmd_check(argc - 1, argv + 1);
    return usage_error("unknown subcommand '%s'", argv[1]);
}
