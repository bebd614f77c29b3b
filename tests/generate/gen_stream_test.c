/* The shared core of `llmpipe generate` / `chat`: streamed rows equal
 * lp_generate's (greedy and sampled, several rows), a seed repeats its
 * text, Ctrl-C's flag stops a run, and text streams never split a UTF-8
 * character however the bytes arrive. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/gen_stream.h"
#include "llmpipe/ckpt.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/model.h"
#include "llmpipe/sampler.h"
#include "llmpipe/tokenizer.h"
#include "tests/support/check.h"

#define ROWS    3
#define MAX_NEW 24

typedef struct sink {
    int32_t tok[ROWS][MAX_NEW + 4];
    int n[ROWS], lasts[ROWS];
    volatile sig_atomic_t *stop;
    int stop_after;
} sink;

static void collect(void *user, int row, int32_t t, int last) {
    sink *s = user;
    s->tok[row][s->n[row]++] = t;
    s->lasts[row] += last;
    if (s->stop && s->n[0] == s->stop_after) *s->stop = 1;
}

/* A valid UTF-8 string, every character complete. */
static int utf8_whole(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t k = s[i] < 0x80 ? 1 : s[i] < 0xE0 ? 2 : s[i] < 0xF0 ? 3 : 4;
        if (i + k > n) return 0;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k;
    }
    return 1;
}

static void test_utf8(void) {
    const char *text = "a\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80!\n\\";
    size_t n = strlen(text);
    for (size_t chunk = 1; chunk <= 4; chunk++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        lp_text_out o = {.f = f};
        int whole = 1;
        for (size_t i = 0; i < n; i += chunk) {
            lp_text_out_put(&o, text + i, i + chunk <= n ? chunk : n - i);
            fflush(f);
            whole &= utf8_whole((const unsigned char *)buf, len);
        }
        lp_text_out_flush(&o);
        fclose(f);
        CHECK(whole, "chunks of %zu bytes: a partial character was written", chunk);
        CHECK(len == n && !memcmp(buf, text, n), "chunks of %zu: got '%s'", chunk, buf);
        free(buf);
    }
    /* malformed bytes are not held: a stray continuation or lead goes out */
    const unsigned char bad[] = {'x', 0x80, 0xFF, 'y', 0xE4};
    CHECK(lp_utf8_complete_prefix(bad, 4) == 4, "stray bytes are written at once");
    CHECK(lp_utf8_complete_prefix(bad, 5) == 4, "a lead byte waits for its continuation");
    const unsigned char lead_cut[] = {0xE4, 'z'};
    CHECK(lp_utf8_complete_prefix(lead_cut, 2) == 2, "a lead broken by ASCII is not held for ever");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    lp_text_out o = {.f = f, .escape = 1};
    lp_text_out_put(&o, "one\ntwo\\", 8);
    lp_text_out_flush(&o);
    fclose(f);
    CHECK(!strcmp(buf, "one\\ntwo\\\\"), "escaped: '%s'", buf);
    free(buf);
}

static int test_run(const char *dir) {
    char err[2048];
    /* a tokenizer of bytes only (plus end-of-text), trained on nothing */
    const char *texts[] = {"hello world, hello tokens"};
    size_t lens[] = {strlen(texts[0])};
    lp_tok_train_opts to = {.vocab_size = 300, .min_frequency = 1};
    lp_tokenizer *tok = NULL;
    REQUIRE(lp_tokenizer_train_texts(&tok, texts, lens, 1, &to, err, sizeof err) == 0, "%s", err);
    char tok_path[4200];
    snprintf(tok_path, sizeof tok_path, "%s/tok.json", dir);
    REQUIRE(lp_tokenizer_save(tok, tok_path, err, sizeof err) == 0, "%s", err);
    lp_model_config cfg = {
        .n_layer = 2, .n_head = 2, .n_embd = 32, .n_ctx = 40, .vocab_size = lp_tokenizer_vocab_size(tok)};
    lpk_ctx_opts ko = {.backend = "cpu", .num_threads = 1};
    lpk_ctx *ctx = lpk_ctx_create(&ko, err, sizeof err);
    REQUIRE(ctx, "%s", err);
    lp_model *m = lp_model_create_frozen(&cfg, ctx, err, sizeof err);
    REQUIRE(m, "%s", err);
    lp_model_init_gpt2(m, 11);
    char model_dir[4200];
    snprintf(model_dir, sizeof model_dir, "%s/model", dir);
    REQUIRE(mkdir(model_dir, 0755) == 0, "mkdir %s", model_dir);
    REQUIRE(lp_model_export(m, model_dir, lp_tokenizer_eot(tok), tok_path, err, sizeof err) == 0, "%s", err);

    lp_gen_opts o;
    lp_gen_opts_default(&o);
    o.model_dir = model_dir;
    o.threads = 1;
    lp_gen *g = lp_gen_open("test", &o, err, sizeof err);
    REQUIRE(g, "%s", err);
    int32_t prompt[5] = {104, 101, 108, 108, 111};
    int32_t eot = lp_tokenizer_eot(tok);
    lp_sampling modes[3] = {{0, 0, 0}, {0.9f, 20, 0}, {1.3f, 0, 0.8f}};
    for (int k = 0; k < 3; k++) {
        sink s = {0};
        lp_gen_end end[ROWS];
        lp_gen_stats st;
        REQUIRE(lp_gen_run(g, prompt, 5, ROWS, &modes[k], 77, MAX_NEW, NULL, collect, &s, end, &st, err,
                           sizeof err) == 0,
                "%s", err);
        int32_t prompts[ROWS * 5], plens[ROWS], out[ROWS * MAX_NEW], olens[ROWS];
        for (int b = 0; b < ROWS; b++) {
            memcpy(prompts + b * 5, prompt, sizeof prompt);
            plens[b] = 5;
        }
        lp_generate_opts go = {
            .sampling = modes[k], .seed = 77, .max_new = MAX_NEW, .stop = &eot, .n_stop = 1};
        REQUIRE(lp_generate(m, prompts, plens, ROWS, 5, &go, out, olens) == 0, "%s", lp_model_error(m));
        for (int b = 0; b < ROWS; b++) {
            int same =
                s.n[b] == olens[b] && !memcmp(s.tok[b], out + b * MAX_NEW, sizeof *out * (size_t)olens[b]);
            CHECK(same, "mode %d row %d: %d streamed tokens differ from lp_generate's %d", k, b, s.n[b],
                  olens[b]);
            CHECK(s.lasts[b] == 1, "mode %d row %d: 'last' said %d times", k, b, s.lasts[b]);
            int why_ok = s.n[b] == MAX_NEW ? end[b] == LP_GEN_END_BUDGET : end[b] == LP_GEN_END_EOT;
            CHECK(why_ok, "mode %d row %d: ended by %s after %d tokens", k, b, lp_gen_end_name(end[b]),
                  s.n[b]);
        }
        CHECK(st.tokens == s.n[0] + s.n[1] + s.n[2], "stats count %ld tokens", st.tokens);
        CHECK(st.first_s > 0 && st.first_s <= st.total_s, "first token %.4f s of %.4f s", st.first_s,
              st.total_s);
        if (k == 1) {
            int differ = memcmp(s.tok[0], s.tok[1], sizeof s.tok[0]) != 0;
            CHECK(differ, "sampled rows 0 and 1 are the same text");
        }
    }
    /* the context ends an answer: 35 prompt tokens in 40 positions */
    int32_t longp[35];
    for (int i = 0; i < 35; i++) longp[i] = 97 + i % 20;
    sink s = {0};
    lp_gen_end end[ROWS];
    lp_gen_stats st;
    lp_sampling greedy = {0};
    REQUIRE(lp_gen_run(g, longp, 35, 1, &greedy, 1, 100, NULL, collect, &s, end, &st, err, sizeof err) == 0,
            "%s", err);
    CHECK(end[0] == LP_GEN_END_EOT || (end[0] == LP_GEN_END_CONTEXT && s.n[0] == 6),
          "at the context's end: %s after %d tokens", lp_gen_end_name(end[0]), s.n[0]);
    /* the stop flag, as Ctrl-C sets it, ends every row at the next step */
    volatile sig_atomic_t stop = 0;
    sink t = {.stop = &stop, .stop_after = 3};
    lp_sampling hot = {5.0f, 0, 0};
    REQUIRE(lp_gen_run(g, prompt, 5, 2, &hot, 3, MAX_NEW, &stop, collect, &t, end, &st, err, sizeof err) == 0,
            "%s", err);
    CHECK(t.n[0] == 3 && end[0] == LP_GEN_END_STOPPED, "stopped after %d tokens (%s)", t.n[0],
          lp_gen_end_name(end[0]));
    lp_gen_close(g);
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    lp_tokenizer_destroy(tok);
    return 0;
}

int main(void) {
    test_utf8();
    char dir[] = "/tmp/gen_stream_test.XXXXXX";
    const char *tmp = getenv("TEST_TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/gen.XXXXXX", tmp ? tmp : "/tmp");
    char *d = mkdtemp(tmp ? tmpl : dir);
    REQUIRE(d, "mkdtemp");
    int r = test_run(d);
    lp_remove_tree(d);
    if (r) return r;
    DONE();
}
