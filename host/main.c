/* llmpipe: the host executable. Everything below the CLI returns errors;
 * only this file turns them into exit statuses. */
#include <stdio.h>
#include <string.h>

#include "host/cli.h"
#include "llmpipe/version.h"

#define LP_HOST_VERSION "0.1.0"

static void help(FILE *out) {
    fprintf(out, "usage: llmpipe COMMAND [ARGS]\n\ncommands:\n");
    for (const lp_cli_command *c = lp_cli_commands; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out,
            "  %-10s print host, SDK and plugin ABI versions\n"
            "  %-10s this text\n\n"
            "`llmpipe COMMAND --help` explains one command.\n",
            "--version", "help");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        help(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        int major, minor;
        lp_abi_version(&major, &minor);
        printf("llmpipe %s (SDK %s, plugin ABI %d.%d)\n", LP_HOST_VERSION, lp_sdk_version(), major, minor);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        help(stdout);
        return 0;
    }
    for (const lp_cli_command *c = lp_cli_commands; c->name; c++)
        if (strcmp(c->name, cmd) == 0) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "llmpipe: unknown command '%s' (see `llmpipe help`)\n", cmd);
    return 2;
}
