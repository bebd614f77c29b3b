/* `llmpipe keygen`: a CURVE key pair to paste into a config's curve group. */
#include <stdio.h>
#include <zmq.h>

#include "host/cli.h"

int lp_cli_keygen(int argc, char **argv) {
    (void)argc;
    (void)argv;
    if (!zmq_has("curve")) {
        fprintf(stderr,
                "llmpipe keygen: this libzmq was built without CURVE "
                "support\n");
        return 1;
    }
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(stderr, "llmpipe keygen: zmq_curve_keypair failed\n");
        return 1;
    }
    printf(
        "curve = {\n  server_public_key = \"%s\";\n  server_secret_key = "
        "\"%s\";\n};\n",
        pub, sec);
    return 0;
}
