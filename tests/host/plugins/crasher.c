/* A stage that segfaults in run(): only its worker may die. */
#include <signal.h>

#include "llmpipe/plugin.h"

static int create(const lp_host_services *h, void **state, char *err, size_t n) {
    (void)h;
    (void)err;
    (void)n;
    *state = (void *)1;
    return 0;
}

static int run(void *state, char *err, size_t n) {
    (void)state;
    (void)err;
    (void)n;
    raise(SIGSEGV);
    return 0;
}

static void destroy(void *state) { (void)state; }

static const lp_stage_desc desc = {
    LP_STAGE_DESC_INIT, .name = "crasher", .version = "0.0.1", .description = "test stage that segfaults",
    .create = create,   .run = run,        .destroy = destroy,
};

LP_PLUGIN_EXPORT const lp_stage_desc *lp_plugin_entry(void) { return &desc; }
