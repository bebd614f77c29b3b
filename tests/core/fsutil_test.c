/* Atomic files: nothing at the path before commit, the whole content after,
 * a header rewritten in place, no temporary left by abort or a failed
 * commit, and one-line errors naming the path. Also the folder helpers. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpipe/error.h"
#include "llmpipe/fsutil.h"
#include "tests/support/check.h"

static int entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d) closedir(d);
    return n;
}

int main(void) {
    char tmp[4096], dir[4200], path[4300], err[512];
    snprintf(tmp, sizeof tmp, "%s/fsXXXXXX", getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
    REQUIRE(mkdtemp(tmp), "mkdtemp %s", tmp);
    snprintf(dir, sizeof dir, "%s/a/b", tmp);
    REQUIRE(lp_mkdir_p(dir, err, sizeof err) == 0, "%s", err);

    /* Streamed content bigger than the buffer, then the header patched. */
    snprintf(path, sizeof path, "%s/big.bin", dir);
    lp_atomic_file *f = lp_atomic_open(path, err, sizeof err);
    REQUIRE(f, "%s", err);
    size_t total = 0;
    unsigned char chunk[1000];
    CHECK(lp_atomic_write(f, "HEAD", 4) == 0, "header");
    total += 4;
    for (int i = 0; i < 300; i++) {
        memset(chunk, i & 0xff, sizeof chunk);
        lp_atomic_write(f, chunk, sizeof chunk);
        total += sizeof chunk;
    }
    unsigned char *big = calloc(1, 200000);
    lp_atomic_write(f, big, 200000); /* larger than the buffer: written through */
    total += 200000;
    CHECK(access(path, F_OK) != 0, "%s visible before commit", path);
    CHECK(lp_atomic_pwrite(f, "head", 4, 0) == 0, "pwrite");
    CHECK(lp_atomic_commit(f, err, sizeof err) == 0, "%s", err);
    size_t len = 0;
    char *got = lp_read_file(path, &len, err, sizeof err);
    CHECK(got && len == total && !memcmp(got, "head", 4) && (unsigned char)got[4 + 1000 * 7] == 7 &&
              got[len - 1] == 0,
          "read back %zu of %zu bytes", len, total);
    free(got);
    free(big);
    CHECK(entries(dir) == 1, "%d entries in %s (a temporary left?)", entries(dir), dir);

    /* Replacing keeps the old content until commit; abort keeps it. */
    CHECK(lp_write_file_atomic(path, "one", 3, err, sizeof err) == 0, "%s", err);
    f = lp_atomic_open(path, err, sizeof err);
    lp_atomic_write(f, "two", 3);
    lp_atomic_abort(f);
    got = lp_read_file(path, &len, err, sizeof err);
    CHECK(got && !strcmp(got, "one"), "after abort: %s", got ? got : err);
    free(got);
    CHECK(entries(dir) == 1, "abort left %d entries", entries(dir));

    /* Errors name the path, on one line. */
    snprintf(path, sizeof path, "%s/missing/x.bin", tmp);
    CHECK(lp_write_file_atomic(path, "x", 1, err, sizeof err) == -1 && strstr(err, "missing/x.bin") &&
              strstr(err, "cannot create") && !strchr(err, '\n'),
          "%s", err);
    CHECK(lp_atomic_open(path, NULL, 0) == NULL, "a NULL error buffer is allowed");
    CHECK(lp_errf(NULL, 0, "%d", 1) == -1 && lp_errf(err, sizeof err, "k=%d", 7) == -1 && !strcmp(err, "k=7"),
          "lp_errf: %s", err);

    /* Folder helpers. */
    char parent[4096];
    lp_parent_dir("a/b/c.txt", parent, sizeof parent);
    CHECK(!strcmp(parent, "a/b"), "%s", parent);
    lp_parent_dir("c.txt", parent, sizeof parent);
    CHECK(!strcmp(parent, "."), "%s", parent);
    lp_parent_dir("/c.txt", parent, sizeof parent);
    CHECK(!strcmp(parent, "/"), "%s", parent);
    snprintf(path, sizeof path, "%s/a", tmp);
    snprintf(dir, sizeof dir, "%s/link", tmp);
    CHECK(symlink(path, dir) == 0, "symlink");
    CHECK(lp_remove_tree(dir) == 0 && access(path, F_OK) == 0, "a link is removed, not followed");
    CHECK(lp_remove_tree(path) == 0 && access(path, F_OK) != 0, "%s removed", path);
    CHECK(lp_remove_tree(path) == 0, "an absent path is already removed");
    CHECK(lp_remove_tree(tmp) == 0, "cleanup");
    DONE();
}
