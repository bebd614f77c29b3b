/* A stage whose create() refuses, with a reason the host must pass on. */
#include <stdio.h>

#include "llmpipe/plugin.h"

static int create(const lp_host_services *h, void **state, char *err, size_t n) {
    (void)h;
    (void)state;
    snprintf(err, n, "dataset 'missing.jsonl' not found");
    return -1;
}

static int run(void *state, char *err, size_t n) {
    (void)state;
    (void)err;
    (void)n;
    return 0;
}

static void destroy(void *state) { (void)state; }

static const lp_stage_desc desc = {
    LP_STAGE_DESC_INIT, .name = "create_fails",
    .version = "0.1.0", .description = "test stage whose create() fails",
    .create = create,   .run = run,
    .destroy = destroy,
};

LP_PLUGIN_EXPORT const lp_stage_desc *lp_plugin_entry(void) { return &desc; }
