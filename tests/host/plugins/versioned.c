/* One source, several builds: a descriptor claiming another ABI version or a
 * truncated size, selected by TEST_ABI_MAJOR / TEST_ABI_MINOR / TEST_SIZE. */
#include <stdlib.h>

#include "llmpipe/plugin.h"

#ifndef TEST_NAME
#error TEST_NAME must be defined
#endif
#ifndef TEST_ABI_MAJOR
#define TEST_ABI_MAJOR LP_ABI_MAJOR
#endif
#ifndef TEST_ABI_MINOR
#define TEST_ABI_MINOR LP_ABI_MINOR
#endif
#ifndef TEST_SIZE
#define TEST_SIZE sizeof(lp_stage_desc)
#endif

static int create(const lp_host_services *h, void **state, char *err, size_t n) {
    (void)err;
    (void)n;
    *state = (void *)h;
    return 0;
}

static int run(void *state, char *err, size_t n) {
    (void)err;
    (void)n;
    const lp_host_services *h = state;
    lp_metric m = {"ok", 1.0};
    h->emit_metrics(h->host, 1, &m, 1);
    return 0;
}

static void destroy(void *state) { (void)state; }

static const lp_stage_desc desc = {
    .size = TEST_SIZE,
    .abi_major = TEST_ABI_MAJOR,
    .abi_minor = TEST_ABI_MINOR,
    .name = TEST_NAME,
    .version = "0.1.0",
    .description = "test stage with a chosen ABI",
    .create = create,
    .run = run,
    .destroy = destroy,
};

LP_PLUGIN_EXPORT const lp_stage_desc *lp_plugin_entry(void) { return &desc; }
