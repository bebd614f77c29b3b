/* Broker lifecycle: sockets are created and bound here, on the caller's
 * thread, so a bad endpoint is reported by lp_broker_create(); then each
 * service loop gets its sockets and runs on its own thread. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "broker_internal.h"
#include "llmpipe/fsutil.h"
#include "sdk/comm/store_proto.h"
#include "sdk/comm/zmq_util.h"

struct lp_broker {
    void *ctx;
    char ep_in[256], ep_out[256], ep_store[256];
    char curve_public[41];
    int has_curve;
    char *artifacts_dir;
    void *ctl_metrics, *ctl_store; /* our ends of the inproc stop pipes */
    lp_broker_metrics metrics;
    lp_broker_store store;
    pthread_t metrics_thread, store_thread;
    int metrics_running, store_running;
};

/* metrics_in absorbs bursts from many publishers; metrics_out holds at most
 * OUT_HWM messages per subscriber, then drops for that subscriber only. The
 * store's queues are far above the credit window (8 chunks) but cap what a
 * misbehaving client that ignores the window can make us hold (64 chunks,
 * 16 MiB); past that its transfer fails instead of blocking others. */
enum { BROKER_LINGER_MS = 0, IN_HWM = 100000, OUT_HWM = 1000, STORE_HWM = 64 };

static void close_sock(void **s) {
    if (*s) zmq_close(*s);
    *s = NULL;
}

static void *bind_socket(lp_broker *b, int type, const char *what, const char *endpoint,
                         const lp_broker_config *cfg, char *resolved, int hwm, char *err, size_t err_size) {
    if (!endpoint || !*endpoint) {
        lp_errf(err, err_size, "broker: no %s endpoint configured", what);
        return NULL;
    }
    void *s = zmq_socket(b->ctx, type);
    if (!s) {
        lp_errf(err, err_size, "broker: cannot create %s socket: %s", what, zmq_strerror(zmq_errno()));
        return NULL;
    }
    lp_comm_sockopts(s, BROKER_LINGER_MS, hwm, hwm);
    if (type == ZMQ_ROUTER) {
        int one = 1; /* errors instead of silent drops for vanished clients */
        zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    }
    char kerr[256];
    if (cfg->curve_secret_key && lp_comm_is_tcp(endpoint) &&
        lp_comm_curve_server(s, cfg->curve_secret_key, kerr, sizeof kerr)) {
        lp_errf(err, err_size, "broker: %s endpoint '%s': %s", what, endpoint, kerr);
        zmq_close(s);
        return NULL;
    }
    if (zmq_bind(s, endpoint)) {
        lp_errf(err, err_size, "broker: cannot bind %s endpoint '%s': %s", what, endpoint,
                zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    size_t len = 256;
    if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, resolved, &len)) snprintf(resolved, 256, "%s", endpoint);
    return s;
}

/* A connected inproc PAIR; *ours is kept here, *theirs goes to a thread. */
static int stop_pipe(lp_broker *b, const char *which, void **ours, void **theirs) {
    char name[128];
    static atomic_uint counter;
    snprintf(name, sizeof name, "inproc://lp-broker-%s-%p-%u", which, (void *)b,
             atomic_fetch_add(&counter, 1));
    *theirs = zmq_socket(b->ctx, ZMQ_PAIR);
    *ours = zmq_socket(b->ctx, ZMQ_PAIR);
    if (!*theirs || !*ours) return -1;
    lp_comm_sockopts(*theirs, 0, -1, -1);
    lp_comm_sockopts(*ours, 0, -1, -1);
    if (zmq_bind(*theirs, name) || zmq_connect(*ours, name)) return -1;
    return 0;
}

lp_broker *lp_broker_create(void *zmq_ctx, const lp_broker_config *cfg, char *err, size_t err_size) {
    if (!zmq_ctx || !cfg || !cfg->run_dir || !*cfg->run_dir) {
        lp_errf(err, err_size, "broker: no run folder given");
        return NULL;
    }
    if (cfg->curve_secret_key && !lp_comm_curve_available()) {
        lp_errf(err, err_size,
                "broker: CURVE keys are configured but this "
                "libzmq was built without CURVE support");
        return NULL;
    }
    lp_broker *b = calloc(1, sizeof *b);
    if (!b) {
        lp_errf(err, err_size, "broker: out of memory");
        return NULL;
    }
    b->ctx = zmq_ctx;
    size_t n = strlen(cfg->run_dir) + 16;
    b->artifacts_dir = malloc(n);
    if (!b->artifacts_dir) {
        lp_errf(err, err_size, "broker: out of memory");
        goto fail;
    }
    snprintf(b->artifacts_dir, n, "%s/artifacts", cfg->run_dir);
    if (lp_mkdir_p(b->artifacts_dir, err, err_size)) goto fail;
    lp_broker_store_cleanup(b->artifacts_dir);
    if (cfg->curve_secret_key) {
        if (lp_comm_curve_public(cfg->curve_secret_key, b->curve_public)) {
            lp_errf(err, err_size,
                    "broker: curve_secret_key must be a "
                    "40-character Z85 CURVE secret key");
            goto fail;
        }
        b->has_curve = 1;
    }

    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", cfg->run_dir);
    b->metrics.jsonl = fopen(path, "a+");
    if (!b->metrics.jsonl) {
        lp_errf(err, err_size, "broker: cannot open '%s' for appending: %s", path, strerror(errno));
        goto fail;
    }
    /* A run that crashed mid-line (resume appends to the same file) must not
   * glue its last, partial line to our first one. */
    if (fseek(b->metrics.jsonl, -1, SEEK_END) == 0 && fgetc(b->metrics.jsonl) != '\n')
        fputc('\n', b->metrics.jsonl);
    fseek(b->metrics.jsonl, 0, SEEK_END);
    b->metrics.xsub =
        bind_socket(b, ZMQ_XSUB, "metrics_in", cfg->metrics_in, cfg, b->ep_in, IN_HWM, err, err_size);
    if (!b->metrics.xsub) goto fail;
    b->metrics.xpub =
        bind_socket(b, ZMQ_XPUB, "metrics_out", cfg->metrics_out, cfg, b->ep_out, OUT_HWM, err, err_size);
    if (!b->metrics.xpub) goto fail;
    b->store.router =
        bind_socket(b, ZMQ_ROUTER, "store", cfg->store, cfg, b->ep_store, STORE_HWM, err, err_size);
    if (!b->store.router) goto fail;
    /* Publishers send only what their peers subscribe to: subscribe to
   * everything so the capture sees every message even with no dashboard. */
    if (zmq_send(b->metrics.xsub, "\x01", 1, 0) < 0) {
        lp_errf(err, err_size, "broker: cannot subscribe: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (stop_pipe(b, "metrics", &b->ctl_metrics, &b->metrics.ctl) ||
        stop_pipe(b, "store", &b->ctl_store, &b->store.ctl)) {
        lp_errf(err, err_size, "broker: cannot create control sockets: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    b->store.artifacts_dir = b->artifacts_dir;
    b->store.timeout_ms = cfg->transfer_timeout_ms > 0 ? cfg->transfer_timeout_ms : 60000;

    if (pthread_create(&b->metrics_thread, NULL, lp_broker_metrics_main, &b->metrics)) {
        lp_errf(err, err_size, "broker: cannot start the metrics thread");
        goto fail;
    }
    b->metrics_running = 1;
    if (pthread_create(&b->store_thread, NULL, lp_broker_store_main, &b->store)) {
        lp_errf(err, err_size, "broker: cannot start the store thread");
        goto fail;
    }
    b->store_running = 1;
    if (b->has_curve) {
        lp_comm_register_server_key(b->ep_in, b->curve_public);
        lp_comm_register_server_key(b->ep_out, b->curve_public);
        lp_comm_register_server_key(b->ep_store, b->curve_public);
    }
    return b;
fail:
    lp_broker_destroy(b);
    return NULL;
}

const char *lp_broker_endpoint(const lp_broker *b, const char *which) {
    if (!b || !which) return NULL;
    if (!strcmp(which, "metrics_in")) return b->ep_in;
    if (!strcmp(which, "metrics_out")) return b->ep_out;
    if (!strcmp(which, "store")) return b->ep_store;
    return NULL;
}

const char *lp_broker_curve_public_key(const lp_broker *b) {
    return b && b->has_curve ? b->curve_public : NULL;
}

int lp_broker_artifact_hash(lp_broker *b, const char *name, char *hex, size_t hex_size) {
    if (!b || !lp_store_valid_name(name)) return LP_ERR_NOTFOUND;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", b->artifacts_dir, name);
    lp_store_manifest m;
    if (lp_store_read_manifest(dir, &m, NULL, 0)) return LP_ERR_NOTFOUND;
    if (hex && hex_size) snprintf(hex, hex_size, "%s", m.hash);
    lp_store_manifest_free(&m);
    return LP_OK;
}

unsigned long long lp_broker_captured(const lp_broker *b) {
    return b ? atomic_load(&b->metrics.captured) : 0;
}

static void stop_thread(void *ctl, pthread_t t) {
    /* The PAIR pipe is connected; the send cannot block (linger 0, HWM
   * default, one message). */
    zmq_send(ctl, "", 0, ZMQ_DONTWAIT);
    pthread_join(t, NULL);
}

void lp_broker_destroy(lp_broker *b) {
    if (!b) return;
    if (b->has_curve) {
        lp_comm_unregister_server_key(b->ep_in);
        lp_comm_unregister_server_key(b->ep_out);
        lp_comm_unregister_server_key(b->ep_store);
    }
    if (b->metrics_running) stop_thread(b->ctl_metrics, b->metrics_thread);
    if (b->store_running) stop_thread(b->ctl_store, b->store_thread);
    /* The threads close nothing: sockets are closed here, after the join. */
    close_sock(&b->metrics.xsub);
    close_sock(&b->metrics.xpub);
    close_sock(&b->metrics.ctl);
    close_sock(&b->store.router);
    close_sock(&b->store.ctl);
    close_sock(&b->ctl_metrics);
    close_sock(&b->ctl_store);
    if (b->metrics.jsonl) fclose(b->metrics.jsonl);
    free(b->artifacts_dir);
    free(b);
}
