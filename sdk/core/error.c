#include "llmpipe/error.h"

#include <stdio.h>

int lp_verrf(char *err, size_t n, const char *fmt, va_list ap) {
    if (err != NULL && n > 0) vsnprintf(err, n, fmt, ap);
    return -1;
}

int lp_errf(char *err, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lp_verrf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}
