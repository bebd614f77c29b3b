/* decode(encode(x)) == x for arbitrary bytes (invalid UTF-8 included), seeded
 * fuzz over a tokenizer trained here; plus special-token handling and the
 * error messages of bad tokenizer files. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/tokenizer.h"

#include "tests/support/check.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static const char *PIECES[] = {"the",
                               " quick",
                               " brown",
                               "狐狸",
                               "跳过",
                               "了",
                               " lazy",
                               "狗",
                               "。",
                               "，",
                               " 2024",
                               "'s",
                               "'ll",
                               "\n\n",
                               "  ",
                               "\t",
                               "<|endoftext|>",
                               "<|endo",
                               "ftext|>",
                               "é",
                               "ü",
                               "\xe2\x80\x99",
                               "\xf0\x9f\x98\x80",
                               "\xc3",
                               "\xa9",
                               "\xff",
                               "\x80",
                               "\xed\xa0\x80",
                               "\0",
                               "\xf4\x90\x80\x80",
                               "123",
                               "abc",
                               "ABC",
                               "!!!",
                               "\r\n"};

/* A random mixture of text pieces, lone bytes and cut multi-byte sequences. */
static size_t random_text(char *buf, size_t cap) {
    size_t n = 0, want = next_u32() % cap;
    while (n < want) {
        uint32_t k = next_u32() % 4;
        if (k == 0) {
            buf[n++] = (char)(next_u32() & 0xff);
        } else {
            const char *p = PIECES[next_u32() % (sizeof PIECES / sizeof PIECES[0])];
            size_t l = p[0] ? strlen(p) : 1;
            if (k == 1 && l > 1) l = 1 + next_u32() % (l - 1); /* cut it */
            if (n + l > want) break;
            memcpy(buf + n, p, l);
            n += l;
        }
    }
    return n;
}

static lp_tokenizer *train_small(void) {
    static const char corpus[] =
        "The quick brown fox jumps over the lazy dog. It's the dog's day; we'll see.\n"
        "敏捷的棕色狐狸跳过了懒狗。床前明月光，疑是地上霜。举头望明月，低头思故乡。\n"
        "Numbers 12345 and 2024, tabs\tand  double spaces.\n";
    const char *texts[4];
    size_t lens[4];
    for (int i = 0; i < 4; i++) {
        texts[i] = corpus;
        lens[i] = sizeof corpus - 1;
    }
    const char *special[] = {"<|user|>"};
    lp_tok_train_opts o = {.vocab_size = 400, .min_frequency = 1, .special = special, .n_special = 1};
    lp_tokenizer *t = NULL;
    char err[256];
    int rc = lp_tokenizer_train_texts(&t, texts, lens, 4, &o, err, sizeof err);
    CHECK(rc == 0, "train: %s", err);
    return t;
}

static void roundtrip(lp_tokenizer *t, const char *s, size_t n, int allow_special) {
    lp_ids ids = {0};
    char err[256], *back = NULL;
    size_t blen = 0;
    int rc = lp_tokenizer_encode(t, s, n, allow_special, &ids, err, sizeof err);
    CHECK(rc == 0, "encode: %s", err);
    rc = lp_tokenizer_decode(t, ids.v, ids.n, 0, &back, &blen, err, sizeof err);
    CHECK(rc == 0, "decode: %s", err);
    CHECK(rc == 0 && blen == n && memcmp(back, s, n) == 0, "round trip changed %zu bytes into %zu", n, blen);
    if (!allow_special) {
        for (size_t i = 0; i < ids.n; i++)
            CHECK(!lp_tokenizer_is_special(t, ids.v[i]), "special id %d without allow_special", ids.v[i]);
    }
    free(back);
    lp_ids_free(&ids);
}

static void test_fuzz(lp_tokenizer *t) {
    static char buf[4096];
    for (int it = 0; it < 3000; it++) {
        size_t n = random_text(buf, sizeof buf);
        roundtrip(t, buf, n, it & 1);
    }
    /* one long run without any separator exercises the heap merge path */
    size_t big = 200000;
    char *b = malloc(big);
    for (size_t i = 0; i < big; i++) b[i] = "ab\xe7\x8b\x90"[i % 5];
    roundtrip(t, b, big, 1);
    for (size_t i = 0; i < big; i++) b[i] = (char)(next_u32() & 0xff);
    roundtrip(t, b, big, 0);
    free(b);
}

static void test_special(lp_tokenizer *t) {
    const char s[] = "hi<|endoftext|>there<|user|>";
    lp_ids ids = {0};
    char err[256];
    CHECK(lp_tokenizer_encode(t, s, strlen(s), 1, &ids, err, sizeof err) == 0, "%s", err);
    int32_t eot = lp_tokenizer_eot(t), user = lp_tokenizer_token_id(t, "<|user|>", 8);
    CHECK(eot >= 256 && user >= 256 && lp_tokenizer_is_special(t, user), "eot %d user %d", eot, user);
    int seen_eot = 0, seen_user = 0;
    for (size_t i = 0; i < ids.n; i++) {
        seen_eot += ids.v[i] == eot;
        seen_user += ids.v[i] == user;
    }
    CHECK(seen_eot == 1 && seen_user == 1 && ids.v[ids.n - 1] == user, "specials not matched whole");
    char *back;
    size_t bl;
    CHECK(lp_tokenizer_decode(t, ids.v, ids.n, 1, &back, &bl, err, sizeof err) == 0, "%s", err);
    CHECK(bl == 7 && memcmp(back, "hithere", 7) == 0, "skip_special gave '%s'", back);
    free(back);
    int32_t bad = 1 << 30;
    CHECK(lp_tokenizer_decode(t, &bad, 1, 0, &back, &bl, err, sizeof err) != 0 &&
              strstr(err, "outside the vocabulary"),
          "unknown id accepted: %s", err);
    lp_ids_free(&ids);
    CHECK(lp_tokenizer_vocab_size(t) == 400, "vocab size %d", lp_tokenizer_vocab_size(t));
}

static void write_file(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    fputs(s, f);
    fclose(f);
}

static void expect_load_error(const char *dir, const char *name, const char *content, const char *msg) {
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_file(path, content);
    lp_tokenizer *t = NULL;
    int rc = lp_tokenizer_load(&t, path, err, sizeof err);
    CHECK(rc != 0 && strstr(err, path) && strstr(err, msg), "%s: expected '%s', got '%s'", name, msg, err);
    if (rc == 0) lp_tokenizer_destroy(t);
}

static void test_bad_files(lp_tokenizer *good) {
    const char *dir = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
    expect_load_error(dir, "syntax.json", "{\n \"model\": {\n  \"vocab\": {,\n", "3:");
    expect_load_error(dir, "nomodel.json", "{\"version\": \"1.0\"}", "missing object \"model\"");
    expect_load_error(dir, "wordpiece.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}",
                      "expected \"BPE\"");
    expect_load_error(dir, "gap.json",
                      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 2}, \"merges\": []}}",
                      "id 1 is missing");
    expect_load_error(
        dir, "merge.json",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a c\"]}}",
        "missing from the vocabulary");
    expect_load_error(dir, "pretok.json",
                      "{\"pre_tokenizer\": {\"type\": \"Whitespace\"}, \"model\": {\"type\": \"BPE\", "
                      "\"vocab\": {}, \"merges\": []}}",
                      "expected type \"ByteLevel\"");
    /* save / load / save gives the same ids */
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/rt.json", dir);
    CHECK(lp_tokenizer_save(good, path, err, sizeof err) == 0, "%s", err);
    lp_tokenizer *t2 = NULL;
    CHECK(lp_tokenizer_load(&t2, path, err, sizeof err) == 0, "%s", err);
    if (t2) {
        const char s[] = "The lazy 狐狸 jumps<|user|>";
        lp_ids a = {0}, b = {0};
        lp_tokenizer_encode(good, s, strlen(s), 1, &a, err, sizeof err);
        lp_tokenizer_encode(t2, s, strlen(s), 1, &b, err, sizeof err);
        CHECK(a.n == b.n && memcmp(a.v, b.v, a.n * 4) == 0, "reloaded tokenizer encodes differently");
        CHECK(lp_tokenizer_vocab_size(t2) == lp_tokenizer_vocab_size(good), "vocab size changed");
        lp_ids_free(&a);
        lp_ids_free(&b);
        lp_tokenizer_destroy(t2);
    }
}

int main(void) {
    lp_tokenizer *t = train_small();
    if (!t) return 1;
    test_fuzz(t);
    test_special(t);
    test_bad_files(t);
    lp_tokenizer_destroy(t);
    lp_tok_train_opts o = {.vocab_size = 100};
    char err[256];
    const char *txt = "x";
    size_t l = 1;
    CHECK(lp_tokenizer_train_texts(&t, &txt, &l, 1, &o, err, sizeof err) != 0 && strstr(err, "vocab-size"),
          "tiny vocab accepted: %s", err);
    DONE();
}
