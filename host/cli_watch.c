/* llmpipe watch ENDPOINT|RUN_DIR [--topic PREFIX] [--server-key Z85]
 *               [--plain] [--for SECONDS]
 * A person's live view of a run's metrics stream (the metrics_out endpoint
 * printed by `llmpipe run`, also in the run folder's endpoints.json). */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "cli_watch.h"
#include "live_view.h"
#include "llmpipe/clock.h"
#include "sdk/comm/zmq_util.h"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

static int usage(const char *why) {
    fprintf(stderr,
            "llmpipe watch: %s\n"
            "usage: llmpipe watch ENDPOINT|RUN_DIR [--topic PREFIX] "
            "[--server-key Z85] [--plain] [--for SECONDS]\n"
            "  ENDPOINT      the run's metrics_out endpoint (tcp://... or "
            "ipc://...)\n"
            "  RUN_DIR       a run folder: its endpoints.json names the "
            "endpoint\n"
            "  --topic       RUN[/STAGE], or a raw topic prefix such as "
            "metrics/RUN\n"
            "  --server-key  the broker's CURVE public key (tcp endpoints with "
            "CURVE)\n"
            "  --plain       one line per update (default when stdout is not a "
            "terminal)\n"
            "  --for         stop after SECONDS (default: until Ctrl-C)\n",
            why);
    return 2;
}

/* RUN_DIR/endpoints.json -> metrics_out, copied into out. */
static int endpoint_from_run_dir(const char *dir, char *out, size_t out_size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/endpoints.json", dir);
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    if (!o) {
        fprintf(stderr, "llmpipe watch: %s: %s (line %d)\n", path, je.text, je.line);
        return -1;
    }
    const char *ep = json_string_value(json_object_get(o, "metrics_out"));
    int rc = -1;
    if (!ep)
        fprintf(stderr, "llmpipe watch: %s: no \"metrics_out\" string\n", path);
    else if ((size_t)snprintf(out, out_size, "%s", ep) < out_size)
        rc = 0;
    json_decref(o);
    return rc;
}

int lp_cli_watch(int argc, char **argv) {
    const char *endpoint = NULL, *topic = "", *key = NULL;
    int plain = !isatty(STDOUT_FILENO);
    double seconds = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--topic") || !strcmp(a, "--server-key") || !strcmp(a, "--for")) {
            if (i + 1 >= argc) {
                char why[96];
                snprintf(why, sizeof why, "%s needs a value", a);
                return usage(why);
            }
            const char *val = argv[++i];
            if (!strcmp(a, "--topic")) {
                topic = val;
            } else if (!strcmp(a, "--server-key")) {
                key = val;
            } else {
                char *end;
                seconds = strtod(val, &end);
                if (*end || seconds <= 0) return usage("--for needs a positive number");
            }
        } else if (!strcmp(a, "--plain")) {
            plain = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage("live view of a run's metrics stream");
            return 0;
        } else if (a[0] == '-') {
            char why[300];
            snprintf(why, sizeof why, "unknown option '%.200s'", a);
            return usage(why);
        } else if (!endpoint) {
            endpoint = a;
        } else {
            return usage("only one ENDPOINT may be given");
        }
    }
    if (!endpoint) return usage("missing ENDPOINT");
    char from_dir[1024];
    if (!strstr(endpoint, "://")) {
        char probe[4096];
        snprintf(probe, sizeof probe, "%s/endpoints.json", endpoint);
        if (access(probe, F_OK))
            return usage(
                "ENDPOINT must look like tcp://HOST:PORT or ipc://PATH, "
                "or be a run folder holding endpoints.json");
        if (endpoint_from_run_dir(endpoint, from_dir, sizeof from_dir)) return 2;
        endpoint = from_dir;
    }

    void *ctx = zmq_ctx_new();
    if (!ctx) {
        fprintf(stderr, "llmpipe watch: cannot create a zmq context\n");
        return 1;
    }
    char err[512] = "";
    lp_live_view *v = lp_live_view_create_ex(ctx, endpoint, topic, plain, key, NULL, err, sizeof err);
    if (!v) {
        fprintf(stderr, "llmpipe watch: %s\n", err);
        zmq_ctx_term(ctx);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int64_t end = seconds > 0 ? lp_mono_ms() + (int64_t)(seconds * 1000) : -1;
    while (!stop_flag && (end < 0 || lp_mono_ms() < end)) usleep(50000);
    lp_live_view_destroy(v);
    zmq_ctx_term(ctx);
    return 0;
}
