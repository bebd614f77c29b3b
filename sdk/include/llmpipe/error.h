/* The SDK's one error convention: a function that fails writes a one-line
 * message (naming the file, key or value and what was expected) into the
 * caller's buffer and returns -1, so a failure path is a single statement:
 *
 *     if (fd < 0) return lp_errf(err, errsz, "%s: cannot open: %s", path, ...);
 *
 * A NULL or zero-sized buffer is allowed: the message is then dropped. */
#ifndef LLMPIPE_ERROR_H
#define LLMPIPE_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LP_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define LP_PRINTF(fmt, args)
#endif

/* Formats into err (when err is non-NULL and n > 0) and returns -1. */
int lp_errf(char *err, size_t n, const char *fmt, ...) LP_PRINTF(3, 4);
int lp_verrf(char *err, size_t n, const char *fmt, va_list ap) LP_PRINTF(3, 0);

#ifdef __cplusplus
}
#endif
#endif
