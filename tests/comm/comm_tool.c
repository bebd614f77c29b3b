/* Test helper around the data plane, driven by the Python tests:
 *   comm_tool broker RUN_DIR IN OUT STORE [--secret Z85] [--timeout MS]
 *       prints one JSON line of endpoints, serves until stdin closes, then
 *       prints {"vmhwm_kb":..,"captured":..}
 *   comm_tool publish ENDPOINT RUN STAGE COUNT [--key Z85]
 *   comm_tool pubrate ENDPOINT COUNT [--tail MS] [--step-us N] [--stage S]
 *       (run "rate", stage S or "bench"; prints msgs/s and drops)
 *   comm_tool put|get ENDPOINT NAME DIR [--key Z85] [--timeout MS]
 *       prints {"ok":..,"hash":..,"error":..,"vmhwm_kb":..}; exit 0 / 1 / 3 (not found)
 *   comm_tool mkfile PATH BYTES SEED             (pseudo-random content)
 *   comm_tool keypair                            (prints PUBLIC SECRET) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "host/broker.h"
#include "llmpipe/clock.h"
#include "sdk/comm/comm.h"
#include "sdk/comm/zmq_util.h"

static long vmhwm_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kb;
}

static const char *opt(int argc, char **argv, const char *name) {
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return NULL;
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static int cmd_broker(void *ctx, int argc, char **argv) {
    if (argc < 6) return 2;
    const char *to = opt(argc, argv, "--timeout");
    lp_broker_config cfg = {.run_dir = argv[2],
                            .metrics_in = argv[3],
                            .metrics_out = argv[4],
                            .store = argv[5],
                            .curve_secret_key = opt(argc, argv, "--secret"),
                            .transfer_timeout_ms = to ? atoi(to) : 0};
    char err[512];
    lp_broker *b = lp_broker_create(ctx, &cfg, err, sizeof err);
    if (!b) {
        printf("{\"error\":");
        json_str(err);
        printf("}\n");
        return 1;
    }
    const char *pk = lp_broker_curve_public_key(b);
    printf(
        "{\"metrics_in\":\"%s\",\"metrics_out\":\"%s\",\"store\":\"%s\","
        "\"public_key\":",
        lp_broker_endpoint(b, "metrics_in"), lp_broker_endpoint(b, "metrics_out"),
        lp_broker_endpoint(b, "store"));
    if (pk)
        json_str(pk);
    else
        printf("null");
    printf("}\n");
    fflush(stdout);
    char buf[256];
    /* Commands on stdin: "hash NAME" answers the artifact hash; EOF stops. */
    while (fgets(buf, sizeof buf, stdin)) {
        if (!strncmp(buf, "hash ", 5)) {
            buf[strcspn(buf, "\n")] = '\0';
            char hex[65] = "";
            int rc = lp_broker_artifact_hash(b, buf + 5, hex, sizeof hex);
            printf("{\"rc\":%d,\"hash\":\"%s\"}\n", rc, hex);
            fflush(stdout);
        }
    }
    unsigned long long cap = lp_broker_captured(b);
    lp_broker_destroy(b);
    printf("{\"vmhwm_kb\":%ld,\"captured\":%llu}\n", vmhwm_kb(), cap);
    return 0;
}

static int cmd_publish(void *ctx, int argc, char **argv) {
    if (argc < 6) return 2;
    char err[512];
    lp_publisher *p =
        lp_publisher_create(ctx, argv[2], argv[3], argv[4], opt(argc, argv, "--key"), err, sizeof err);
    if (!p) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int n = atoi(argv[5]);
    lp_publisher_event(p, "started", "test publisher");
    for (int i = 0; i < n; i++) {
        lp_metric m[3] = {{"loss", 4.0 / (1 + i)}, {"lr", 3e-4}, {"tokens_per_s", 1000.0 + i}};
        lp_publisher_metrics(p, i, m, 3);
        lp_publisher_progress(p, i + 1, n);
        if (i == n / 2) lp_publisher_text(p, "sample", "hello \xe4\xb8\x96\xe7\x95\x8c");
        usleep(1000);
    }
    lp_publisher_event(p, "finished", "done");
    printf("{\"dropped\":%llu}\n", (unsigned long long)lp_publisher_dropped(p));
    lp_publisher_destroy(p);
    return 0;
}

static int cmd_pubrate(void *ctx, int argc, char **argv) {
    if (argc < 4) return 2;
    char err[512];
    const char *stage = opt(argc, argv, "--stage");
    lp_publisher *p =
        lp_publisher_create(ctx, argv[2], "rate", stage ? stage : "bench", NULL, err, sizeof err);
    if (!p) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    long n = atol(argv[3]);
    /* --step-us N: a simulated training step (busy N us) before each
   * message, so the rate is a stage's step rate. */
    const char *su = opt(argc, argv, "--step-us");
    int64_t step_ns = su ? atol(su) * 1000 : 0;
    int64_t t0 = lp_mono_ms();
    for (long i = 0; i < n; i++) {
        if (step_ns) {
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            do clock_gettime(CLOCK_MONOTONIC, &b);
            while ((b.tv_sec - a.tv_sec) * 1000000000ll + (b.tv_nsec - a.tv_nsec) < step_ns);
        }
        lp_metric m[4] = {{"loss", 1.0 / (1 + i)}, {"lr", 3e-4}, {"tokens_per_s", 1e4}, {"grad_norm", 0.5}};
        lp_publisher_metrics(p, i, m, 4);
    }
    double dt = (lp_mono_ms() - t0) / 1000.0;
    printf("{\"rate\":%.1f,\"seconds\":%.3f,\"dropped\":%llu}\n", dt > 0 ? n / dt : 0.0, dt,
           (unsigned long long)lp_publisher_dropped(p));
    fflush(stdout);
    /* --tail MS: after a pause (a subscriber drains its queue), 10 more
   * messages whose seq shows what was dropped in between. */
    const char *tail = opt(argc, argv, "--tail");
    if (tail) {
        usleep((useconds_t)atoi(tail) * 1000);
        for (long i = n; i < n + 10; i++) {
            lp_metric m[1] = {{"loss", 1.0}};
            lp_publisher_metrics(p, i, m, 1);
        }
    }
    lp_publisher_destroy(p);
    return 0;
}

static int cmd_transfer(void *ctx, int argc, char **argv, int put) {
    if (argc < 5) return 2;
    const char *to = opt(argc, argv, "--timeout");
    char err[1024] = "";
    lp_store_client *c = lp_store_client_create(ctx, argv[2], opt(argc, argv, "--key"), to ? atoi(to) : 10000,
                                                err, sizeof err);
    int rc = LP_ERR;
    if (c)
        rc = put ? lp_store_client_put(c, argv[3], argv[4], err, sizeof err)
                 : lp_store_client_get(c, argv[3], argv[4], err, sizeof err);
    printf("{\"ok\":%s,\"rc\":%d,\"hash\":\"%s\",\"vmhwm_kb\":%ld,\"error\":", rc == 0 ? "true" : "false", rc,
           c ? lp_store_client_last_hash(c) : "", vmhwm_kb());
    json_str(err);
    printf("}\n");
    lp_store_client_destroy(c);
    return rc == 0 ? 0 : rc == LP_ERR_NOTFOUND ? 3 : 1;
}

static int cmd_mkfile(int argc, char **argv) {
    if (argc < 5) return 2;
    FILE *f = fopen(argv[2], "wb");
    if (!f) return 1;
    unsigned long long left = strtoull(argv[3], NULL, 10);
    uint64_t x = strtoull(argv[4], NULL, 10) * 0x9E3779B97F4A7C15ull + 1;
    static uint64_t buf[8192];
    while (left) {
        for (size_t i = 0; i < 8192; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = x;
        }
        size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
        if (fwrite(buf, 1, n, f) != n) return 1;
        left -= n;
    }
    return fclose(f) ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: comm_tool broker|publish|pubrate|put|get|mkfile|keypair ...\n");
        return 2;
    }
    if (!strcmp(argv[1], "mkfile")) return cmd_mkfile(argc, argv);
    if (!strcmp(argv[1], "keypair")) {
        char pub[41], sec[41];
        if (zmq_curve_keypair(pub, sec)) return 1;
        printf("%s %s\n", pub, sec);
        return 0;
    }
    void *ctx = zmq_ctx_new();
    int rc = 2;
    if (!strcmp(argv[1], "broker"))
        rc = cmd_broker(ctx, argc, argv);
    else if (!strcmp(argv[1], "publish"))
        rc = cmd_publish(ctx, argc, argv);
    else if (!strcmp(argv[1], "pubrate"))
        rc = cmd_pubrate(ctx, argc, argv);
    else if (!strcmp(argv[1], "put"))
        rc = cmd_transfer(ctx, argc, argv, 1);
    else if (!strcmp(argv[1], "get"))
        rc = cmd_transfer(ctx, argc, argv, 0);
    zmq_ctx_term(ctx);
    if (rc == 2) fprintf(stderr, "comm_tool: bad arguments\n");
    return rc;
}
