/* The live view's thread: a SUB socket on the metrics_out endpoint, a stop
 * pipe, and redraws at most every 100 ms. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <zmq.h>

#include "live_view.h"
#include "live_view_internal.h"
#include "llmpipe/clock.h"
#include "sdk/comm/zmq_util.h"

struct lp_live_view {
    void *sub, *ctl_thread, *ctl_ours;
    pthread_t th;
    int running;
    lv_state st;
};

static const char *const kinds[] = {"metrics/", "event/", "log/", "progress/", NULL};

static int subscribe(void *sub, const char *prefix) {
    if (!prefix || !*prefix) return zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    for (int i = 0; kinds[i]; i++)
        if (!strncmp(prefix, kinds[i], strlen(kinds[i])))
            return zmq_setsockopt(sub, ZMQ_SUBSCRIBE, prefix, strlen(prefix));
    /* "<run>[/<stage>]": every kind of that run or stage. */
    for (int i = 0; kinds[i]; i++) {
        char t[512];
        snprintf(t, sizeof t, "%s%s", kinds[i], prefix);
        if (zmq_setsockopt(sub, ZMQ_SUBSCRIBE, t, strlen(t))) return -1;
    }
    return 0;
}

static int term_width(FILE *out) {
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
    return 120;
}

static void *view_main(void *arg) {
    lp_live_view *v = arg;
    zmq_pollitem_t items[2] = {{v->sub, 0, ZMQ_POLLIN, 0}, {v->ctl_thread, 0, ZMQ_POLLIN, 0}};
    int dirty = 0;
    int64_t last_draw = 0;
    for (;;) {
        int r = zmq_poll(items, 2, 100);
        if (r < 0 && zmq_errno() != EINTR) break;
        if (r > 0 && (items[1].revents & ZMQ_POLLIN)) break;
        if (r > 0 && (items[0].revents & ZMQ_POLLIN)) {
            for (int i = 0; i < 1000; i++) {
                zmq_msg_t parts[2];
                int n = lp_comm_recv_parts(v->sub, parts, 2, ZMQ_DONTWAIT);
                if (n < 0) break;
                if (n == 2)
                    dirty |= lv_handle(&v->st, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]),
                                       zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]), lp_wall_s());
                lp_comm_close_parts(parts, n);
            }
            if (v->st.plain) fflush(v->st.out);
        }
        int64_t now = lp_mono_ms();
        if (dirty && now - last_draw >= 100) {
            v->st.width = term_width(v->st.out);
            lv_draw(&v->st);
            last_draw = now;
            dirty = 0;
        }
    }
    if (dirty && !v->st.plain) lv_draw(&v->st);
    fflush(v->st.out);
    return NULL;
}

lp_live_view *lp_live_view_create_ex(void *zmq_ctx, const char *endpoint, const char *topic_prefix, int plain,
                                     const char *curve_server_key, FILE *out, char *err, size_t err_size) {
    if (!zmq_ctx || !endpoint || !*endpoint) {
        lp_errf(err, err_size, "live view: no metrics endpoint given");
        return NULL;
    }
    lp_live_view *v = calloc(1, sizeof *v);
    if (!v) {
        lp_errf(err, err_size, "live view: out of memory");
        return NULL;
    }
    v->st.plain = plain;
    v->st.out = out ? out : stdout;
    v->st.width = 120;
    v->sub = zmq_socket(zmq_ctx, ZMQ_SUB);
    if (!v->sub) goto zfail;
    /* A view that falls behind drops (the broker's XPUB stops at this HWM). */
    lp_comm_sockopts(v->sub, 0, -1, 10000);
    char known[41];
    if (!curve_server_key) curve_server_key = lp_comm_lookup_server_key(endpoint, known);
    if (curve_server_key && lp_comm_is_tcp(endpoint) &&
        lp_comm_curve_client(v->sub, curve_server_key, err, err_size))
        goto fail;
    if (subscribe(v->sub, topic_prefix)) goto zfail;
    if (zmq_connect(v->sub, endpoint)) {
        lp_errf(err, err_size, "live view: cannot connect to '%s': %s", endpoint, zmq_strerror(zmq_errno()));
        goto fail;
    }
    char name[96];
    static atomic_uint counter;
    snprintf(name, sizeof name, "inproc://lp-live-view-%p-%u", (void *)v, atomic_fetch_add(&counter, 1));
    v->ctl_thread = zmq_socket(zmq_ctx, ZMQ_PAIR);
    v->ctl_ours = zmq_socket(zmq_ctx, ZMQ_PAIR);
    if (!v->ctl_thread || !v->ctl_ours) goto zfail;
    lp_comm_sockopts(v->ctl_thread, 0, -1, -1);
    lp_comm_sockopts(v->ctl_ours, 0, -1, -1);
    if (zmq_bind(v->ctl_thread, name) || zmq_connect(v->ctl_ours, name)) goto zfail;
    if (pthread_create(&v->th, NULL, view_main, v)) {
        lp_errf(err, err_size, "live view: cannot start its thread");
        goto fail;
    }
    v->running = 1;
    return v;
zfail:
    lp_errf(err, err_size, "live view: %s", zmq_strerror(zmq_errno()));
fail:
    lp_live_view_destroy(v);
    return NULL;
}

lp_live_view *lp_live_view_create(void *zmq_ctx, const char *endpoint, const char *topic_prefix, int plain,
                                  char *err, size_t err_size) {
    return lp_live_view_create_ex(zmq_ctx, endpoint, topic_prefix, plain, NULL, NULL, err, err_size);
}

void lp_live_view_destroy(lp_live_view *v) {
    if (!v) return;
    if (v->running) {
        zmq_send(v->ctl_ours, "", 0, ZMQ_DONTWAIT);
        pthread_join(v->th, NULL);
    }
    if (v->sub) zmq_close(v->sub);
    if (v->ctl_thread) zmq_close(v->ctl_thread);
    if (v->ctl_ours) zmq_close(v->ctl_ours);
    lv_free(&v->st);
    free(v);
}
