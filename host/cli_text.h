/* CLI subcommands for the tokenizer and the datasets (host/cli_tokenizer.c,
 * host/cli_data.c). argv[0] is the subcommand name. Exit codes: 0 ok,
 * 1 runtime error, 2 usage or input error. */
#ifndef LLMPIPE_HOST_CLI_TEXT_H
#define LLMPIPE_HOST_CLI_TEXT_H

int lp_cli_tokenizer(int argc, char **argv);
int lp_cli_data(int argc, char **argv);

#endif
