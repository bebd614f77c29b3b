/* The host's subcommands. Each takes argv with argv[0] the subcommand name
 * and returns the process exit status: 0 ok, 1 the work failed, 2 bad usage
 * or bad input. */
#ifndef LP_HOST_CLI_H
#define LP_HOST_CLI_H

typedef struct lp_cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} lp_cli_command;

/* The dispatch table, terminated by a NULL name (host/cli_commands.c). */
extern const lp_cli_command lp_cli_commands[];

int lp_cli_run(int argc, char **argv);
int lp_cli_validate(int argc, char **argv);
int lp_cli_plugins(int argc, char **argv);
int lp_cli_worker(int argc, char **argv);
int lp_cli_keygen(int argc, char **argv);
int lp_cli_eval(int argc, char **argv);
int lp_cli_generate(int argc, char **argv);
int lp_cli_chat(int argc, char **argv);

#endif
