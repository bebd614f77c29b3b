/* The one check macro of the C tests.
 *
 *   CHECK(cond, fmt, ...)  counts the check; when cond is false prints
 *                          "FAIL file:line: cond: message" and goes on, so
 *                          one run shows every failure;
 *   REQUIRE(cond, fmt, ...) the same, then returns 1 from the enclosing
 *                          function: for checks the rest of a test stands on
 *                          (use it in main or in an int-returning helper);
 *   ASSERT(cond, fmt, ...) the same, then exits with status 1: for helpers
 *                          whose callers cannot go on after a failure;
 *   DONE()                 prints "N checks, M failures" and returns from
 *                          main: 0 when nothing failed.
 *
 * The message is required (say what was seen, not only what was expected). */
#ifndef LLMPIPE_TESTS_SUPPORT_CHECK_H
#define LLMPIPE_TESTS_SUPPORT_CHECK_H
#include <stdio.h>
#include <stdlib.h>

static int lp_test_checks, lp_test_failures;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        lp_test_checks++;                                                   \
        if (!(cond)) {                                                      \
            lp_test_failures++;                                             \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

#define REQUIRE(cond, ...)                                 \
    do {                                                   \
        int lp_test_before_ = lp_test_failures;            \
        CHECK(cond, __VA_ARGS__);                          \
        if (lp_test_failures != lp_test_before_) return 1; \
    } while (0)

#define ASSERT(cond, ...)                                 \
    do {                                                  \
        int lp_test_before_ = lp_test_failures;           \
        CHECK(cond, __VA_ARGS__);                         \
        if (lp_test_failures != lp_test_before_) exit(1); \
    } while (0)

#define DONE()                                                                         \
    do {                                                                               \
        fprintf(stderr, "%d checks, %d failures\n", lp_test_checks, lp_test_failures); \
        return lp_test_failures ? 1 : 0;                                               \
    } while (0)

#endif
