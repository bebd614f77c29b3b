/* The metrics proxy: XSUB -> XPUB forwarding plus the capture into
 * metrics.jsonl. Written out instead of zmq_proxy() so the capture can write
 * JSON lines directly and the stop pipe needs no steerable-proxy protocol.
 * Forwarding never blocks: XPUB drops at its high-water mark (a slow or dead
 * dashboard loses messages, the per-topic seq numbers show where). */
#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <string.h>
#include <zmq.h>

#include "broker_internal.h"
#include "sdk/comm/zmq_util.h"

enum { BATCH = 256 };

/* One line per message: {"topic": "...", "data": {...}}. */
static void capture(lp_broker_metrics *m, zmq_msg_t *topic, zmq_msg_t *body) {
    json_error_t je;
    json_t *data = json_loadb(zmq_msg_data(body), zmq_msg_size(body), 0, &je);
    json_t *t = json_stringn(zmq_msg_data(topic), zmq_msg_size(topic));
    if (!json_is_object(data) || !t) {
        m->invalid++;
        json_decref(data);
        json_decref(t);
        return;
    }
    json_t *line = json_object();
    json_object_set_new(line, "topic", t);
    json_object_set_new(line, "data", data);
    if (json_dumpf(line, m->jsonl, JSON_COMPACT | JSON_ENSURE_ASCII) == 0) fputc('\n', m->jsonl);
    json_decref(line);
    atomic_fetch_add(&m->captured, 1);
}

void *lp_broker_metrics_main(void *arg) {
    lp_broker_metrics *m = arg;
    zmq_pollitem_t items[3] = {
        {m->xsub, 0, ZMQ_POLLIN, 0}, {m->xpub, 0, ZMQ_POLLIN, 0}, {m->ctl, 0, ZMQ_POLLIN, 0}};
    for (;;) {
        if (zmq_poll(items, 3, -1) < 0) {
            if (zmq_errno() == EINTR) continue;
            break;
        }
        if (items[2].revents & ZMQ_POLLIN) break;
        if (items[0].revents & ZMQ_POLLIN) {
            for (int i = 0; i < BATCH; i++) {
                zmq_msg_t parts[2];
                int n = lp_comm_recv_parts(m->xsub, parts, 2, ZMQ_DONTWAIT);
                if (n < 0) break;
                /* Only the two-frame schema goes on: a stray one-frame message
         * would break subscribers that unpack (topic, body). */
                if (n == 2) {
                    capture(m, &parts[0], &parts[1]);
                    if (zmq_msg_send(&parts[0], m->xpub, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
                        zmq_msg_send(&parts[1], m->xpub, ZMQ_DONTWAIT);
                }
                lp_comm_close_parts(parts, n);
            }
            fflush(m->jsonl);
        }
        if (items[1].revents & ZMQ_POLLIN) {
            /* Subscriptions from dashboards: not forwarded (the XSUB already takes
       * everything for the capture), only drained. */
            for (int i = 0; i < BATCH; i++) {
                zmq_msg_t sub;
                zmq_msg_init(&sub);
                int r = zmq_msg_recv(&sub, m->xpub, ZMQ_DONTWAIT);
                zmq_msg_close(&sub);
                if (r < 0) break;
            }
        }
    }
    fflush(m->jsonl);
    return NULL;
}
