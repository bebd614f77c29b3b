/* Checkpoint-store throughput over ipc and tcp loopback against a plain file
 * copy of the same artifact, as ratios, in one run (not part of the tests).
 *
 *   bazel run //bench/store:store_bench -- [SIZE_MB [REPS [WORK_DIR]]]
 *
 * Each put and each get writes the whole artifact once, as cp does; the
 * store also hashes both ends and fsyncs, so "cp + fsync" is printed too.
 * The best of REPS runs is reported for every variant. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "host/broker.h"
#include "llmpipe/clock.h"
#include "llmpipe/fsutil.h"
#include "sdk/comm/comm.h"
#include "sdk/comm/store_proto.h"
#include "sdk/comm/zmq_util.h"

static double now_s(void) { return lp_mono_s(); }

static int make_file(const char *path, size_t bytes) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    static uint64_t buf[1 << 15];
    uint64_t x = 88172645463325252ull;
    while (bytes) {
        for (size_t i = 0; i < sizeof buf / 8; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = x;
        }
        size_t n = bytes < sizeof buf ? bytes : sizeof buf;
        if (fwrite(buf, 1, n, f) != n) {
            fclose(f);
            return -1;
        }
        bytes -= n;
    }
    return fclose(f);
}

static double run_cmd(const char *cmd) {
    double t0 = now_s();
    if (system(cmd) != 0) {
        fprintf(stderr, "store_bench: '%s' failed\n", cmd);
        exit(1);
    }
    return now_s() - t0;
}

static double best(double a, double b) { return a < b ? a : b; }

int main(int argc, char **argv) {
    size_t mb = argc > 1 ? (size_t)atol(argv[1]) : 256;
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    char work[1024];
    snprintf(work, sizeof work, "%s", argc > 3 ? argv[3] : "/tmp/llmpipe-store-bench-XXXXXX");
    if (argc <= 3 && !mkdtemp(work)) {
        perror("mkdtemp");
        return 1;
    }
    char src[1100], path[1200], cmd[8192];
    snprintf(src, sizeof src, "%s/src", work);
    lp_mkdir_p(src, NULL, 0);
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    if (make_file(path, mb << 20)) {
        fprintf(stderr, "store_bench: cannot write %s\n", path);
        return 1;
    }
    snprintf(path, sizeof path, "%s/config.json", src);
    make_file(path, 600);

    /* Both brokers live through the whole run and every repetition times all
   * variants back to back, so a machine that gets busier meanwhile slows
   * them alike and the ratios stay meaningful. */
    const char *transports[2] = {"ipc", "tcp"};
    double t_cp = 1e9, t_cp_sync = 1e9, t_put[2] = {1e9, 1e9}, t_get[2] = {1e9, 1e9};
    void *ctx = zmq_ctx_new();
    lp_broker *brokers[2];
    lp_store_client *clients[2];
    char run_dirs[2][1100], err[1024];
    for (int k = 0; k < 2; k++) {
        char ep[1200];
        snprintf(run_dirs[k], sizeof run_dirs[k], "%s/run-%s", work, transports[k]);
        if (k == 0)
            snprintf(ep, sizeof ep, "ipc://%s/store.sock", work);
        else
            snprintf(ep, sizeof ep, "tcp://127.0.0.1:0");
        char in[64], out[64];
        snprintf(in, sizeof in, "inproc://bench-in-%d", k);
        snprintf(out, sizeof out, "inproc://bench-out-%d", k);
        lp_broker_config cfg = {.run_dir = run_dirs[k], .metrics_in = in, .metrics_out = out, .store = ep};
        brokers[k] = lp_broker_create(ctx, &cfg, err, sizeof err);
        clients[k] = brokers[k] ? lp_store_client_create(ctx, lp_broker_endpoint(brokers[k], "store"), NULL,
                                                         60000, err, sizeof err)
                                : NULL;
        if (!clients[k]) {
            fprintf(stderr, "store_bench: %s\n", err);
            return 1;
        }
    }
    for (int r = 0; r < reps; r++) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s/cp' && cp -r '%s' '%s/cp'", work, src, work);
        t_cp = best(t_cp, run_cmd(cmd));
        snprintf(cmd, sizeof cmd, "rm -rf '%s/cp' && cp -r '%s' '%s/cp' && sync '%s/cp/model.safetensors'",
                 work, src, work, work);
        t_cp_sync = best(t_cp_sync, run_cmd(cmd));
        snprintf(cmd, sizeof cmd, "rm -rf '%s/cp'", work);
        run_cmd(cmd);
        for (int k = 0; k < 2; k++) {
            char name[32], dest[1300];
            snprintf(name, sizeof name, "a%d", r);
            snprintf(dest, sizeof dest, "%s/got", work);
            double t0 = now_s();
            if (lp_store_client_put(clients[k], name, src, err, sizeof err)) {
                fprintf(stderr, "store_bench: put over %s: %s\n", transports[k], err);
                return 1;
            }
            t_put[k] = best(t_put[k], now_s() - t0);
            t0 = now_s();
            if (lp_store_client_get(clients[k], name, dest, err, sizeof err)) {
                fprintf(stderr, "store_bench: get over %s: %s\n", transports[k], err);
                return 1;
            }
            t_get[k] = best(t_get[k], now_s() - t0);
            lp_remove_tree(dest);
            snprintf(dest, sizeof dest, "%s/artifacts/%s", run_dirs[k], name);
            lp_remove_tree(dest); /* keep the disk footprint to one copy */
        }
    }
    for (int k = 0; k < 2; k++) {
        lp_store_client_destroy(clients[k]);
        lp_broker_destroy(brokers[k]);
        lp_remove_tree(run_dirs[k]);
    }
    zmq_ctx_term(ctx);
    lp_remove_tree(work);

    double size = (double)mb;
    printf(
        "artifact %zu MB, best of %d; throughput MB/s and time ratio vs cp "
        "(>1 = store slower)\n",
        mb, reps);
    printf("  cp -r            %7.0f MB/s\n", size / t_cp);
    printf("  cp -r + fsync    %7.0f MB/s\n", size / t_cp_sync);
    for (int k = 0; k < 2; k++) {
        printf("  store put %s    %7.0f MB/s   %.2fx cp   %.2fx cp+fsync\n", transports[k], size / t_put[k],
               t_put[k] / t_cp, t_put[k] / t_cp_sync);
        printf("  store get %s    %7.0f MB/s   %.2fx cp   %.2fx cp+fsync\n", transports[k], size / t_get[k],
               t_get[k] / t_cp, t_get[k] / t_cp_sync);
    }
    return 0;
}
