/* The check macro of the text tests: a failed check prints file:line, the
 * condition and a message, and counts; main returns failures != 0. */
#ifndef LLMPIPE_TESTS_TEXT_CHECK_H
#define LLMPIPE_TESTS_TEXT_CHECK_H
#include <stdio.h>

static int failures;
#define CHECK(c, ...)                                                   \
    do {                                                                \
        if (!(c)) {                                                     \
            failures++;                                                 \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #c); \
            fprintf(stderr, __VA_ARGS__);                               \
            fputc('\n', stderr);                                        \
        }                                                               \
    } while (0)

#endif
