#include "host/control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "sdk/comm/zmq_util.h"

int lp_frames_recv(void *sock, lp_frames *m, int dontwait) {
    memset(m, 0, sizeof *m);
    zmq_msg_t parts[LP_MAX_FRAMES];
    int n = lp_comm_recv_parts(sock, parts, LP_MAX_FRAMES, dontwait ? ZMQ_DONTWAIT : 0);
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    /* NUL-terminated copies: the commands read frames as strings. */
    for (int i = 0; i < n; i++) {
        size_t len = zmq_msg_size(&parts[i]);
        char *copy = malloc(len + 1);
        if (copy) {
            memcpy(copy, zmq_msg_data(&parts[i]), len);
            copy[len] = '\0';
        }
        m->frame[i] = copy;
        m->len[i] = copy ? len : 0;
    }
    m->count = (size_t)n;
    lp_comm_close_parts(parts, n);
    for (int i = 0; i < n; i++)
        if (m->frame[i] == NULL) {
            lp_frames_free(m);
            return -1;
        }
    return n;
}

void lp_frames_free(lp_frames *m) {
    for (size_t i = 0; i < m->count; i++) free(m->frame[i]);
    memset(m, 0, sizeof *m);
}

int lp_frames_send(void *sock, size_t count, const char *const *frames) {
    return lp_comm_send_strs(sock, ZMQ_DONTWAIT, (int)count, frames);
}

int lp_frames_send_to(void *sock, const char *id, size_t id_len, size_t count, const char *const *frames) {
    if (zmq_send(sock, id, id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return -1;
    return lp_frames_send(sock, count, frames);
}

int lp_socket_setup(void *sock, const char *server_secret, const char *server_public, char *err,
                    size_t err_size) {
    /* Never let a queued message keep zmq_ctx_term waiting at shutdown. */
    lp_comm_sockopts(sock, 0, -1, -1);
    if (server_secret == NULL && server_public == NULL) return 0;
    if (!lp_comm_curve_available())
        return lp_errf(err, err_size,
                       "CURVE keys are configured but this "
                       "libzmq was built without CURVE support");
    if (server_secret) return lp_comm_curve_server(sock, server_secret, err, err_size);
    return lp_comm_curve_client(sock, server_public, err, err_size);
}
