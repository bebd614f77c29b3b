/* `llmpipe run` and `llmpipe validate`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/cli.h"
#include "host/config.h"
#include "host/runner.h"

typedef struct run_args {
    const char *config;
    const char **sets;
    size_t set_count;
    lp_run_opts opts;
} run_args;

static int parse(int argc, char **argv, run_args *a, int allow_run_opts) {
    memset(a, 0, sizeof *a);
    a->sets = calloc((size_t)argc + 1, sizeof *a->sets);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--set") == 0 && i + 1 < argc) {
            a->sets[a->set_count++] = argv[++i];
        } else if (strncmp(s, "--set=", 6) == 0) {
            a->sets[a->set_count++] = s + 6;
        } else if (allow_run_opts && strcmp(s, "--resume") == 0) {
            a->opts.resume = 1;
        } else if (allow_run_opts && strcmp(s, "--quiet") == 0) {
            a->opts.quiet = 1;
        } else if (allow_run_opts && strcmp(s, "--only") == 0 && i + 1 < argc) {
            a->opts.only = argv[++i];
        } else if (s[0] == '-') {
            fprintf(stderr, "llmpipe %s: unknown or incomplete option '%s'\n", argv[0], s);
            return -1;
        } else if (a->config == NULL) {
            a->config = s;
        } else {
            fprintf(stderr, "llmpipe %s: one config file expected, got '%s' too\n", argv[0], s);
            return -1;
        }
    }
    if (a->config == NULL) {
        fprintf(stderr, "usage: llmpipe %s CONFIG%s [--set KEY=VALUE]...\n", argv[0],
                allow_run_opts ? " [--resume] [--only STAGE] [--quiet]" : "");
        return -1;
    }
    return 0;
}

/* Parses the arguments and loads the chain they name (NULL: the reason is
 * already on stderr, exit code 2). */
static lp_chain *load(int argc, char **argv, run_args *a, int allow_run_opts) {
    lp_chain *c = NULL;
    if (parse(argc, argv, a, allow_run_opts) == 0)
        c = lp_chain_load(a->config, a->sets, a->set_count, stderr);
    free(a->sets);
    a->sets = NULL;
    return c;
}

int lp_cli_validate(int argc, char **argv) {
    run_args a;
    lp_chain *c = load(argc, argv, &a, 0);
    if (c == NULL) return 2;
    printf("%s: ok, %zu stage%s:", a.config, c->stage_count, c->stage_count == 1 ? "" : "s");
    for (size_t i = 0; i < c->stage_count; i++)
        printf(" %s(%s %s)%s", c->stages[i].name, c->stages[i].plugin, c->stages[i].loaded.desc->version,
               i + 1 < c->stage_count ? " ->" : "");
    printf("\n");
    lp_chain_free(c);
    return 0;
}

int lp_cli_run(int argc, char **argv) {
    run_args a;
    lp_chain *c = load(argc, argv, &a, 1);
    if (c == NULL) return 2;
    int rc = lp_run_chain(c, &a.opts);
    lp_chain_free(c);
    return rc;
}
