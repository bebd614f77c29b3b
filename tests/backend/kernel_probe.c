/* Test stage: creates a kernel context the way a stage does (backend "cpu")
 * and writes which build the loader chose and what LLMPIPE_CPU_BACKEND the
 * worker saw into the file named by its parameter. Being a plugin (hidden
 * symbols, loaded RTLD_LOCAL), it also proves that a backend library loads
 * from inside one. */
#include <stdio.h>
#include <stdlib.h>

#include <lpk/kernels.h>

#include "llmpipe/plugin.h"

static const lp_param_spec params[] = {
    {"file", LP_PARAM_STRING, NULL, 1, "where to write the chosen build"},
};

typedef struct probe {
    const lp_host_services *h;
    const char *file;
} probe;

static int create(const lp_host_services *h, void **state, char *err, size_t n) {
    probe *p = calloc(1, sizeof *p);
    if (h->param_string(h->host, "file", &p->file) != 0) {
        snprintf(err, n, "parameters: %s", h->last_error(h->host));
        free(p);
        return -1;
    }
    p->h = h;
    *state = p;
    return 0;
}

static int run(void *state, char *err, size_t n) {
    probe *p = state;
    lpk_ctx *ctx = lpk_ctx_create(&(lpk_ctx_opts){.backend = "cpu", .num_threads = 1}, err, n);
    if (!ctx) return -1;
    FILE *f = fopen(p->file, "w");
    if (!f) {
        snprintf(err, n, "cannot write %s", p->file);
        lpk_ctx_destroy(ctx);
        return -1;
    }
    const char *env = getenv("LLMPIPE_CPU_BACKEND");
    fprintf(f, "%s %s\n", lpk_ctx_backend_name(ctx), env ? env : "-");
    fclose(f);
    lpk_ctx_destroy(ctx);
    return 0;
}

static void destroy(void *state) { free(state); }

static const lp_stage_desc desc = {
    LP_STAGE_DESC_INIT, .name = "kernel_probe",
    .version = "1.0.0", .description = "test stage: reports the kernel build chosen",
    .params = params,   .param_count = sizeof params / sizeof params[0],
    .create = create,   .run = run,
    .destroy = destroy,
};

LP_PLUGIN_EXPORT const lp_stage_desc *lp_plugin_entry(void) { return &desc; }
