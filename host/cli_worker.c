/* `llmpipe worker --connect ENDPOINT --stage NAME`: runs one stage of a
 * running host's chain, in a process of its own (started by the host, or by
 * hand on another machine against the host's tcp:// endpoints). */
#include <errno.h>
#include <omp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "host/cli.h"
#include "host/control.h"
#include "host/plugin_loader.h"
#include "host/util.h"
#include "host/worker_host.h"
#include "llmpipe/clock.h"
#include "llmpipe/fsutil.h"
#include "sdk/comm/zmq_util.h"

static volatile sig_atomic_t g_signal = 0;
static void on_signal(int sig) { g_signal = sig; }

typedef struct control_thread {
    void *sock;
    lp_host *host;
    const lp_stage_desc *desc;
    void *state;
    atomic_int finished; /* set by the main thread after run() returned */
    int ok;
    char reason[1024];
    pthread_mutex_t lock; /* guards `state` against destroy() */
} control_thread;

static void request_stop(control_thread *ct) {
    if (atomic_exchange(&ct->host->cancelled, 1)) return;
    pthread_mutex_lock(&ct->lock);
    if (ct->desc->request_stop && ct->state) ct->desc->request_stop(ct->state);
    pthread_mutex_unlock(&ct->lock);
}

/* Owns the control socket: heartbeats out, STOP in, DONE at the end. */
static void *control_main(void *arg) {
    control_thread *ct = arg;
    double last_beat = 0;
    while (!atomic_load(&ct->finished)) {
        zmq_pollitem_t item = {ct->sock, 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, 100);
        lp_frames m;
        while (lp_frames_recv(ct->sock, &m, 1) > 0) {
            if (strcmp(m.frame[0], "STOP") == 0) request_stop(ct);
            lp_frames_free(&m);
        }
        if (g_signal) request_stop(ct);
        double now = lp_wall_s();
        if (now - last_beat >= LP_HEARTBEAT_MS / 1000.0) {
            const char *f[] = {"HEARTBEAT"};
            lp_frames_send(ct->sock, 1, f);
            last_beat = now;
        }
    }
    const char *f[] = {"DONE", ct->ok ? "ok" : "failed", ct->reason};
    lp_frames_send(ct->sock, 3, f);
    return NULL;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: llmpipe worker --connect ENDPOINT --stage NAME\n"
            "                      [--server-key Z85] [--work-dir DIR] "
            "[--timeout SECONDS]\n"
            "Runs one stage of the chain a host is running. The host starts "
            "its own\nworkers; start one by hand for a stage marked `remote = "
            "true`.\n");
}

int lp_cli_worker(int argc, char **argv) {
    const char *endpoint = NULL, *stage = NULL, *server_key = NULL;
    const char *work_dir_opt = NULL;
    double timeout_s = 30;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (v == NULL) {
            fprintf(stderr, "llmpipe worker: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--connect") == 0)
            endpoint = v;
        else if (strcmp(a, "--stage") == 0)
            stage = v;
        else if (strcmp(a, "--server-key") == 0)
            server_key = v;
        else if (strcmp(a, "--work-dir") == 0)
            work_dir_opt = v;
        else if (strcmp(a, "--timeout") == 0)
            timeout_s = atof(v);
        else {
            fprintf(stderr, "llmpipe worker: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (endpoint == NULL || stage == NULL) {
        usage(stderr);
        return 2;
    }
    lp_on_stop_signals(on_signal);

    char err[2048];
    void *zctx = zmq_ctx_new();
    void *sock = zmq_socket(zctx, ZMQ_DEALER);
    int rc = 1;
    lp_host host;
    memset(&host, 0, sizeof host);
    lp_plugin plugin;
    memset(&plugin, 0, sizeof plugin);
    if (lp_socket_setup(sock, NULL, server_key, err, sizeof err) != 0 || zmq_connect(sock, endpoint) != 0) {
        if (!err[0]) snprintf(err, sizeof err, "%s", zmq_strerror(errno));
        fprintf(stderr, "llmpipe worker: cannot connect to %s: %s\n", endpoint, err);
        goto out;
    }
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    const char *hello[] = {"HELLO", stage, pid};
    lp_frames_send(sock, 3, hello);
    zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
    lp_frames m = {0};
    double deadline = lp_wall_s() + timeout_s;
    while (m.count == 0 && lp_wall_s() < deadline && !g_signal) {
        zmq_poll(&item, 1, 200);
        lp_frames_recv(sock, &m, 1);
    }
    if (m.count == 0) {
        fprintf(stderr,
                "llmpipe worker: no answer from the host at %s within "
                "%.0f s (is it running? is the CURVE server key right?)\n",
                endpoint, timeout_s);
        goto out;
    }
    if (strcmp(m.frame[0], "CONFIG") != 0 || m.count < 2) {
        fprintf(stderr, "llmpipe worker: host refused stage '%s': %s\n", stage,
                m.count >= 2 ? m.frame[1] : m.frame[0]);
        lp_frames_free(&m);
        goto out;
    }
    json_error_t je;
    host.cfg = json_loads(m.frame[1], 0, &je);
    lp_frames_free(&m);
    if (host.cfg == NULL) {
        fprintf(stderr, "llmpipe worker: unreadable settings from host: %s\n", je.text);
        goto out;
    }
    host.run = json_string_value(json_object_get(host.cfg, "run"));
    host.stage = json_string_value(json_object_get(host.cfg, "stage"));
    host.device = json_string_value(json_object_get(host.cfg, "device"));
    /* The chain's cpu_backend wins over an inherited LLMPIPE_CPU_BACKEND; the
   * stage's kernel context reads the variable when it is created. */
    const char *cpu_build = json_string_value(json_object_get(host.cfg, "cpu_backend"));
    if (cpu_build) setenv("LLMPIPE_CPU_BACKEND", cpu_build, 1);
    host.output = json_string_value(json_object_get(host.cfg, "output"));
    host.threads = (int)json_integer_value(json_object_get(host.cfg, "threads"));
    host.seed = (uint64_t)json_integer_value(json_object_get(host.cfg, "seed"));
    host.resume = json_is_true(json_object_get(host.cfg, "resume"));
    host.fetched = json_object();
    /* The host's folder is used when it is reachable (a local worker); a
   * remote worker keeps its own. */
    char work[4096];
    const char *host_work = json_string_value(json_object_get(host.cfg, "work_dir"));
    if (work_dir_opt)
        snprintf(work, sizeof work, "%s", work_dir_opt);
    else if (host_work && lp_mkdir_p(host_work, err, sizeof err) == 0)
        snprintf(work, sizeof work, "%s", host_work);
    else
        snprintf(work, sizeof work, "llmpipe-work/%s/%s", host.run, host.stage);
    if (lp_mkdir_p(work, err, sizeof err) != 0) {
        fprintf(stderr, "llmpipe worker: %s\n", err);
        goto out;
    }
    host.work_dir = work;
    omp_set_num_threads(host.threads > 0 ? host.threads : 1);

    json_t *eps = json_object_get(host.cfg, "endpoints");
    const char *curve = json_string_value(json_object_get(host.cfg, "curve_server_key"));
    const char *store_ep = json_string_value(json_object_get(eps, "store"));
    const char *metrics_ep = json_string_value(json_object_get(eps, "metrics_in"));
    host.pub = lp_publisher_create(zctx, metrics_ep, host.run, host.stage,
                                   lp_comm_is_tcp(metrics_ep) ? curve : NULL, err, sizeof err);
    if (host.pub == NULL) {
        fprintf(stderr, "llmpipe worker: metrics: %s\n", err);
        goto out;
    }
    host.store =
        lp_store_client_create(zctx, store_ep, lp_comm_is_tcp(store_ep) ? curve : NULL, 0, err, sizeof err);
    if (host.store == NULL) {
        fprintf(stderr, "llmpipe worker: store: %s\n", err);
        goto out;
    }

    /* The plugin: the host's file when this machine has it, else the same name
   * on this machine's plugin path. */
    const char *file = json_string_value(json_object_get(host.cfg, "plugin_file"));
    const char *pname = json_string_value(json_object_get(host.cfg, "plugin"));
    char *found = NULL;
    struct stat st;
    if (file == NULL || stat(file, &st) != 0) {
        lp_plugin_path pp;
        lp_plugin_path_init(&pp, NULL, 0);
        found = lp_plugin_find(&pp, pname);
        lp_plugin_path_free(&pp);
        file = found;
    }
    control_thread ct;
    memset(&ct, 0, sizeof ct);
    ct.sock = sock;
    ct.host = &host;
    pthread_mutex_init(&ct.lock, NULL);
    if (file == NULL) {
        snprintf(ct.reason, sizeof ct.reason, "plugin '%s' not found on this machine's plugin path", pname);
    } else if (lp_plugin_open(file, pname, &plugin, ct.reason, sizeof ct.reason) == 0) {
        ct.desc = plugin.desc;
        lp_host_services services;
        lp_worker_services(&host, &services);
        pthread_t thread;
        pthread_create(&thread, NULL, control_main, &ct);
        char perr[1024] = "";
        void *state = NULL;
        lp_publisher_event(host.pub, "started", plugin.desc->name);
        if (plugin.desc->create(&services, &state, perr, sizeof perr) != 0) {
            snprintf(ct.reason, sizeof ct.reason, "create() failed: %s",
                     perr[0] ? perr : "(no reason given)");
        } else {
            pthread_mutex_lock(&ct.lock);
            ct.state = state;
            pthread_mutex_unlock(&ct.lock);
            if (atomic_load(&host.cancelled) && plugin.desc->request_stop) plugin.desc->request_stop(state);
            if (plugin.desc->run(state, perr, sizeof perr) == 0) {
                ct.ok = 1;
            } else {
                snprintf(ct.reason, sizeof ct.reason, "run() failed: %s",
                         perr[0] ? perr : "(no reason given)");
            }
            pthread_mutex_lock(&ct.lock);
            ct.state = NULL;
            pthread_mutex_unlock(&ct.lock);
            plugin.desc->destroy(state);
        }
        lp_publisher_event(host.pub, ct.ok ? "finished" : "failed", ct.ok ? plugin.desc->name : ct.reason);
        atomic_store(&ct.finished, 1);
        pthread_join(thread, NULL);
        rc = ct.ok ? 0 : 1;
    }
    if (plugin.desc == NULL) {
        /* Could not even load: tell the host why, then fail. */
        const char *f[] = {"DONE", "failed", ct.reason};
        lp_frames_send(sock, 3, f);
    }
    if (!ct.ok) fprintf(stderr, "llmpipe worker: stage '%s': %s\n", stage, ct.reason);
    pthread_mutex_destroy(&ct.lock);
    free(found);
out:
    /* Give the last DONE a moment to leave before the socket closes. */
    {
        int linger = 2000;
        zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    }
    if (host.pub) lp_publisher_destroy(host.pub);
    if (host.store) lp_store_client_destroy(host.store);
    zmq_close(sock);
    zmq_ctx_term(zctx);
    /* The plugin stays mapped until exit: its OpenMP worker threads outlive
   * run(), and unmapping code they may still touch (thread-local storage,
   * destructors) crashes at exit, LeakSanitizer's scan included. */
    free(plugin.path);
    json_decref(host.cfg);
    json_decref(host.fetched);
    return rc;
}
