/* The token loop of `llmpipe generate` and `llmpipe chat`, their shared
 * options, and UTF-8-safe streaming of byte-level BPE output. */
#include "host/gen_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpipe/ckpt.h"
#include "llmpipe/clock.h"
#include "llmpipe/model.h"
#include "llmpipe/stage.h"

/* Parameters below which one thread decodes fastest (the --threads default). */
#define LP_GEN_SMALL_MODEL 20e6

struct lp_gen {
    lpk_ctx *ctx;
    lp_model *model;
    lp_tokenizer *tok;
    lp_sampler *sampler;
    lp_model_config cfg;
    int32_t eot;
    double load_s;
};

const char *const lp_gen_opt_names[] = {
    "--model", "--tokenizer", "--device", "--threads", "--precision", "--temperature",
    "--top-k", "--top-p",     "--seed",   "--n",       "--stats",     "--max-new-tokens",
};
const size_t lp_gen_opt_count = sizeof lp_gen_opt_names / sizeof lp_gen_opt_names[0];

void lp_gen_opts_default(lp_gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->precision = "fp32";
    o->device = "cpu";
    o->sampling.top_k = 50;
    o->sampling.top_p = 0.95f;
    o->max_new = 256;
    o->n = 1;
}

void lp_gen_opts_help(FILE *f, int samples) {
    fprintf(f,
            "  --model DIR           model folder (model.safetensors, config.json,\n"
            "                        tokenizer.json), e.g. a run's artifacts/NAME\n"
            "  --tokenizer PATH      tokenizer.json or a folder with one (default: DIR's)\n"
            "  --temperature T       0 = greedy (default 0%s)\n"
            "  --top-k K             sample among the K likeliest tokens, 0 = all (default 50)\n"
            "  --top-p P             ... within the smallest set of mass P, 1 = off (default 0.95)\n"
            "  --max-new-tokens N    tokens to generate at most (default 256; the context\n"
            "                        window also ends an answer)\n"
            "  --seed S              sampling seed (default: a new one each run, shown\n"
            "                        by --stats); the same seed gives the same text\n"
            "%s"
            "  --device cpu|cuda     (default cpu)\n"
            "  --threads N           CPU threads (default: 1 for models under 20 M\n"
            "                        parameters, which decode fastest on one; else all)\n"
            "  --precision fp32|bf16 (default fp32)\n"
            "  --stats               time to first token and tokens/s on stderr\n",
            samples ? "; 0.8 when --n > 1" : "",
            samples ? "  --n N                 samples to draw (default 1; generated together)\n" : "");
}

/* Whole-string numbers only: "1e" or "3x" is a typo, not 1 or 3. */
static int parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int lp_gen_parse_opt(const char *who, lp_gen_opts *o, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (!strcmp(a, "--stats")) {
        o->stats = 1;
        return 1;
    }
    size_t k = 0;
    while (k < lp_gen_opt_count && strcmp(lp_gen_opt_names[k], a)) k++;
    if (k == lp_gen_opt_count) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value\n", who, a);
        return 2;
    }
    const char *v = argv[++*i];
    double d;
    long l;
    const char *want = NULL;
    if (!strcmp(a, "--model")) {
        o->model_dir = v;
    } else if (!strcmp(a, "--tokenizer")) {
        o->tokenizer = v;
    } else if (!strcmp(a, "--device")) {
        o->device = v;
    } else if (!strcmp(a, "--precision")) {
        if (strcmp(v, "fp32") && strcmp(v, "bf16")) want = "fp32 or bf16";
        o->precision = v;
    } else if (!strcmp(a, "--threads")) {
        if (parse_long(v, 0, 4096, &l)) want = "a whole number of threads, 0 = all cores";
        o->threads = (int)l;
    } else if (!strcmp(a, "--temperature")) {
        if (parse_double(v, &d) || d < 0 || d > 100) want = "a number >= 0 (0 = greedy)";
        o->sampling.temperature = (float)d;
        o->temperature_set = 1;
    } else if (!strcmp(a, "--top-k")) {
        if (parse_long(v, 0, 1 << 30, &l)) want = "a whole number >= 0 (0 = off)";
        o->sampling.top_k = (int)l;
    } else if (!strcmp(a, "--top-p")) {
        if (parse_double(v, &d) || !(d > 0) || d > 1) want = "a number in (0, 1] (1 = off)";
        o->sampling.top_p = (float)d;
    } else if (!strcmp(a, "--max-new-tokens")) {
        if (parse_long(v, 1, 1 << 30, &l)) want = "a whole number >= 1";
        o->max_new = (int)l;
    } else if (!strcmp(a, "--n")) {
        if (parse_long(v, 1, 256, &l)) want = "a whole number from 1 to 256";
        o->n = (int)l;
    } else if (!strcmp(a, "--seed")) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        if (end == v || *end || errno || v[0] == '-') want = "a whole number >= 0";
        o->seed = (uint64_t)s;
        o->seed_set = 1;
    }
    if (want) {
        fprintf(stderr, "%s: %s: expected %s, not '%s'\n", who, a, want, v);
        return 2;
    }
    return 1;
}

int lp_gen_opts_finish(const char *who, lp_gen_opts *o) {
    if (!o->model_dir) {
        fprintf(stderr, "%s: --model DIR is required (see `%s --help`)\n", who, who);
        return 2;
    }
    /* several greedy samples would all be the same text */
    if (!o->temperature_set) o->sampling.temperature = o->n > 1 ? 0.8f : 0.0f;
    if (!o->seed_set) {
        uint64_t s = 0;
        int fd = open("/dev/urandom", O_RDONLY);
        if (fd < 0 || read(fd, &s, sizeof s) != (ssize_t)sizeof s) s = (uint64_t)(lp_wall_s() * 1e6);
        if (fd >= 0) close(fd);
        o->seed = s % 1000000000ull; /* short enough to retype */
    }
    return 0;
}

lp_gen *lp_gen_open(const char *who, const lp_gen_opts *o, char *err, size_t errsz) {
    double t0 = lp_mono_s();
    lp_gen *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errsz, "%s: out of memory", who);
        return NULL;
    }
    char msg[2048], path[4096];
    const char *tok_path = o->tokenizer;
    struct stat sb;
    snprintf(path, sizeof path, "%s/config.json", o->model_dir);
    if (stat(o->model_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(msg, sizeof msg, "--model %s: no such folder", o->model_dir);
        goto fail;
    }
    if (stat(path, &sb) != 0) {
        snprintf(msg, sizeof msg, "--model %s: not a model folder (no config.json)", o->model_dir);
        goto fail;
    }
    if (lp_model_folder_config(o->model_dir, &g->cfg, msg, sizeof msg) != 0) goto fail;
    if (!tok_path) {
        snprintf(path, sizeof path, "%s/tokenizer.json", o->model_dir);
        tok_path = path;
    }
    if (lp_tokenizer_open(&g->tok, tok_path, msg, sizeof msg) != 0) goto fail;
    if (lp_tokenizer_vocab_size(g->tok) > g->cfg.vocab_size) {
        snprintf(msg, sizeof msg, "%s: %d tokens, more than the model's vocabulary of %d", tok_path,
                 lp_tokenizer_vocab_size(g->tok), g->cfg.vocab_size);
        goto fail;
    }
    g->eot = lp_tokenizer_eot(g->tok);
    int threads = o->threads;
    double params = 12.0 * g->cfg.n_layer * g->cfg.n_embd * g->cfg.n_embd +
                    (double)(g->cfg.vocab_size + g->cfg.n_ctx) * g->cfg.n_embd;
    /* One token of a small model is too little work to share: the threads'
     * hand-offs cost more than they save, and on a busy machine far more
     * (measured 20x slower with 2 threads than 1 on a 4-layer 192-wide
     * model). */
    if (threads <= 0 && params < LP_GEN_SMALL_MODEL && (!o->device || !strcmp(o->device, "cpu"))) threads = 1;
    g->ctx = lp_kernel_ctx_open(who, o->device, threads, o->precision, err, errsz);
    if (!g->ctx) {
        lp_gen_close(g);
        return NULL;
    }
    /* generation only decodes: a frozen model keeps no gradients */
    g->model = lp_model_create_frozen(&g->cfg, g->ctx, msg, sizeof msg);
    if (!g->model || lp_model_import(g->model, o->model_dir, msg, sizeof msg) != 0) goto fail;
    g->sampler = lp_sampler_create(g->cfg.vocab_size);
    if (!g->sampler) {
        snprintf(msg, sizeof msg, "out of memory");
        goto fail;
    }
    g->load_s = lp_mono_s() - t0;
    return g;
fail:
    snprintf(err, errsz, "%s: %s", who, msg);
    lp_gen_close(g);
    return NULL;
}

void lp_gen_close(lp_gen *g) {
    if (!g) return;
    lp_sampler_destroy(g->sampler);
    lp_model_destroy(g->model);
    lpk_ctx_destroy(g->ctx);
    lp_tokenizer_destroy(g->tok);
    free(g);
}

lp_tokenizer *lp_gen_tokenizer(lp_gen *g) { return g->tok; }
int lp_gen_n_ctx(const lp_gen *g) { return g->cfg.n_ctx; }
int32_t lp_gen_eot(const lp_gen *g) { return g->eot; }
double lp_gen_load_s(const lp_gen *g) { return g->load_s; }

const char *lp_gen_end_name(lp_gen_end e) {
    switch (e) {
        case LP_GEN_END_EOT: return "end-of-text";
        case LP_GEN_END_BUDGET: return "token budget";
        case LP_GEN_END_CONTEXT: return "context full";
        case LP_GEN_END_STOPPED: return "stopped";
    }
    return "?";
}

int lp_gen_run(lp_gen *g, const int32_t *prompt, int n, int rows, const lp_sampling *sampling, uint64_t seed,
               int max_new, volatile sig_atomic_t *stop, lp_gen_token_fn fn, void *user, lp_gen_end *end,
               lp_gen_stats *st, char *err, size_t errsz) {
    const int V = g->cfg.vocab_size;
    double t0 = lp_mono_s(), t_first = 0;
    memset(st, 0, sizeof *st);
    st->prompt_tokens = n;
    st->rows = rows;
    if (n < 1 || n > g->cfg.n_ctx || rows < 1 || max_new < 1) {
        snprintf(err, errsz, "a prompt of %d tokens does not fit the context of %d", n, g->cfg.n_ctx);
        return -1;
    }
    int total = n + max_new < g->cfg.n_ctx ? n + max_new : g->cfg.n_ctx;
    lp_kv_cache *kv = lp_kv_cache_create(g->model, rows, total);
    int32_t *tokens = malloc(sizeof *tokens * (size_t)rows * (size_t)n);
    int32_t *lens = malloc(sizeof *lens * (size_t)rows);
    int32_t *next = malloc(sizeof *next * (size_t)rows);
    int *count = calloc((size_t)rows, sizeof *count);
    uint8_t *active = malloc((size_t)rows);
    float *logits = malloc(sizeof *logits * (size_t)rows * (size_t)V);
    lp_rng *rng = malloc(sizeof *rng * (size_t)rows);
    int rc = -1;
    if (!kv || !tokens || !lens || !next || !count || !active || !logits || !rng) {
        snprintf(err, errsz, "out of memory for %d rows of %d tokens", rows, total);
        goto done;
    }
    for (int b = 0; b < rows; b++) {
        memcpy(tokens + (size_t)b * n, prompt, sizeof *prompt * (size_t)n);
        lens[b] = n;
        active[b] = 1;
        if (end) end[b] = LP_GEN_END_STOPPED;
        /* the per-row stream of lp_generate, so rows match its output */
        lp_rng_seed(&rng[b], seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(b + 1)));
    }
    if (stop && *stop) {
        rc = 0;
        goto done;
    }
    if (lp_model_prefill(g->model, kv, tokens, lens, n, logits) != 0) {
        snprintf(err, errsz, "prefill: %s", lp_model_error(g->model));
        goto done;
    }
    for (;;) {
        int any = 0;
        for (int b = 0; b < rows; b++) {
            if (!active[b]) continue;
            int t = lp_sample(g->sampler, logits + (size_t)b * V, sampling, &rng[b]);
            if (t < 0) {
                snprintf(err, errsz, "row %d has no finite logit to sample from", b);
                goto done;
            }
            if (st->tokens++ == 0) t_first = lp_mono_s();
            count[b]++;
            next[b] = t;
            lp_gen_end why = LP_GEN_END_STOPPED;
            if (t == g->eot)
                why = LP_GEN_END_EOT;
            else if (count[b] >= max_new)
                why = LP_GEN_END_BUDGET;
            else if (lp_kv_cache_len(kv, b) >= total)
                why = LP_GEN_END_CONTEXT;
            active[b] = why == LP_GEN_END_STOPPED;
            if (!active[b] && end) end[b] = why;
            if (fn) fn(user, b, t, !active[b]);
            any |= active[b];
        }
        if (!any) break;
        if (stop && *stop) break; /* the rows still active keep "stopped" */
        if (lp_model_decode_step(g->model, kv, next, active, logits) != 0) {
            snprintf(err, errsz, "decode: %s", lp_model_error(g->model));
            goto done;
        }
    }
    rc = 0;
done:;
    double t1 = lp_mono_s();
    st->total_s = t1 - t0;
    if (st->tokens) {
        st->first_s = t_first - t0;
        st->decode_s = t1 - t_first;
    }
    free(rng);
    free(logits);
    free(active);
    free(count);
    free(next);
    free(lens);
    free(tokens);
    lp_kv_cache_destroy(kv);
    return rc;
}

volatile sig_atomic_t lp_gen_interrupted;
static int g_sig_pipe[2] = {-1, -1};
static struct sigaction g_old_int;
static int g_installed;

static void on_sigint(int sig) {
    if (lp_gen_interrupted) {
        /* the first one is still unanswered: stop as if there were no handler */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    lp_gen_interrupted = 1;
    int saved = errno;
    if (g_sig_pipe[1] >= 0 && write(g_sig_pipe[1], "x", 1) < 0) {
        /* a full pipe already wakes the reader */
    }
    errno = saved;
}

int lp_gen_sigint_install(void) {
    if (g_installed) return 0;
    if (pipe(g_sig_pipe) != 0) return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(g_sig_pipe[i], F_SETFL, fcntl(g_sig_pipe[i], F_GETFL) | O_NONBLOCK);
        fcntl(g_sig_pipe[i], F_SETFD, FD_CLOEXEC);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocked read returns EINTR */
    lp_gen_interrupted = 0;
    if (sigaction(SIGINT, &sa, &g_old_int) != 0) return -1;
    g_installed = 1;
    return 0;
}

int lp_gen_sigint_fd(void) { return g_sig_pipe[0]; }

void lp_gen_sigint_clear(void) {
    char buf[64];
    while (g_sig_pipe[0] >= 0 && read(g_sig_pipe[0], buf, sizeof buf) > 0) {
    }
    lp_gen_interrupted = 0;
}

void lp_gen_sigint_restore(void) {
    if (!g_installed) return;
    sigaction(SIGINT, &g_old_int, NULL);
    close(g_sig_pipe[0]);
    close(g_sig_pipe[1]);
    g_sig_pipe[0] = g_sig_pipe[1] = -1;
    g_installed = 0;
    lp_gen_interrupted = 0;
}

static size_t utf8_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 1; /* a stray continuation or an impossible lead: nothing to wait for */
}

size_t lp_utf8_complete_prefix(const unsigned char *s, size_t n) {
    /* only the last lead byte can start an unfinished character */
    size_t back = n < 4 ? n : 4;
    for (size_t k = 1; k <= back; k++) {
        unsigned char c = s[n - k];
        if ((c & 0xC0) == 0x80) continue;
        return utf8_len(c) > k ? n - k : n;
    }
    return n;
}

static void write_bytes(lp_text_out *o, const unsigned char *s, size_t n) {
    if (!o->escape) {
        fwrite(s, 1, n, o->f);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            fputs("\\n", o->f);
        else if (s[i] == '\\')
            fputs("\\\\", o->f);
        else
            fputc(s[i], o->f);
    }
}

void lp_text_out_put(lp_text_out *o, const char *bytes, size_t n) {
    const unsigned char *in = (const unsigned char *)bytes;
    unsigned char small[64];
    unsigned char *buf = small;
    size_t len = o->n_held + n;
    if (len > sizeof small && !(buf = malloc(len))) {
        /* no memory for joining: write as they are */
        lp_text_out_flush(o);
        write_bytes(o, in, n);
        return;
    }
    memcpy(buf, o->held, o->n_held);
    memcpy(buf + o->n_held, in, n);
    size_t ok = lp_utf8_complete_prefix(buf, len);
    write_bytes(o, buf, ok);
    o->n_held = len - ok;
    memcpy(o->held, buf + ok, o->n_held);
    if (buf != small) free(buf);
}

void lp_text_out_flush(lp_text_out *o) {
    write_bytes(o, o->held, o->n_held);
    o->n_held = 0;
}

void lp_gen_print_stats(FILE *f, const lp_gen_stats *st, const lp_gen_end *end, uint64_t seed,
                        const lp_sampling *s) {
    const char *why = end ? lp_gen_end_name(end[0]) : "?";
    for (int b = 1; end && b < st->rows; b++)
        if (end[b] != end[0]) why = "mixed";
    /* the first step's tokens come from the prefill, timed by first_s */
    long later = st->tokens - st->rows;
    if (st->load_s > 0) fprintf(f, "[model loaded in %.0f ms] ", 1e3 * st->load_s);
    fprintf(f, "[prompt %d tokens, %ld generated, first token after %.1f ms, %.1f tokens/s after it, %.2f s",
            st->prompt_tokens, st->tokens, 1e3 * st->first_s,
            later > 0 && st->decode_s > 0 ? (double)later / st->decode_s : 0.0, st->total_s);
    if (s->temperature > 0)
        fprintf(f, ", seed %" PRIu64 "]", seed);
    else
        fprintf(f, ", greedy]");
    fprintf(f, " [%s]\n", why);
}
