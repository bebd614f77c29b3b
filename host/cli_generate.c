/* `llmpipe generate`: one prompt, or one instruction in the Alpaca
 * template, answered by a model folder, printed token by token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/cli.h"
#include "host/gen_stream.h"
#include "host/util.h"
#include "llmpipe/data.h"

#define WHO "llmpipe generate"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpipe generate --model DIR (--prompt TEXT | --instruction TEXT [--input TEXT])\n"
            "                        [--temperature T] [--top-k K] [--top-p P] [--max-new-tokens N]\n"
            "                        [--seed S] [--n N] [--device D] [--threads N] [--precision P]\n"
            "                        [--stats]\n"
            "Prints the model's continuation as it is generated, until end-of-text, the\n"
            "token budget or the end of the context window. --instruction (with --input)\n"
            "fills the Alpaca prompt template an SFT model was trained with; --prompt is\n"
            "given to the model as it is (\"\" starts from end-of-text alone). With --n N,\n"
            "N samples are drawn together and printed one after another, each under a\n"
            "line \"--- sample I/N ---\". Exit status 0, 1 when generation fails, 2 for\n"
            "bad usage or a model folder that does not load, 130 after Ctrl-C.\n\n");
    lp_gen_opts_help(f, 1);
}

/* Rows are generated together but printed one after another: the row on
 * screen streams, the later ones wait in their buffers until their turn. */
typedef struct printer {
    lp_tokenizer *tok;
    int rows, shown;
    char **text;
    size_t *len, *cap;
    int *done;
    lp_text_out out;
} printer;

static void header(printer *p, int row) {
    if (p->rows > 1) fprintf(p->out.f, "--- sample %d/%d ---\n", row + 1, p->rows);
}

static void advance(printer *p) {
    while (p->shown < p->rows && p->done[p->shown]) {
        lp_text_out_flush(&p->out);
        fputc('\n', p->out.f);
        if (++p->shown == p->rows) break;
        header(p, p->shown);
        lp_text_out_put(&p->out, p->text[p->shown], p->len[p->shown]);
    }
    fflush(p->out.f);
}

static void on_token(void *user, int row, int32_t token, int last) {
    printer *p = user;
    size_t n = 0;
    const char *bytes = NULL;
    /* end-of-text and other special tokens are control, not text */
    if (!lp_tokenizer_is_special(p->tok, token)) bytes = lp_tokenizer_token_bytes(p->tok, token, &n);
    if (bytes && n) {
        if (row == p->shown) {
            lp_text_out_put(&p->out, bytes, n);
        } else {
            if (p->len[row] + n > p->cap[row]) {
                size_t cap = (p->cap[row] + n) * 2;
                char *t = realloc(p->text[row], cap);
                if (!t) return; /* lose text rather than the run */
                p->text[row] = t;
                p->cap[row] = cap;
            }
            memcpy(p->text[row] + p->len[row], bytes, n);
            p->len[row] += n;
        }
    }
    if (last) p->done[row] = 1;
    if (row == p->shown) advance(p);
}

static int encode_prompt(lp_tokenizer *tok, const char *text, int32_t eot, lp_ids *ids, char *err,
                         size_t errsz) {
    /* special-token text in a prompt stays plain text, as in training data */
    if (lp_tokenizer_encode(tok, text, strlen(text), 0, ids, err, errsz) != 0) return -1;
    if (ids->n == 0) {
        if (eot < 0) {
            snprintf(err, errsz, "an empty prompt needs a tokenizer with %s to start from", LP_EOT_TOKEN);
            return -1;
        }
        lp_ids_push(ids, eot);
    }
    return 0;
}

static void unknown_option(const char *a) {
    static const char *const own[] = {"--prompt", "--instruction", "--input", "--help"};
    const char *names[32];
    size_t n = 0;
    for (size_t i = 0; i < lp_gen_opt_count; i++) names[n++] = lp_gen_opt_names[i];
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) names[n++] = own[i];
    const char *guess = lp_did_you_mean(a, names, n);
    if (guess)
        fprintf(stderr, WHO ": unknown option '%s' (did you mean %s?)\n", a, guess);
    else
        fprintf(stderr, WHO ": %s '%s' (see `" WHO " --help`)\n",
                a[0] == '-' ? "unknown option" : "unexpected argument", a);
}

int lp_cli_generate(int argc, char **argv) {
    lp_gen_opts o;
    lp_gen_opts_default(&o);
    const char *prompt = NULL, *instruction = NULL, *input = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        int r = lp_gen_parse_opt(WHO, &o, argc, argv, &i);
        if (r == 2) return 2;
        if (r == 1) continue;
        const char **dst = !strcmp(a, "--prompt")        ? &prompt
                           : !strcmp(a, "--instruction") ? &instruction
                           : !strcmp(a, "--input")       ? &input
                                                         : NULL;
        if (!dst) {
            unknown_option(a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, WHO ": %s needs a value\n", a);
            return 2;
        }
        *dst = argv[++i];
    }
    if (lp_gen_opts_finish(WHO, &o) != 0) return 2;
    if ((prompt == NULL) == (instruction == NULL)) {
        fprintf(stderr, WHO ": give one of --prompt TEXT or --instruction TEXT (see `" WHO " --help`)\n");
        return 2;
    }
    if (input && !instruction) {
        fprintf(stderr, WHO ": --input goes with --instruction, not --prompt\n");
        return 2;
    }
    char err[4096];
    lp_gen *g = lp_gen_open(WHO, &o, err, sizeof err);
    if (!g) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    lp_tokenizer *tok = lp_gen_tokenizer(g);
    char *rendered = instruction ? lp_render_prompt(lp_alpaca_template(), instruction, input) : NULL;
    lp_ids ids = {0};
    int rc = 0;
    if ((instruction && !rendered) ||
        encode_prompt(tok, rendered ? rendered : prompt, lp_gen_eot(g), &ids, err, sizeof err) != 0) {
        fprintf(stderr, WHO ": %s\n", rendered || !instruction ? err : "out of memory");
        rc = 2;
        goto done;
    }
    int n_ctx = lp_gen_n_ctx(g);
    /* keep the end of an over-long prompt (its question) when it leaves
     * the answer less than a quarter of the context */
    int room = o.max_new < n_ctx / 4 ? o.max_new : n_ctx / 4;
    size_t keep = (size_t)(n_ctx - room);
    const int32_t *start = ids.v;
    if (ids.n > keep) {
        fprintf(stderr, WHO ": the prompt's first %zu of %zu tokens were cut to fit the context of %d\n",
                ids.n - keep, ids.n, n_ctx);
        start += ids.n - keep;
        ids.n = keep;
    }
    printer p = {.tok = tok, .rows = o.n, .out = {.f = stdout}};
    p.text = calloc((size_t)o.n, sizeof *p.text);
    p.len = calloc((size_t)o.n, sizeof *p.len);
    p.cap = calloc((size_t)o.n, sizeof *p.cap);
    p.done = calloc((size_t)o.n, sizeof *p.done);
    lp_gen_end *end = calloc((size_t)o.n, sizeof *end);
    if (!p.text || !p.len || !p.cap || !p.done || !end) {
        fprintf(stderr, WHO ": out of memory\n");
        rc = 1;
    } else {
        lp_gen_stats st;
        header(&p, 0);
        fflush(stdout);
        lp_gen_sigint_install();
        int r = lp_gen_run(g, start, (int)ids.n, o.n, &o.sampling, o.seed, o.max_new, &lp_gen_interrupted,
                           on_token, &p, end, &st, err, sizeof err);
        int stopped = lp_gen_interrupted != 0;
        lp_gen_sigint_restore();
        /* rows cut short by Ctrl-C or an error still show what they have */
        for (int b = 0; b < o.n; b++) p.done[b] = 1;
        advance(&p);
        if (r != 0) {
            fprintf(stderr, WHO ": %s\n", err);
            rc = 1;
        } else if (stopped) {
            fprintf(stderr, WHO ": stopped (Ctrl-C)\n");
            rc = 130;
        }
        st.load_s = lp_gen_load_s(g);
        if (r == 0 && o.stats) lp_gen_print_stats(stderr, &st, end, o.seed, &o.sampling);
    }
    for (int b = 0; p.text && b < o.n; b++) free(p.text[b]);
    free(p.text);
    free(p.len);
    free(p.cap);
    free(p.done);
    free(end);
done:
    lp_ids_free(&ids);
    free(rendered);
    lp_gen_close(g);
    return rc;
}
