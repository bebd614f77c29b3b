/* Choosing a CPU build: automatic (the best this CPU runs), forced by name
 * and by LLMPIPE_CPU_BACKEND (a name beats the variable), and the one-line
 * errors for a bad name, a build this CPU cannot run, a missing library and
 * the absent CUDA backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lpk/kernels.h>

#include "tests/support/check.h"

static const char *const builds[] = {"avx512", "avx2", "x86-64-v2"}; /* best first */

/* The chosen build's name, or "" with err filled. */
static void chosen(const char *backend, char *name, size_t len, char *err, size_t errlen) {
    lpk_ctx *c = lpk_ctx_create(&(lpk_ctx_opts){.backend = backend, .num_threads = 1}, err, errlen);
    snprintf(name, len, "%s", c ? lpk_ctx_backend_name(c) : "");
    lpk_ctx_destroy(c);
}

static void expect_error(const char *backend, const char *want) {
    char name[64], err[1024];
    chosen(backend, name, sizeof name, err, sizeof err);
    printf("%-16s -> %s\n", backend ? backend : "(NULL)", name[0] ? name : err);
    CHECK(!name[0], "%s: expected an error, got %s", backend, name);
    CHECK(strstr(err, want), "%s: error '%s' does not say '%s'", backend, err, want);
    CHECK(!strchr(err, '\n'), "%s: error is not one line: %s", backend, err);
}

int main(void) {
    unsetenv("LLMPIPE_CPU_BACKEND"); /* --config=portable sets it */
    char name[64], err[1024], want[64] = "";
    for (int i = 0; i < 3; i++) {
        char full[32];
        snprintf(full, sizeof full, "cpu:%s", builds[i]);
        int ok = lpk_backend_available(full, err, sizeof err);
        printf("%-16s %s%s\n", full, ok ? "runs here" : "skipped: ", ok ? "" : err);
        if (ok && !want[0]) snprintf(want, sizeof want, "%s", full);
        if (ok) {
            chosen(full, name, sizeof name, err, sizeof err);
            CHECK(!strcmp(name, full), "forcing %s gave '%s' (%s)", full, name, err);
        } else {
            CHECK(strstr(err, ": this CPU cannot run it (needs ") && !strchr(err, '\n'),
                  "%s: unexpected reason: %s", full, err);
        }
    }
    CHECK(want[0], "no CPU build runs here");

    chosen(NULL, name, sizeof name, err, sizeof err);
    printf("%-16s -> %s (auto)\n", "(NULL)", name);
    CHECK(!strcmp(name, want), "auto chose '%s', expected the best supported %s (%s)", name, want, err);
    chosen("cpu", name, sizeof name, err, sizeof err);
    CHECK(!strcmp(name, want), "'cpu' chose '%s', expected %s", name, want);

    setenv("LLMPIPE_CPU_BACKEND", "x86-64-v2", 1);
    chosen(NULL, name, sizeof name, err, sizeof err);
    printf("LLMPIPE_CPU_BACKEND=x86-64-v2 -> %s\n", name[0] ? name : err);
    CHECK(!strcmp(name, "cpu:x86-64-v2"), "env forced '%s' (%s)", name, err);
    chosen("cpu", name, sizeof name, err, sizeof err);
    CHECK(!strcmp(name, "cpu:x86-64-v2"), "env with 'cpu' gave '%s' (%s)", name, err);
    setenv("LLMPIPE_CPU_BACKEND", "cpu:x86-64-v2", 1);
    chosen(NULL, name, sizeof name, err, sizeof err);
    CHECK(!strcmp(name, "cpu:x86-64-v2"), "env 'cpu:x86-64-v2' gave '%s' (%s)", name, err);
    if (strcmp(want, "cpu:x86-64-v2")) { /* an explicit name beats the variable */
        chosen(want, name, sizeof name, err, sizeof err);
        CHECK(!strcmp(name, want), "name %s under the variable gave '%s'", want, name);
    }
    setenv("LLMPIPE_CPU_BACKEND", "auto", 1);
    chosen(NULL, name, sizeof name, err, sizeof err);
    CHECK(!strcmp(name, want), "env auto gave '%s'", name);

    setenv("LLMPIPE_CPU_BACKEND", "pentium", 1);
    expect_error(NULL, "LLMPIPE_CPU_BACKEND=pentium: unknown CPU build 'pentium'");
    setenv("LLMPIPE_CPU_BACKEND", "avx512", 1);
    if (!lpk_backend_available("cpu:avx512", err, sizeof err))
        expect_error(NULL,
                     "kernel backend cpu:avx512 (from LLMPIPE_CPU_BACKEND): this CPU cannot run it (needs ");
    unsetenv("LLMPIPE_CPU_BACKEND");
    expect_error("cpu:pentium", "unknown CPU build 'pentium' (expected auto, x86-64-v2");
    expect_error("../evil", "not a backend name");
    expect_error("cuda", "device cuda: this build has no CUDA backend (liblpk_cuda.so not found in");
    CHECK(!lpk_backend_available("cuda", err, sizeof err), "cuda reported available");

    /* LLMPIPE_KERNEL_PATH is searched first */
    setenv("LLMPIPE_KERNEL_PATH", "/nonexistent/a:/nonexistent/b", 1);
    expect_error("nosuch", "liblpk_nosuch.so not found in /nonexistent/a:/nonexistent/b:");
    chosen(NULL, name, sizeof name, err, sizeof err);
    CHECK(!strcmp(name, want), "with a bad LLMPIPE_KERNEL_PATH: '%s' (%s)", name, err);

    DONE();
}
