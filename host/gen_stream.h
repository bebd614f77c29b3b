/* What `llmpipe generate` and `llmpipe chat` share: their sampling options,
 * an opened model folder, the token loop over the KV cache with a callback
 * per generated token, and output that never splits a UTF-8 character. */
#ifndef LP_HOST_GEN_STREAM_H
#define LP_HOST_GEN_STREAM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "llmpipe/sampler.h"
#include "llmpipe/tokenizer.h"

typedef struct lp_gen_opts {
    const char *model_dir, *tokenizer, *device, *precision;
    int threads;
    lp_sampling sampling;
    int temperature_set; /* --temperature given (else it depends on n) */
    int max_new;
    uint64_t seed;
    int seed_set;
    int n;     /* samples per prompt */
    int stats; /* a timing line on stderr after each answer */
} lp_gen_opts;

void lp_gen_opts_default(lp_gen_opts *o);
/* Parses argv[*i] when it is one of the shared options (advancing *i past
 * its value). Returns 1 when consumed, 0 when not a shared option, 2 after
 * printing a one-line "<who>: ..." message for a bad value. */
int lp_gen_parse_opt(const char *who, lp_gen_opts *o, int argc, char **argv, int *i);
/* Fills the defaults that depend on other options (temperature, seed).
 * Returns 2 after a one-line message when a required option is missing. */
int lp_gen_opts_finish(const char *who, lp_gen_opts *o);
/* The shared options' lines for --help (--n only with samples). */
void lp_gen_opts_help(FILE *f, int samples);
/* The shared option names, for "did you mean". */
extern const char *const lp_gen_opt_names[];
extern const size_t lp_gen_opt_count;

typedef struct lp_gen lp_gen;
/* Opens the model folder (config, weights, tokenizer) on the device. NULL
 * with a one-line message in err. */
lp_gen *lp_gen_open(const char *who, const lp_gen_opts *o, char *err, size_t errsz);
void lp_gen_close(lp_gen *g);
lp_tokenizer *lp_gen_tokenizer(lp_gen *g);
int lp_gen_n_ctx(const lp_gen *g);
int32_t lp_gen_eot(const lp_gen *g);
double lp_gen_load_s(const lp_gen *g);

typedef enum lp_gen_end {
    LP_GEN_END_EOT = 0, /* the model wrote end-of-text */
    LP_GEN_END_BUDGET,  /* max_new tokens */
    LP_GEN_END_CONTEXT, /* the context window is full */
    LP_GEN_END_STOPPED, /* *stop became non-zero (Ctrl-C) */
} lp_gen_end;
const char *lp_gen_end_name(lp_gen_end e);

typedef struct lp_gen_stats {
    int prompt_tokens;
    long tokens; /* generated, all rows */
    int rows;
    double first_s;  /* from the start of the run to the first token */
    double total_s;  /* the whole run */
    double decode_s; /* from the first token to the end */
    double load_s;   /* opening the model, when the caller wants it shown */
} lp_gen_stats;

/* Called once per generated token of a row, end-of-text included, right
 * after it is sampled; last says that the row ends with it. */
typedef void (*lp_gen_token_fn)(void *user, int row, int32_t token, int last);

/* Generates up to max_new tokens for `rows` copies of prompt[0..n), row b
 * sampling from the stream of (seed, b) as lp_generate does, so row b's
 * tokens equal lp_generate's. Each row stops at end-of-text, at max_new or
 * when the context is full; all stop when *stop (optional) becomes
 * non-zero, checked before every step. end[rows] (optional) gets why each
 * row ended. n must be in [1, n_ctx]. Returns 0, or -1 with err. */
int lp_gen_run(lp_gen *g, const int32_t *prompt, int n, int rows, const lp_sampling *sampling, uint64_t seed,
               int max_new, volatile sig_atomic_t *stop, lp_gen_token_fn fn, void *user, lp_gen_end *end,
               lp_gen_stats *st, char *err, size_t errsz);

/* The length of the longest prefix of s[0..n) that does not end inside a
 * UTF-8 character which the next bytes may still complete (at most 3 bytes
 * are held back; malformed bytes are not held). */
size_t lp_utf8_complete_prefix(const unsigned char *s, size_t n);

/* Bytes of generated text on their way to a stream: put appends and writes
 * every complete character, flush writes the rest. With escape, '\\' and
 * newline are written as "\\\\" and "\\n", so an answer stays on one line. */
typedef struct lp_text_out {
    FILE *f;
    int escape;
    unsigned char held[4];
    size_t n_held;
} lp_text_out;
void lp_text_out_put(lp_text_out *o, const char *bytes, size_t n);
void lp_text_out_flush(lp_text_out *o);

/* Ctrl-C while generating: SIGINT sets lp_gen_interrupted and makes
 * lp_gen_sigint_fd() readable (whichever thread the signal hits, so a
 * poll() on it wakes the reader); a second SIGINT before the flag is
 * cleared ends the process as usual, for a step that never returns.
 * restore puts back the handler found at install. */
extern volatile sig_atomic_t lp_gen_interrupted;
int lp_gen_sigint_install(void);
int lp_gen_sigint_fd(void);
void lp_gen_sigint_clear(void);
void lp_gen_sigint_restore(void);

/* One-line summary of a run for --stats. */
void lp_gen_print_stats(FILE *f, const lp_gen_stats *st, const lp_gen_end *end, uint64_t seed,
                        const lp_sampling *s);

#endif
