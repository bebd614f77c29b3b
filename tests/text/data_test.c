/* Token shards, the (B, T) loader (determinism, save/restore), and the record
 * readers (messages for malformed input, skip-bad counts), SFT masks, packing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llmpipe/data.h"

#include "tests/support/check.h"

static char dir[400];

static const char *path_of(const char *name) {
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void write_file(const char *name, const char *s) {
    FILE *f = fopen(path_of(name), "w");
    fputs(s, f);
    fclose(f);
}

static void make_shard(const char *name, int vocab, int32_t first, size_t n) {
    lp_shard_writer *w;
    char err[256];
    CHECK(lp_shard_writer_create(&w, path_of(name), vocab, 0, err, sizeof err) == 0, "%s", err);
    for (size_t i = 0; i < n; i++) {
        int32_t v = (int32_t)((first + (int64_t)i) % vocab);
        CHECK(lp_shard_writer_append(w, &v, 1, err, sizeof err) == 0, "%s", err);
    }
    CHECK(lp_shard_writer_close(w, err, sizeof err) == 0, "%s", err);
}

static void test_shards(void) {
    char err[256];
    make_shard("a.bin", 50000, 7, 1000);
    make_shard("wide.bin", 100000, 65530, 20);
    lp_shard *s;
    CHECK(lp_shard_open(&s, path_of("a.bin"), err, sizeof err) == 0, "%s", err);
    int32_t buf[8];
    CHECK(lp_shard_count(s) == 1000 && lp_shard_vocab_size(s) == 50000, "count %llu",
          (unsigned long long)lp_shard_count(s));
    CHECK(lp_shard_read(s, 995, 5, buf) == 0 && buf[0] == 1002 && buf[4] == 1006, "read %d %d", buf[0],
          buf[4]);
    CHECK(lp_shard_read(s, 996, 5, buf) != 0, "read past the end accepted");
    lp_shard_close(s);
    CHECK(lp_shard_open(&s, path_of("wide.bin"), err, sizeof err) == 0, "%s", err);
    CHECK(lp_shard_read(s, 0, 8, buf) == 0 && buf[0] == 65530 && buf[7] == 65537, "4-byte tokens %d %d",
          buf[0], buf[7]);
    lp_shard_close(s);
    lp_shard_writer *w;
    CHECK(lp_shard_writer_create(&w, path_of("bad.bin"), 10, 0, err, sizeof err) == 0, "%s", err);
    int32_t big = 10;
    CHECK(lp_shard_writer_append(w, &big, 1, err, sizeof err) != 0 && strstr(err, "outside the vocabulary"),
          "%s", err);
    lp_shard_writer_abort(w);
    /* damaged files */
    write_file("junk.bin", "this is not a shard at all, just some text that is long enough for a header....");
    CHECK(lp_shard_open(&s, path_of("junk.bin"), err, sizeof err) != 0 && strstr(err, "bad magic") &&
              strstr(err, "junk.bin"),
          "%s", err);
    FILE *f = fopen(path_of("a.bin"), "r+b");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    CHECK(truncate(path_of("a.bin"), size - 3) == 0, "truncate");
    CHECK(lp_shard_open(&s, path_of("a.bin"), err, sizeof err) != 0 && strstr(err, "truncated"), "%s", err);
    make_shard("a.bin", 50000, 7, 1000);
}

static void test_loader(void) {
    char err[256];
    make_shard("b.bin", 50000, 20000, 333);
    const char *paths[] = {path_of("a.bin"), path_of("b.bin")};
    enum { B = 3, T = 16 };
    lp_loader *l1, *l2;
    CHECK(lp_loader_create(&l1, paths, 2, B, T, 42, 1, err, sizeof err) == 0, "%s", err);
    CHECK(lp_loader_create(&l2, paths, 2, B, T, 42, 1, err, sizeof err) == 0, "%s", err);
    uint64_t nw = lp_loader_windows(l1);
    CHECK(nw == 999 / T + 332 / T, "windows %llu", (unsigned long long)nw);
    int32_t x1[B * T], y1[B * T], x2[B * T], y2[B * T];
    /* every window of an epoch exactly once; x/y shifted by one */
    char *seen = calloc(nw, 1);
    uint64_t steps = (nw + B - 1) / B;
    int same = 1;
    uint8_t st[LP_LOADER_STATE_SIZE];
    int32_t after_save[B * T];
    for (uint64_t s = 0; s < 3 * steps; s++) {
        if (s == steps + 1) lp_loader_state_save(l1, st);
        lp_loader_next(l1, x1, y1);
        lp_loader_next(l2, x2, y2);
        if (s == steps + 1) memcpy(after_save, x1, sizeof x1);
        same &= !memcmp(x1, x2, sizeof x1) && !memcmp(y1, y2, sizeof y1);
        for (int b = 0; b < B; b++) {
            const int32_t *x = x1 + b * T, *y = y1 + b * T;
            for (int t = 0; t + 1 < T; t++) CHECK(y[t] == x[t + 1], "y is not x shifted");
            CHECK(y[T - 1] == (x[T - 1] + 1) % 50000, "last target");
            /* a.bin holds 7.., b.bin 20000..: the window index follows */
            uint64_t g = x[0] >= 20000 ? 999 / T + (uint64_t)(x[0] - 20000) / T : (uint64_t)(x[0] - 7) / T;
            CHECK((x[0] >= 20000 ? x[0] - 20000 : x[0] - 7) % T == 0, "window not aligned: %d", x[0]);
            if (s * B + (uint64_t)b < nw) {
                CHECK(!seen[g], "window %llu twice in epoch 0", (unsigned long long)g);
                seen[g] = 1;
            }
        }
    }
    free(seen);
    CHECK(same, "two loaders with the same seed differ");
    CHECK(lp_loader_epoch(l1) >= 2, "epoch %llu", (unsigned long long)lp_loader_epoch(l1));
    /* restore into a fresh loader: the next batch is the one after the save */
    lp_loader *l3;
    CHECK(lp_loader_create(&l3, paths, 2, B, T, 42, 1, err, sizeof err) == 0, "%s", err);
    CHECK(lp_loader_state_restore(l3, st, sizeof st, err, sizeof err) == 0, "%s", err);
    lp_loader_next(l3, x1, y1);
    CHECK(!memcmp(x1, after_save, sizeof x1), "restored loader resumes elsewhere");
    lp_loader_destroy(l3);
    /* another seed gives another order and refuses the state */
    lp_loader *l4;
    CHECK(lp_loader_create(&l4, paths, 2, B, T, 43, 1, err, sizeof err) == 0, "%s", err);
    lp_loader_next(l4, x2, y2);
    lp_loader_destroy(l1);
    CHECK(lp_loader_create(&l1, paths, 2, B, T, 42, 1, err, sizeof err) == 0, "%s", err);
    lp_loader_next(l1, x1, y1);
    CHECK(memcmp(x1, x2, sizeof x1) != 0, "seed has no effect");
    CHECK(lp_loader_state_restore(l4, st, sizeof st, err, sizeof err) != 0 && strstr(err, "seed=42"), "%s",
          err);
    CHECK(lp_loader_state_restore(l4, st, 10, err, sizeof err) != 0, "short state accepted");
    lp_loader_destroy(l4);
    lp_loader_destroy(l1);
    lp_loader_destroy(l2);
    CHECK(lp_loader_create(&l1, paths, 1, 1, 5000, 1, 1, err, sizeof err) != 0 && strstr(err, "fewer than"),
          "%s", err);
}

static void test_shard_build(void) {
    const char *text_a = "first doc\n%\nsecond doc\n%\n\n%\nthird doc\n", *text_b = "whole second file";
    write_file("ta.txt", text_a);
    write_file("tb.txt", text_b);
    const char *train[] = {"first doc second doc third doc"};
    lp_tokenizer *t;
    char err[256];
    size_t l = strlen(train[0]);
    lp_tok_train_opts o = {.vocab_size = 300, .min_frequency = 1};
    CHECK(lp_tokenizer_train_texts(&t, train, &l, 1, &o, err, sizeof err) == 0, "%s", err);
    const char *files[] = {path_of("ta.txt"), path_of("tb.txt")};
    lp_shard_build_opts so = {.val_fraction = 0.25, .doc_sep_line = "%", .seed = 1};
    lp_shard_build_stats st;
    CHECK(lp_shard_build(t, files, 2, dir, &so, &st, err, sizeof err) == 0, "%s", err);
    CHECK(st.docs[0] == 3 && st.docs[1] == 1, "docs %llu/%llu", (unsigned long long)st.docs[0],
          (unsigned long long)st.docs[1]);
    lp_shard *s[2];
    CHECK(lp_shard_open(&s[0], path_of("train.bin"), err, sizeof err) == 0, "%s", err);
    CHECK(lp_shard_open(&s[1], path_of("val.bin"), err, sizeof err) == 0, "%s", err);
    /* decode both shards: 4 documents, each ending with end-of-text, the blank one dropped */
    size_t total = 0;
    int eots = 0;
    for (int k = 0; k < 2; k++) {
        size_t n = lp_shard_count(s[k]);
        int32_t *ids = malloc((n + 1) * sizeof *ids);
        lp_shard_read(s[k], 0, n, ids);
        CHECK(n > 0 && ids[n - 1] == lp_tokenizer_eot(t), "shard does not end with end-of-text");
        for (size_t i = 0; i < n; i++) eots += ids[i] == lp_tokenizer_eot(t);
        char *txt;
        size_t tl;
        lp_tokenizer_decode(t, ids, n, 1, &txt, &tl, err, sizeof err);
        total += tl;
        free(txt);
        free(ids);
        lp_shard_close(s[k]);
    }
    CHECK(eots == 4, "%d documents", eots);
    CHECK(total == strlen("first doc\n") + strlen("second doc\n") + strlen("third doc\n") + strlen(text_b),
          "decoded %zu bytes", total);
    lp_tokenizer_destroy(t);
}

/* Loads name as kind and expects failure with msg (file:line:col prefix). */
static void expect_bad(const char *name, const char *content, lp_data_kind kind, const char *where,
                       const char *msg) {
    write_file(name, content);
    lp_dataset *d = NULL;
    char err[512] = "", want[600];
    int rc = lp_dataset_load(&d, path_of(name), kind, 0, err, sizeof err);
    snprintf(want, sizeof want, "%s:%s", path_of(name), where);
    CHECK(rc != 0 && strstr(err, want) == err && strstr(err, msg), "%s: want '%s%s', got '%s'", name, want,
          msg, err);
    if (!rc) lp_dataset_destroy(d);
}

static void test_records(void) {
    char err[512];
    expect_bad("s1.jsonl", "{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"a\"}\n",
               LP_DATA_SFT, "2:1: ", "missing field \"output\"");
    expect_bad("s2.jsonl",
               "\n{\"instruction\": \"a\", \"output\": \"b\"}\n  {\"instruction\": \"a\", \"output\": 3}\n",
               LP_DATA_SFT, "3:3: ", "field \"output\": expected a string, got a number");
    expect_bad("s3.jsonl", "{\"instruction\": \"a\", \"output\": \"b\",}\n", LP_DATA_SFT,
               "1:36: ", "string or '}' expected");
    expect_bad("s4.json",
               "[\n  {\"instruction\": \"a\", \"output\": \"b\"},\n  {\"instruction\": \"\", \"output\": "
               "\"b\"}\n]\n",
               LP_DATA_SFT, "3:3: ", "field \"instruction\" is empty");
    expect_bad(
        "s5.json",
        "[\n  {\"instruction\": \"a\", \"output\": \"b\"},\n  {\"instruction\": \"a\" \"output\": \"b\"}\n]",
        LP_DATA_SFT, "3:30: ", "'}' expected");
    expect_bad("s6.json", "[{\"instruction\": \"a\", \"output\": \"b\"} {\"x\": 1}]", LP_DATA_SFT,
               "1:38: ", "expected ',' or ']'");
    expect_bad("s7.jsonl", "{\"instruction\": \"a\", \"output\": \"b\"}\n[1]\n", LP_DATA_SFT,
               "2:1: ", "expected a JSON object, got an array");
    expect_bad("s8.json", "[1]", LP_DATA_SFT, "1:2: ", "'[' or '{' expected");
    expect_bad("p1.jsonl", "{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"a\"}\n", LP_DATA_PREF,
               "1:1: ", "same text");
    expect_bad("p2.jsonl",
               "{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\", \"margin\": \"big\"}\n",
               LP_DATA_PREF, "1:1", "field \"margin\": expected a number, got a string");
    expect_bad("r1.jsonl", "{\"prompt\": \"q\", \"responses\": [\"only one\"]}\n", LP_DATA_RANKED,
               "1:1: ", "at least 2");
    expect_bad("r2.jsonl", "{\"prompt\": \"q\", \"responses\": [\"a\", 2]}\n", LP_DATA_RANKED,
               "1:1: ", "[1]: expected a string");
    expect_bad("q1.jsonl", "{\"reference\": \"x\"}\n", LP_DATA_PROMPTS, "1:1: ", "missing field \"prompt\"");
    expect_bad("q2.jsonl", "{\"prompt\": \"caf\xc3\"}\n", LP_DATA_PROMPTS,
               "1:", "unable to decode byte 0xc3");

    /* skip-bad: counted, first message kept, good records intact */
    write_file("mixed.jsonl",
               "{\"prompt\": \"q1\", \"chosen\": \"a\", \"rejected\": \"b\", \"margin\": 1.5}\n"
               "{\"prompt\": \"q2\", \"chosen\": \"a\"}\n"
               "not json\n"
               "{\"prompt\": \"q3\", \"chosen\": \"c\", \"rejected\": \"d\"}\n");
    lp_dataset *d;
    CHECK(lp_dataset_load(&d, path_of("mixed.jsonl"), LP_DATA_PREF, 0, err, sizeof err) != 0 &&
              strstr(err, ":2:1: missing field \"rejected\""),
          "%s", err);
    CHECK(lp_dataset_load(&d, path_of("mixed.jsonl"), LP_DATA_PREF, 1, err, sizeof err) == 0, "%s", err);
    CHECK(lp_dataset_count(d) == 2 && lp_dataset_skipped(d) == 2, "count %zu skipped %zu",
          lp_dataset_count(d), lp_dataset_skipped(d));
    CHECK(strstr(lp_dataset_first_skip(d), "mixed.jsonl:2:1:"), "%s", lp_dataset_first_skip(d));
    const lp_record *r = lp_dataset_get(d, 0);
    CHECK(r->has_margin && r->margin == 1.5 && !strcmp(r->chosen, "a") && r->line == 1, "record 0");
    r = lp_dataset_get(d, 1);
    CHECK(!r->has_margin && !strcmp(r->prompt, "q3") && r->line == 4, "record 1 line %d", r->line);
    lp_dataset_destroy(d);

    write_file("ranked.json",
               "[{\"prompt\": \"q\", \"responses\": [\"best\", \"mid\", \"worst\"], \"extra\": 1}]");
    CHECK(lp_dataset_load(&d, path_of("ranked.json"), LP_DATA_RANKED, 0, err, sizeof err) == 0, "%s", err);
    r = lp_dataset_get(d, 0);
    CHECK(r->k == 3 && !strcmp(r->responses[0], "best") && !strcmp(r->responses[2], "worst"), "ranked");
    lp_dataset_destroy(d);
    write_file("empty.jsonl", "\n\n");
    CHECK(lp_dataset_load(&d, path_of("empty.jsonl"), LP_DATA_PROMPTS, 0, err, sizeof err) != 0 &&
              strstr(err, "no valid prompts records"),
          "%s", err);
    CHECK(lp_dataset_load(&d, path_of("missing.jsonl"), LP_DATA_PROMPTS, 0, err, sizeof err) != 0 &&
              strstr(err, "cannot open"),
          "%s", err);
}

static void test_sft(void) {
    char err[256];
    const char *corpus = "Sort these numbers. 1, 2, 3 Below is an instruction Response Input";
    size_t l = strlen(corpus);
    lp_tok_train_opts o = {.vocab_size = 320, .min_frequency = 1};
    lp_tokenizer *t;
    CHECK(lp_tokenizer_train_texts(&t, &corpus, &l, 1, &o, err, sizeof err) == 0, "%s", err);
    write_file("sft.json",
               "[{\"instruction\": \"Sort these numbers.\", \"input\": \"3, 1, 2\", \"output\": \"1, 2, 3\"},"
               " {\"instruction\": \"Say hi.\", \"output\": \"hi\"}]");
    lp_dataset *d;
    CHECK(lp_dataset_load(&d, path_of("sft.json"), LP_DATA_SFT, 0, err, sizeof err) == 0, "%s", err);
    char *p = lp_render_prompt(lp_alpaca_template(), "Say hi.", "");
    CHECK(!strcmp(p,
                  "Below is an instruction that describes a task. Write a response that appropriately "
                  "completes the request.\n\n"
                  "### Instruction:\nSay hi.\n\n### Response:\n"),
          "no-input template: %s", p);
    free(p);
    lp_sft_tokens ex[2];
    for (int i = 0; i < 2; i++) {
        const lp_record *r = lp_dataset_get(d, (size_t)i);
        CHECK(lp_sft_tokenize(t, lp_alpaca_template(), r, 0, &ex[i], err, sizeof err) == 0, "%s", err);
        /* the masked part decodes to exactly the response + end-of-text */
        lp_ids resp = {0};
        size_t first = 0;
        while (first < ex[i].n && !ex[i].mask[first]) first++;
        for (size_t k = first; k < ex[i].n; k++) {
            CHECK(ex[i].mask[k], "mask not contiguous");
            lp_ids_push(&resp, ex[i].ids[k]);
        }
        char *txt;
        size_t tl;
        lp_tokenizer_decode(t, resp.v, resp.n, 0, &txt, &tl, err, sizeof err);
        char want[64];
        snprintf(want, sizeof want, "%s<|endoftext|>", r->output);
        CHECK(!strcmp(txt, want), "masked text '%s'", txt);
        char *prompt = lp_render_prompt(lp_alpaca_template(), r->instruction, r->input);
        lp_tokenizer_decode(t, ex[i].ids, first, 0, &p, &tl, err, sizeof err);
        CHECK(!strcmp(p, prompt), "unmasked part '%s'", p);
        free(p);
        free(prompt);
        free(txt);
        lp_ids_free(&resp);
    }
    lp_sft_tokens cut;
    CHECK(lp_sft_tokenize(t, lp_alpaca_template(), lp_dataset_get(d, 0), 10, &cut, err, sizeof err) == 0 &&
              cut.n == 10 && cut.truncated,
          "truncation");
    lp_sft_tokens_free(&cut);
    /* packing: both fit in one row of their summed length, not in a shorter one */
    size_t T = ex[0].n + ex[1].n;
    lp_packed pk;
    CHECK(lp_sft_pack(ex, 2, T, -7, &pk, err, sizeof err) == 0 && pk.rows == 1, "rows %zu", pk.rows);
    CHECK(pk.seg[0] == 0 && pk.seg[T - 1] == 1 && !memcmp(pk.ids + ex[0].n, ex[1].ids, ex[1].n * 4),
          "packed layout");
    lp_packed_free(&pk);
    CHECK(lp_sft_pack(ex, 2, T - 1, -7, &pk, err, sizeof err) == 0 && pk.rows == 2, "rows %zu", pk.rows);
    CHECK(pk.ids[T - 2] == -7 && pk.seg[T - 2] == -1 && pk.mask[T - 2] == 0, "padding");
    lp_packed_free(&pk);
    lp_sft_tokens_free(&ex[0]);
    lp_sft_tokens_free(&ex[1]);
    lp_dataset_destroy(d);
    lp_prompt_template bad = {"no placeholders", "{instruction}"};
    CHECK(lp_template_check(&bad, err, sizeof err) != 0 && strstr(err, "{input}"), "%s", err);
    CHECK(lp_template_check(lp_alpaca_template(), err, sizeof err) == 0, "%s", err);
    lp_tokenizer_destroy(t);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s", getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
    test_shards();
    test_loader();
    test_shard_build();
    test_records();
    test_sft();
    DONE();
}
