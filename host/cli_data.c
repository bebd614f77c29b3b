/* `llmpipe data synth|shard|check`. */
#include <stdio.h>

#include "cli_text.h"

int lp_cli_data(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "llmpipe data: not implemented yet\n");
    return 2;
}
