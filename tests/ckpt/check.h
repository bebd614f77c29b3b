/* Minimal test macros for the checkpoint tests. */
#ifndef LLMPIPE_TESTS_CKPT_CHECK_H
#define LLMPIPE_TESTS_CKPT_CHECK_H
#include <stdio.h>

static int g_fails, g_checks;
#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        g_checks++;                                                        \
        if (!(cond)) {                                                     \
            g_fails++;                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
        }                                                                  \
    } while (0)
#define DONE()                                                             \
    do {                                                                   \
        fprintf(stderr, "%d checks, %d failures\n", g_checks, g_fails);    \
        return g_fails ? 1 : 0;                                            \
    } while (0)
#endif
