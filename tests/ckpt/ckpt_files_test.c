/* Trainer-state file (round trip, refusals of corrupted, truncated, foreign
 * and future-version files) and in-stage checkpoint folders (seal, verify,
 * keep-last-K rotation, fallback past a broken newest folder). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpipe/ckpt.h"
#include "tests/support/check.h"

static char dir[4096];

static void flip(const char *path, long off) {
    FILE *f = fopen(path, "r+b");
    fseek(f, off, off < 0 ? SEEK_END : SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, off < 0 ? SEEK_END : SEEK_SET);
    fputc(c ^ 0x01, f);
    fclose(f);
}

static void copy(const char *a, const char *b) {
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", a, b);
    if (system(cmd)) fprintf(stderr, "cp failed\n");
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_state(void) {
    char path[4200], bad[4200], err[1024], hex[65];
    snprintf(path, sizeof path, "%s/trainer.state", dir);
    lp_state_writer *w;
    CHECK(lp_state_writer_open(&w, path, err, sizeof err) == 0, "%s", err);
    float big[1000];
    for (int i = 0; i < 1000; i++) big[i] = (float)i * 0.5f;
    lp_state_put_i64(w, "step", -42);
    lp_state_put_f64(w, "val", 3.25);
    lp_state_put(w, "moments", big, sizeof big);
    lp_state_put(w, "empty", NULL, 0);
    CHECK(lp_state_writer_close(w, hex, err, sizeof err) == 0, "%s", err);
    CHECK(strlen(hex) == 64, "hash %s", hex);
    lp_state *s;
    CHECK(lp_state_load(&s, path, err, sizeof err) == 0, "%s", err);
    int64_t step = 0;
    double val = 0;
    float back[1000];
    size_t n = 99;
    CHECK(lp_state_get_i64(s, "step", &step, err, sizeof err) == 0 && step == -42, "step %lld",
          (long long)step);
    CHECK(lp_state_get_f64(s, "val", &val, err, sizeof err) == 0 && val == 3.25, "val %g", val);
    CHECK(lp_state_read(s, "moments", back, sizeof back, err, sizeof err) == 0 &&
              !memcmp(back, big, sizeof big),
          "moments");
    CHECK(lp_state_get(s, "empty", &n) != NULL && n == 0, "empty record");
    CHECK(lp_state_get(s, "nope", NULL) == NULL, "absent record");
    CHECK(lp_state_read(s, "moments", back, 8, err, sizeof err) == -1 && strstr(err, "expected 8"), "%s",
          err);
    fprintf(stderr, "refused size   %s\n", err);
    lp_state_free(s);

    struct {
        const char *name;
        long off;
        const char *want;
    } cases[] = {
        {"bitflip", 2000, "hash mismatch"},
        {"magic", 0, "not a trainer-state file"},
        {"hashflip", -1, "hash mismatch"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(bad, sizeof bad, "%s/%s.state", dir, cases[i].name);
        copy(path, bad);
        flip(bad, cases[i].off);
        s = NULL;
        CHECK(lp_state_load(&s, bad, err, sizeof err) == -1 && !s && strstr(err, cases[i].want), "%s: %s",
              cases[i].name, err);
        fprintf(stderr, "refused %-6s %s\n", cases[i].name, err);
    }
    snprintf(bad, sizeof bad, "%s/truncated.state", dir);
    copy(path, bad);
    CHECK(truncate(bad, 3000) == 0, "truncate");
    CHECK(lp_state_load(&s, bad, err, sizeof err) == -1 && strstr(err, "hash mismatch"), "%s", err);
    fprintf(stderr, "refused trunc  %s\n", err);
    /* a future version: refused by number, before the hash */
    snprintf(bad, sizeof bad, "%s/v2.state", dir);
    copy(path, bad);
    FILE *f = fopen(bad, "r+b");
    fseek(f, 8, SEEK_SET);
    fputc(2, f);
    fclose(f);
    CHECK(
        lp_state_load(&s, bad, err, sizeof err) == -1 && strstr(err, "version 2, this build reads version 1"),
        "%s", err);
    fprintf(stderr, "refused ver    %s\n", err);
}

static int isdir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_folders(void) {
    char parent[4200], tmp[4200], fin[4200], p[4400], err[1024];
    snprintf(parent, sizeof parent, "%s/ckpt", dir);
    for (int64_t step = 10; step <= 40; step += 10) {
        CHECK(lp_ckpt_begin(parent, step, tmp, sizeof tmp, err, sizeof err) == 0, "%s", err);
        snprintf(p, sizeof p, "%s/weights.bin", tmp);
        char text[64];
        snprintf(text, sizeof text, "weights of step %lld\n", (long long)step);
        write_text(p, text);
        CHECK(lp_ckpt_commit(parent, step, 2, fin, sizeof fin, err, sizeof err) == 0, "%s", err);
        CHECK(!isdir(tmp) && isdir(fin), "sealed %s", fin);
    }
    snprintf(p, sizeof p, "%s/step-00000020", parent);
    CHECK(!isdir(p), "rotation removed step 20");
    snprintf(p, sizeof p, "%s/step-00000030", parent);
    CHECK(isdir(p), "rotation kept step 30");
    /* debris of a crash mid-write is never picked */
    CHECK(lp_ckpt_begin(parent, 50, tmp, sizeof tmp, err, sizeof err) == 0, "%s", err);
    snprintf(p, sizeof p, "%s/weights.bin", tmp);
    write_text(p, "half");
    char got[4200];
    int64_t step = -1;
    CHECK(lp_ckpt_latest(parent, got, sizeof got, &step, err, sizeof err) == 1 && step == 40, "latest %lld",
          (long long)step);
    /* a corrupted newest folder is skipped, with the reason */
    snprintf(p, sizeof p, "%s/step-00000040/weights.bin", parent);
    flip(p, 0);
    CHECK(lp_ckpt_verify(got, err, sizeof err) == -1 && strstr(err, "SHA-256 mismatch"), "%s", err);
    fprintf(stderr, "refused folder %s\n", err);
    CHECK(lp_ckpt_latest(parent, got, sizeof got, &step, err, sizeof err) == 1 && step == 30 &&
              strstr(err, "skipped broken checkpoint"),
          "fallback to %lld (%s)", (long long)step, err);
    /* an extra, unlisted file is refused too */
    snprintf(p, sizeof p, "%s/step-00000030/extra", parent);
    write_text(p, "x");
    snprintf(p, sizeof p, "%s/step-00000030", parent);
    CHECK(lp_ckpt_verify(p, err, sizeof err) == -1 && strstr(err, "lists 1 files, the folder holds 2"), "%s",
          err);
    CHECK(lp_ckpt_latest(parent, got, sizeof got, &step, err, sizeof err) == 0, "nothing valid left");
    /* copying a folder's files: the copy verifies against the same checksums */
    char cp[4300];
    snprintf(p, sizeof p, "%s/step-00000030/extra", parent);
    unlink(p);
    snprintf(p, sizeof p, "%s/step-00000030", parent);
    snprintf(cp, sizeof cp, "%s/copy", dir);
    CHECK(lp_copy_dir_files(p, cp, err, sizeof err) == 0 && lp_ckpt_verify(cp, err, sizeof err) == 0,
          "copy: %s", err);
    CHECK(lp_ckpt_clear(parent) == 0, "clear");
    snprintf(p, sizeof p, "%s/step-00000030", parent);
    CHECK(!isdir(p) && !isdir(tmp), "clear removes sealed and unsealed folders");
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/ckXXXXXX", getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) return 2;
    test_state();
    test_folders();
    DONE();
}
