/* Test driver standing in for the llmpipe binary: the same CLI functions
 * (//host:cli_text), so the text tests do not depend on the host being
 * built. */
#include <stdio.h>
#include <string.h>

#include "host/cli_text.h"

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "tokenizer")) return lp_cli_tokenizer(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "data")) return lp_cli_data(argc - 1, argv + 1);
    fprintf(stderr, "usage: %s tokenizer|data ...\n", argv[0]);
    return 2;
}
