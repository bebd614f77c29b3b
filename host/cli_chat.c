/* `llmpipe chat`: instructions read line by line, each put in the Alpaca
 * template after the conversation so far and answered as it is generated. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/cli.h"
#include "host/gen_stream.h"
#include "host/util.h"
#include "llmpipe/data.h"

#define WHO "llmpipe chat"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpipe chat --model DIR [--temperature T] [--top-k K] [--top-p P]\n"
            "                    [--max-new-tokens N] [--seed S] [--device D] [--threads N]\n"
            "                    [--precision P] [--no-history] [--stats]\n"
            "Answers instructions typed one a line, each filled into the Alpaca template\n"
            "an SFT model was trained with, streaming the answer as it is generated.\n"
            "Earlier turns of the session come before each new one as context; when they\n"
            "no longer fit the context window the oldest are dropped (said once).\n"
            "  /reset   forget the conversation so far\n"
            "  /quit    leave (as does Ctrl-D); Ctrl-C stops the answer being written\n"
            "With standard input not a terminal (a file, a pipe) there is no prompt: each\n"
            "line is an instruction and each answer is one line of output, its newlines\n"
            "and backslashes written as \\n and \\\\; /reset and /quit lines print nothing.\n\n");
    lp_gen_opts_help(f, 0);
    fprintf(f, "  --no-history          answer every instruction on its own\n");
}

/* ---- reading lines while Ctrl-C may arrive ---------------------------- */

typedef struct line_reader {
    char *buf;
    size_t len, cap;
    size_t taken; /* bytes of the last line returned, dropped on the next call */
    int eof;
} line_reader;

enum { LINE_OK = 1, LINE_EOF = 0, LINE_INTERRUPTED = -2, LINE_ERROR = -1 };

/* The next line (without its newline) in *line, valid until the next call. */
static int read_line(line_reader *r, char **line) {
    if (r->taken) {
        memmove(r->buf, r->buf + r->taken, r->len - r->taken);
        r->len -= r->taken;
        r->taken = 0;
    }
    for (;;) {
        char *nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;
        if (nl || (r->eof && r->len)) {
            size_t n = nl ? (size_t)(nl - r->buf) : r->len;
            r->taken = nl ? n + 1 : n;
            r->buf[n] = '\0'; /* over the newline, or into the spare byte */
            if (n && r->buf[n - 1] == '\r') r->buf[n - 1] = '\0';
            *line = r->buf;
            return LINE_OK;
        }
        if (r->eof) return LINE_EOF;
        if (r->cap - r->len < 4097) {
            size_t cap = r->cap * 2 + 8192;
            char *b = realloc(r->buf, cap);
            if (!b) return LINE_ERROR;
            r->buf = b;
            r->cap = cap;
        }
        /* the signal may land on any thread: its pipe wakes the poll */
        struct pollfd fds[2] = {{.fd = 0, .events = POLLIN}, {.fd = lp_gen_sigint_fd(), .events = POLLIN}};
        int pr = poll(fds, 2, -1);
        if (lp_gen_interrupted) {
            r->len = 0; /* the terminal dropped the typed line too */
            return LINE_INTERRUPTED;
        }
        if (pr < 0) {
            if (errno == EINTR) continue;
            return LINE_ERROR;
        }
        if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t got = read(0, r->buf + r->len, r->cap - r->len - 1);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return LINE_ERROR;
        }
        if (got == 0)
            r->eof = 1;
        else
            r->len += (size_t)got;
    }
}

/* ---- the conversation ---------------------------------------------------- */

typedef struct turn {
    int32_t *ids;
    size_t n;
} turn;

typedef struct chat {
    lp_gen *g;
    lp_tokenizer *tok;
    lp_gen_opts o;
    int tty, no_history;
    turn *turns;
    int n_turns, cap_turns;
    int told_dropping;
    lp_ids answer; /* tokens of the answer being written */
    lp_text_out out;
} chat;

static void forget(chat *c) {
    for (int i = 0; i < c->n_turns; i++) free(c->turns[i].ids);
    c->n_turns = 0;
}

static void on_token(void *user, int row, int32_t token, int last) {
    (void)row;
    (void)last;
    chat *c = user;
    lp_ids_push(&c->answer, token);
    if (lp_tokenizer_is_special(c->tok, token)) return;
    size_t n = 0;
    const char *bytes = lp_tokenizer_token_bytes(c->tok, token, &n);
    if (!bytes || !n) return;
    lp_text_out_put(&c->out, bytes, n);
    fflush(c->out.f);
}

/* Answers one instruction; 0, or -1 with err when the model fails. */
static int answer(chat *c, const char *instruction, char *err, size_t errsz) {
    char *rendered = lp_render_prompt(lp_alpaca_template(), instruction, "");
    lp_ids prompt = {0}, ctx = {0};
    int rc = -1;
    if (!rendered) {
        snprintf(err, errsz, "out of memory");
        goto done;
    }
    if (lp_tokenizer_encode(c->tok, rendered, strlen(rendered), 0, &prompt, err, errsz) != 0) goto done;
    int n_ctx = lp_gen_n_ctx(c->g);
    /* earlier turns give way while the answer has less than half the
     * context; the instruction itself only below a quarter */
    int room = c->o.max_new < n_ctx / 2 ? c->o.max_new : n_ctx / 2;
    size_t limit = (size_t)(n_ctx - room);
    int room_min = c->o.max_new < n_ctx / 4 ? c->o.max_new : n_ctx / 4;
    size_t hard_limit = (size_t)(n_ctx - room_min);
    size_t past = 0;
    for (int i = 0; i < c->n_turns; i++) past += c->turns[i].n;
    int drop = 0;
    while (drop < c->n_turns && past + prompt.n > limit) past -= c->turns[drop++].n;
    if (drop) {
        if (!c->told_dropping)
            fprintf(stderr,
                    "(the conversation no longer fits the model's context of %d tokens: "
                    "its oldest turns are left out from now on; /reset starts afresh)\n",
                    n_ctx);
        c->told_dropping = 1;
        for (int i = 0; i < drop; i++) free(c->turns[i].ids);
        memmove(c->turns, c->turns + drop, sizeof *c->turns * (size_t)(c->n_turns - drop));
        c->n_turns -= drop;
    }
    const int32_t *p = prompt.v;
    size_t np = prompt.n;
    if (np > hard_limit) {
        /* the question is at the end of the template */
        fprintf(stderr, "(the instruction's first %zu of %zu tokens were cut to fit the context of %d)\n",
                np - hard_limit, np, n_ctx);
        p += np - hard_limit;
        np = hard_limit;
    }
    for (int i = 0; i < c->n_turns; i++)
        for (size_t k = 0; k < c->turns[i].n; k++) lp_ids_push(&ctx, c->turns[i].ids[k]);
    for (size_t k = 0; k < np; k++) lp_ids_push(&ctx, p[k]);
    if (ctx.n != past + np) {
        snprintf(err, errsz, "out of memory");
        goto done;
    }
    c->answer.n = 0;
    lp_gen_end end;
    lp_gen_stats st;
    int r = lp_gen_run(c->g, ctx.v, (int)ctx.n, 1, &c->o.sampling, c->o.seed, c->o.max_new,
                       &lp_gen_interrupted, on_token, c, &end, &st, err, errsz);
    lp_text_out_flush(&c->out);
    fputc('\n', c->out.f);
    if (r != 0) goto done;
    if (end == LP_GEN_END_STOPPED && c->tty) fputs("(stopped)\n", c->out.f);
    fflush(c->out.f);
    if (c->o.stats) lp_gen_print_stats(stderr, &st, &end, c->o.seed, &c->o.sampling);
    /* the next turn sees this one as training showed it: prompt, answer,
     * end-of-text (added when the answer was cut short) */
    int32_t eot = lp_gen_eot(c->g);
    if (eot >= 0 && (c->answer.n == 0 || c->answer.v[c->answer.n - 1] != eot)) lp_ids_push(&c->answer, eot);
    if (!c->no_history) {
        if (c->n_turns == c->cap_turns) {
            int cap = c->cap_turns * 2 + 8;
            turn *t = realloc(c->turns, sizeof *t * (size_t)cap);
            if (!t) goto ok;
            c->turns = t;
            c->cap_turns = cap;
        }
        turn t = {malloc(sizeof *t.ids * (np + c->answer.n)), np + c->answer.n};
        if (!t.ids) goto ok;
        memcpy(t.ids, p, sizeof *p * np);
        memcpy(t.ids + np, c->answer.v, sizeof *c->answer.v * c->answer.n);
        c->turns[c->n_turns++] = t;
    }
ok:
    rc = 0;
done:
    lp_ids_free(&prompt);
    lp_ids_free(&ctx);
    free(rendered);
    return rc;
}

static int is_command(const char *s, const char *name) {
    size_t n = strlen(name);
    return !strncmp(s, name, n) && s[n + strspn(s + n, " \t")] == '\0';
}

int lp_cli_chat(int argc, char **argv) {
    chat c;
    memset(&c, 0, sizeof c);
    lp_gen_opts_default(&c.o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--no-history")) {
            c.no_history = 1;
            continue;
        }
        int r = lp_gen_parse_opt(WHO, &c.o, argc, argv, &i);
        if (r == 2) return 2;
        if (r == 1) continue;
        const char *names[32];
        size_t n = 0;
        for (size_t k = 0; k < lp_gen_opt_count; k++) names[n++] = lp_gen_opt_names[k];
        names[n++] = "--no-history";
        names[n++] = "--help";
        const char *guess = lp_did_you_mean(a, names, n);
        if (guess)
            fprintf(stderr, WHO ": unknown option '%s' (did you mean %s?)\n", a, guess);
        else
            fprintf(stderr, WHO ": %s '%s' (see `" WHO " --help`)\n",
                    a[0] == '-' ? "unknown option" : "unexpected argument", a);
        return 2;
    }
    if (lp_gen_opts_finish(WHO, &c.o) != 0) return 2;
    if (c.o.n != 1) {
        fprintf(stderr, WHO ": --n: a chat answers with one sample; use `llmpipe generate --n`\n");
        return 2;
    }
    char err[4096];
    c.g = lp_gen_open(WHO, &c.o, err, sizeof err);
    if (!c.g) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    c.tok = lp_gen_tokenizer(c.g);
    c.tty = isatty(0);
    c.out.f = stdout;
    c.out.escape = !c.tty;
    if (c.tty)
        printf(
            "llmpipe chat: %s, a context of %d tokens.\n"
            "Type an instruction and Enter. /reset forgets the conversation, /quit or Ctrl-D\n"
            "leaves, Ctrl-C stops an answer.\n",
            c.o.model_dir, lp_gen_n_ctx(c.g));
    if (lp_gen_sigint_install() != 0) {
        fprintf(stderr, WHO ": cannot catch Ctrl-C: %s\n", strerror(errno));
        lp_gen_close(c.g);
        return 1;
    }
    line_reader lr = {0};
    int rc = 0;
    for (;;) {
        if (c.tty) {
            fputs("\n> ", stdout);
            fflush(stdout);
        }
        char *line = NULL;
        int r = read_line(&lr, &line);
        if (r == LINE_INTERRUPTED) {
            lp_gen_sigint_clear();
            if (c.tty) fputs("\n(Ctrl-C clears the line; /quit or Ctrl-D leaves)", stdout);
            continue;
        }
        if (r == LINE_EOF) {
            if (c.tty) fputc('\n', stdout);
            break;
        }
        if (r == LINE_ERROR) {
            fprintf(stderr, WHO ": reading standard input: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        const char *s = line + strspn(line, " \t");
        if (is_command(s, "/quit") || is_command(s, "/exit")) break;
        if (is_command(s, "/reset")) {
            forget(&c);
            c.told_dropping = 0;
            if (c.tty) puts("(conversation forgotten)");
            continue;
        }
        if (*s == '\0') {
            if (!c.tty) putchar('\n'); /* still one answer a line */
            continue;
        }
        if (answer(&c, line, err, sizeof err) != 0) {
            fprintf(stderr, WHO ": %s\n", err);
            rc = 1;
            break;
        }
        lp_gen_sigint_clear();
    }
    lp_gen_sigint_restore();
    fflush(stdout);
    free(lr.buf);
    forget(&c);
    free(c.turns);
    lp_ids_free(&c.answer);
    lp_gen_close(c.g);
    return rc;
}
