/* `llmpipe tokenizer train|encode|decode|info`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_text.h"
#include "llmpipe/clock.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/tokenizer.h"

static const char USAGE[] =
    "usage: llmpipe tokenizer train --vocab-size N --out tokenizer.json [--min-frequency N]\n"
    "                               [--special TOKEN]... [--gpt2-out DIR] [--quiet] FILES...\n"
    "       llmpipe tokenizer encode --tokenizer PATH [--no-special] [--binary] [--count] [--out FILE] "
    "[INPUT]\n"
    "       llmpipe tokenizer decode --tokenizer PATH [--skip-special] [--binary] [--out FILE] [INPUT]\n"
    "       llmpipe tokenizer info --tokenizer PATH\n"
    "PATH is a tokenizer.json or a folder with tokenizer.json or vocab.json + merges.txt.\n"
    "encode reads INPUT (default stdin) as raw bytes and writes ids separated by spaces,\n"
    "or int32 little-endian with --binary; decode reads that back. --count prints only\n"
    "the number of tokens and bytes.\n";

#define usage_error(...) lp_cli_usage_error("tokenizer", USAGE, __VA_ARGS__)

/* Reads a whole stream (stdin or a file) into memory. */
static int slurp(const char *path, char **buf, size_t *len) {
    FILE *f = path ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "llmpipe tokenizer: %s: cannot open: %s\n", path, strerror(errno));
        return 2;
    }
    char err[512];
    char *b = lp_read_stream(f, path ? path : "stdin", len, err, sizeof err);
    if (path) fclose(f);
    if (!b) {
        fprintf(stderr, "llmpipe tokenizer: %s\n", err);
        return 1;
    }
    *buf = b;
    return 0;
}

static int parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int cmd_train(int argc, char **argv) {
    long vocab = 0, minf = 2;
    const char *out = NULL, *gpt2 = NULL;
    const char **special = calloc((size_t)argc, sizeof *special);
    const char **files = calloc((size_t)argc, sizeof *files);
    int nspecial = 0, nfiles = 0, quiet = 0, rc = 2;
    if (!special || !files) {
        rc = 1;
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--vocab-size") && has) {
            if (parse_int(argv[++i], 257, 1 << 24, &vocab)) {
                rc = usage_error("--vocab-size: expected an integer in 257..16777216, got '%s'", argv[i]);
                goto out;
            }
        } else if (!strcmp(a, "--min-frequency") && has) {
            if (parse_int(argv[++i], 1, 1L << 40, &minf)) {
                rc = usage_error("--min-frequency: expected a positive integer, got '%s'", argv[i]);
                goto out;
            }
        } else if (!strcmp(a, "--out") && has) {
            out = argv[++i];
        } else if (!strcmp(a, "--gpt2-out") && has) {
            gpt2 = argv[++i];
        } else if (!strcmp(a, "--special") && has) {
            special[nspecial++] = argv[++i];
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            rc = usage_error("train: unknown option or missing value: %s", a);
            goto out;
        } else {
            files[nfiles++] = a;
        }
    }
    if (!vocab || !out || !nfiles) {
        rc = usage_error("train: %s", "--vocab-size, --out and at least one FILE are required");
        goto out;
    }
    lp_tok_train_opts o = {.vocab_size = (int)vocab,
                           .min_frequency = (int)minf,
                           .special = special,
                           .n_special = nspecial,
                           .verbose = !quiet};
    char err[512];
    lp_tokenizer *t;
    double t0 = lp_mono_s();
    if (lp_tokenizer_train(&t, files, nfiles, &o, err, sizeof err)) {
        fprintf(stderr, "llmpipe tokenizer: %s\n", err);
        rc = strstr(err, "out of memory") ? 1 : 2;
        goto out;
    }
    double dt = lp_mono_s() - t0;
    rc = 0;
    if (lp_tokenizer_save(t, out, err, sizeof err)) rc = 1;
    if (!rc && gpt2) {
        size_t n = strlen(gpt2) + 16;
        char *v = malloc(n), *m = malloc(n);
        if (!v || !m) {
            snprintf(err, sizeof err, "out of memory");
            rc = 1;
        } else {
            snprintf(v, n, "%s/vocab.json", gpt2);
            snprintf(m, n, "%s/merges.txt", gpt2);
            if (lp_tokenizer_save_gpt2(t, v, m, err, sizeof err)) rc = 1;
        }
        free(v);
        free(m);
    }
    if (rc)
        fprintf(stderr, "llmpipe tokenizer: %s\n", err);
    else if (!quiet)
        fprintf(stderr, "tokenizer train: vocabulary %d trained in %.2f s -> %s\n",
                lp_tokenizer_vocab_size(t), dt, out);
    lp_tokenizer_destroy(t);
out:
    free(special);
    free(files);
    return rc;
}

static int common_opts(int argc, char **argv, const char **tok, const char **out, const char **in,
                       int *binary, int *flag, const char *flag_name, int *count) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--tokenizer") && has)
            *tok = argv[++i];
        else if (!strcmp(a, "--out") && has)
            *out = argv[++i];
        else if (!strcmp(a, "--binary"))
            *binary = 1;
        else if (flag_name && !strcmp(a, flag_name))
            *flag = 1;
        else if (count && !strcmp(a, "--count"))
            *count = 1;
        else if (a[0] == '-' && a[1])
            return usage_error("unknown option or missing value: %s", a);
        else if (*in)
            return usage_error("one INPUT at most (got also '%s')", a);
        else
            *in = a;
    }
    if (!*tok) return usage_error("%s", "--tokenizer PATH is required");
    return 0;
}

static int open_tok(const char *path, lp_tokenizer **t) {
    char err[512];
    if (lp_tokenizer_open(t, path, err, sizeof err)) {
        fprintf(stderr, "llmpipe tokenizer: %s\n", err);
        return 2;
    }
    return 0;
}

static FILE *open_out(const char *out) {
    FILE *f = out ? fopen(out, "wb") : stdout;
    if (!f) fprintf(stderr, "llmpipe tokenizer: %s: cannot create: %s\n", out, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *out) {
    int bad = ferror(f);
    if (out)
        bad |= fclose(f) != 0;
    else
        bad |= fflush(f) != 0;
    if (bad) fprintf(stderr, "llmpipe tokenizer: %s: write failed\n", out ? out : "stdout");
    return bad ? 1 : 0;
}

static int cmd_encode(int argc, char **argv) {
    const char *tokp = NULL, *out = NULL, *in = NULL;
    int binary = 0, nospecial = 0, count = 0;
    int rc = common_opts(argc, argv, &tokp, &out, &in, &binary, &nospecial, "--no-special", &count);
    if (rc) return rc;
    lp_tokenizer *t;
    if ((rc = open_tok(tokp, &t))) return rc;
    char *text = NULL, err[512];
    size_t len;
    lp_ids ids = {0};
    if ((rc = slurp(in, &text, &len))) goto done;
    double t0 = lp_mono_s();
    if (lp_tokenizer_encode(t, text, len, !nospecial, &ids, err, sizeof err)) {
        fprintf(stderr, "llmpipe tokenizer: %s\n", err);
        rc = 1;
        goto done;
    }
    double dt = lp_mono_s() - t0;
    FILE *f = open_out(out);
    if (!f) {
        rc = 1;
        goto done;
    }
    if (count) {
        fprintf(f, "%zu tokens, %zu bytes, %.3f bytes/token, %.2f MB/s\n", ids.n, len,
                ids.n ? (double)len / (double)ids.n : 0.0, dt > 0 ? (double)len / dt / 1e6 : 0.0);
    } else if (binary) {
        fwrite(ids.v, sizeof(int32_t), ids.n, f);
    } else {
        for (size_t i = 0; i < ids.n; i++) fprintf(f, i ? " %d" : "%d", ids.v[i]);
        fputc('\n', f);
    }
    rc = close_out(f, out);
done:
    free(text);
    lp_ids_free(&ids);
    lp_tokenizer_destroy(t);
    return rc;
}

static int cmd_decode(int argc, char **argv) {
    const char *tokp = NULL, *out = NULL, *in = NULL;
    int binary = 0, skip = 0;
    int rc = common_opts(argc, argv, &tokp, &out, &in, &binary, &skip, "--skip-special", NULL);
    if (rc) return rc;
    lp_tokenizer *t;
    if ((rc = open_tok(tokp, &t))) return rc;
    char *raw = NULL, *text = NULL, err[512];
    size_t len, tlen;
    lp_ids ids = {0};
    if ((rc = slurp(in, &raw, &len))) goto done;
    if (binary) {
        if (len % 4) {
            fprintf(stderr, "llmpipe tokenizer: %s: %zu bytes is not a whole number of int32 ids\n",
                    in ? in : "stdin", len);
            rc = 2;
            goto done;
        }
        for (size_t i = 0; i < len; i += 4) {
            int32_t v;
            memcpy(&v, raw + i, 4);
            if (lp_ids_push(&ids, v)) {
                rc = 1;
                goto done;
            }
        }
    } else {
        char *p = raw;
        for (;;) {
            while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ',') p++;
            if (!*p) break;
            char *end;
            errno = 0;
            long v = strtol(p, &end, 10);
            if (end == p || errno || v < 0 || v > INT32_MAX) {
                fprintf(stderr, "llmpipe tokenizer: %s: byte %zu: expected a token id, got '%.20s'\n",
                        in ? in : "stdin", (size_t)(p - raw), p);
                rc = 2;
                goto done;
            }
            if (lp_ids_push(&ids, (int32_t)v)) {
                rc = 1;
                goto done;
            }
            p = end;
        }
    }
    if (lp_tokenizer_decode(t, ids.v, ids.n, skip, &text, &tlen, err, sizeof err)) {
        fprintf(stderr, "llmpipe tokenizer: %s\n", err);
        rc = 2;
        goto done;
    }
    FILE *f = open_out(out);
    if (!f) {
        rc = 1;
        goto done;
    }
    fwrite(text, 1, tlen, f);
    rc = close_out(f, out);
done:
    free(raw);
    free(text);
    lp_ids_free(&ids);
    lp_tokenizer_destroy(t);
    return rc;
}

static int cmd_info(int argc, char **argv) {
    const char *tokp = NULL, *out = NULL, *in = NULL;
    int binary = 0;
    int rc = common_opts(argc, argv, &tokp, &out, &in, &binary, NULL, NULL, NULL);
    if (rc) return rc;
    lp_tokenizer *t;
    if ((rc = open_tok(tokp, &t))) return rc;
    int n = lp_tokenizer_vocab_size(t), ns = 0;
    for (int i = 0; i < n; i++) ns += lp_tokenizer_is_special(t, i);
    printf("vocabulary %d (special %d), <|endoftext|> id %d\n", n, ns, lp_tokenizer_eot(t));
    for (int i = 0; i < n; i++) {
        if (!lp_tokenizer_is_special(t, i)) continue;
        size_t l;
        const char *b = lp_tokenizer_token_bytes(t, i, &l);
        printf("special %d: %.*s\n", i, (int)l, b);
    }
    lp_tokenizer_destroy(t);
    return 0;
}

int lp_cli_tokenizer(int argc, char **argv) {
    int help = lp_cli_usage(argc, argv, USAGE);
    if (help >= 0) return help;
    const char *sub = argv[1];
    if (!strcmp(sub, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(sub, "encode")) return cmd_encode(argc - 1, argv + 1);
    if (!strcmp(sub, "decode")) return cmd_decode(argc - 1, argv + 1);
    if (!strcmp(sub, "info")) return cmd_info(argc - 1, argv + 1);
    return usage_error("unknown subcommand '%s'", sub);
}
