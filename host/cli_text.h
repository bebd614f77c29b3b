/* CLI subcommands for the tokenizer and the datasets (host/cli_tokenizer.c,
 * host/cli_data.c). argv[0] is the subcommand name. Exit codes: 0 ok,
 * 1 runtime error, 2 usage or input error. */
#ifndef LLMPIPE_HOST_CLI_TEXT_H
#define LLMPIPE_HOST_CLI_TEXT_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int lp_cli_tokenizer(int argc, char **argv);
int lp_cli_data(int argc, char **argv);

/* Help for these commands: no sub-command prints `usage` to stderr and
 * returns 2; -h or --help anywhere prints it to stdout and returns 0;
 * otherwise returns -1 and the command goes on. */
static inline int lp_cli_usage(int argc, char **argv, const char *usage) {
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
    return -1;
}

/* "llmpipe CMD: message", then the usage, on stderr; returns 2 (usage or
 * input error). */
static inline int lp_cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int lp_cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "llmpipe %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

#endif
