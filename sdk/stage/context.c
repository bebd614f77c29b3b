/* The kernel context of a stage and its logging. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "stage_internal.h"

void lp_stage_logf(const lp_host_services *h, lp_log_level level, const char *fmt, ...) {
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    h->log(h->host, level, msg);
}

lpk_ctx *lp_kernel_ctx_open(const char *who, const char *dev, int threads, const char *precision, char *err,
                            size_t errsz) {
    if (!dev || !*dev) dev = "cpu";
    lpk_precision prec;
    if (!precision || !strcmp(precision, "fp32")) {
        prec = LPK_PREC_FP32;
    } else if (!strcmp(precision, "bf16")) {
        prec = LPK_PREC_BF16;
    } else {
        lp_errf(err, errsz, "%s: precision \"%s\": expected \"fp32\" or \"bf16\"", who, precision);
        return NULL;
    }
    lpk_ctx_opts o = {.backend = dev, .num_threads = threads, .precision = prec};
    char why[512] = "";
    lpk_ctx *c = lpk_ctx_create(&o, why, sizeof why);
    if (!c) lp_errf(err, errsz, "%s: device \"%s\": %s", who, dev, why);
    return c;
}

lpk_ctx *lp_stage_kernel_ctx(const lp_host_services *h, const char *precision, char *err, size_t errsz) {
    char who[160];
    snprintf(who, sizeof who, "stage '%s'", lp_stage_name(h));
    return lp_kernel_ctx_open(who, h->device ? h->device(h->host) : NULL, h->threads(h->host), precision, err,
                              errsz);
}
