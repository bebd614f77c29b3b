/* Metrics publisher. The socket is an XPUB that *connects* to the broker's
 * XSUB: unlike PUB it lets us read the broker's subscription, so create()
 * can wait until the pipe is really up (no lost "started" event), and like
 * PUB it drops at the high-water mark instead of blocking training. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/clock.h"
#include "sdk/comm/comm.h"
#include "sdk/comm/zmq_util.h"

enum { KIND_METRICS, KIND_EVENT, KIND_LOG, KIND_PROGRESS, KIND_COUNT };
static const char *const kind_names[KIND_COUNT] = {"metrics", "event", "log", "progress"};

struct lp_publisher {
    void *sock;
    char *run, *stage;
    char *topics[KIND_COUNT];
    uint64_t seq[KIND_COUNT]; /* per topic, so a subscriber of one topic sees
                               its own gaps */
    int64_t last_step;
    uint64_t dropped;
};

enum { PUB_HWM = 10000, PUB_LINGER_MS = 500, JOIN_WAIT_MS = 2000 };

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int bad_name(const char *s) {
    if (!s || !*s) return 1;
    for (; *s; s++)
        if (*s == '/' || (unsigned char)*s < 0x20) return 1;
    return 0;
}

lp_publisher *lp_publisher_create(void *zmq_ctx, const char *endpoint, const char *run, const char *stage,
                                  const char *curve_server_key, char *err, size_t err_size) {
    if (!zmq_ctx || !endpoint || !*endpoint) {
        lp_errf(err, err_size, "publisher: no metrics endpoint given");
        return NULL;
    }
    if (bad_name(run) || bad_name(stage)) {
        lp_errf(err, err_size,
                "publisher: run and stage names must be non-empty and contain "
                "no '/' (got run '%s', stage '%s')",
                run ? run : "", stage ? stage : "");
        return NULL;
    }
    lp_publisher *p = calloc(1, sizeof *p);
    if (!p) {
        lp_errf(err, err_size, "publisher: out of memory");
        return NULL;
    }
    p->run = dupstr(run);
    p->stage = dupstr(stage);
    for (int k = 0; k < KIND_COUNT; k++) {
        size_t n = strlen(kind_names[k]) + strlen(run) + strlen(stage) + 3;
        p->topics[k] = malloc(n);
        if (p->topics[k])
            snprintf(p->topics[k], n, "%s/%s/%s", kind_names[k], run, stage);
        else
            goto oom;
    }
    if (!p->run || !p->stage) goto oom;
    p->sock = zmq_socket(zmq_ctx, ZMQ_XPUB);
    if (!p->sock) {
        lp_errf(err, err_size, "publisher: cannot create socket: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    lp_comm_sockopts(p->sock, PUB_LINGER_MS, PUB_HWM, 100);
    /* With NODROP a full queue answers EAGAIN (we count the drop) instead of
   * discarding silently; sends are always non-blocking. */
    int one = 1;
    zmq_setsockopt(p->sock, ZMQ_XPUB_NODROP, &one, sizeof one);
    char known[41];
    if (!curve_server_key) curve_server_key = lp_comm_lookup_server_key(endpoint, known);
    if (curve_server_key && lp_comm_is_tcp(endpoint) &&
        lp_comm_curve_client(p->sock, curve_server_key, err, err_size))
        goto fail;
    if (zmq_connect(p->sock, endpoint)) {
        lp_errf(err, err_size, "publisher: cannot connect to '%s': %s", endpoint, zmq_strerror(zmq_errno()));
        goto fail;
    }
    /* The broker's XSUB subscribes to everything as soon as the pipe is up. */
    zmq_pollitem_t it = {p->sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, JOIN_WAIT_MS) > 0) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        while (zmq_msg_recv(&m, p->sock, ZMQ_DONTWAIT) >= 0) {
        }
        zmq_msg_close(&m);
    }
    return p;
oom:
    lp_errf(err, err_size, "publisher: out of memory");
fail:
    lp_publisher_destroy(p);
    return NULL;
}

/* Every body starts with the same header fields, then the kind's own. */
static json_t *header(lp_publisher *p, int kind) {
    json_t *o = json_object();
    json_object_set_new(o, "run", json_string(p->run));
    json_object_set_new(o, "stage", json_string(p->stage));
    json_object_set_new(o, "step", json_integer(p->last_step));
    /* Counted even when the send below drops: the gap is the evidence. */
    json_object_set_new(o, "seq", json_integer((json_int_t)p->seq[kind]++));
    json_object_set_new(o, "time", json_real(lp_wall_s()));
    return o;
}

static int send_json(lp_publisher *p, int kind, json_t *obj) {
    int rc = -1;
    if (!obj) return -1;
    /* 15 significant digits: 10 us resolution on the unix time, and "0.0003"
   * rather than "0.00029999999999999997" for values. */
    char *body = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(15));
    json_decref(obj);
    if (!body) return -1;
    /* Drain subscription traffic so it never piles up in our receive queue. */
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (zmq_msg_recv(&m, p->sock, ZMQ_DONTWAIT) >= 0) {
    }
    zmq_msg_close(&m);
    const char *t = p->topics[kind];
    if (zmq_send(p->sock, t, strlen(t), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
        zmq_send(p->sock, body, strlen(body), ZMQ_DONTWAIT) >= 0)
        rc = 0;
    else if (zmq_errno() == EAGAIN)
        p->dropped++, rc = 0; /* dropped by design: training must not wait */
    free(body);
    return rc;
}

int lp_publisher_metrics(lp_publisher *p, int64_t step, const lp_metric *m, size_t n) {
    if (!p) return LP_ERR;
    json_t *vals = json_object();
    for (size_t i = 0; i < n; i++) {
        if (!m[i].name || !*m[i].name) continue;
        /* JSON has no NaN/Inf: publish them as null so dashboards still parse. */
        double v = m[i].value;
        json_object_set_new(vals, m[i].name, v == v && v - v == 0 ? json_real(v) : json_null());
    }
    p->last_step = step;
    json_t *o = header(p, KIND_METRICS);
    json_object_set_new(o, "values", vals);
    return send_json(p, KIND_METRICS, o) ? LP_ERR : LP_OK;
}

int lp_publisher_event(lp_publisher *p, const char *kind, const char *message) {
    if (!p || !kind || !*kind) return LP_ERR;
    json_t *o = header(p, KIND_EVENT);
    json_object_set_new(o, "event", json_string(kind));
    json_t *msg = json_string(message ? message : "");
    json_object_set_new(o, "message", msg ? msg : json_string("<invalid UTF-8>"));
    return send_json(p, KIND_EVENT, o) ? LP_ERR : LP_OK;
}

int lp_publisher_text(lp_publisher *p, const char *label, const char *text) {
    if (!p) return LP_ERR;
    json_t *o = header(p, KIND_LOG);
    json_object_set_new(o, "label", json_string(label ? label : ""));
    /* json_string refuses invalid UTF-8: keep the message, mark the loss. */
    json_t *t = json_string(text ? text : "");
    json_object_set_new(o, "text", t ? t : json_string("<invalid UTF-8>"));
    return send_json(p, KIND_LOG, o) ? LP_ERR : LP_OK;
}

int lp_publisher_progress(lp_publisher *p, int64_t done, int64_t total) {
    if (!p) return LP_ERR;
    json_t *o = header(p, KIND_PROGRESS);
    json_object_set_new(o, "done", json_integer(done));
    json_object_set_new(o, "total", json_integer(total));
    return send_json(p, KIND_PROGRESS, o) ? LP_ERR : LP_OK;
}

uint64_t lp_publisher_dropped(const lp_publisher *p) { return p ? p->dropped : 0; }

void lp_publisher_destroy(lp_publisher *p) {
    if (!p) return;
    if (p->sock) zmq_close(p->sock);
    for (int k = 0; k < KIND_COUNT; k++) free(p->topics[k]);
    free(p->run);
    free(p->stage);
    free(p);
}
