/* `llmpipe watch` without the rest of the host, for the tests. */
#include "host/cli_watch.h"

int main(int argc, char **argv) { return lp_cli_watch(argc - 1, argv + 1); }
