/* `llmpipe watch`: declared in live_view.h (lp_cli_watch); this header only
 * exists so cli_commands.c can include one name per subcommand. */
#ifndef LLMPIPE_HOST_CLI_WATCH_H
#define LLMPIPE_HOST_CLI_WATCH_H

int lp_cli_watch(int argc, char **argv);

#endif
