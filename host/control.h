/* The worker <-> host control channel: a ROUTER in the host, a DEALER in each
 * worker. Messages are multipart, the first frame a command word:
 *
 *   worker -> host   HELLO <stage> <pid>       ask for the stage's settings
 *                    HEARTBEAT                 every LP_HEARTBEAT_MS
 *                    DONE <ok|failed> <reason> the stage finished
 *   host -> worker   CONFIG <json>             everything the worker needs
 *                    REFUSED <reason>          wrong stage, already taken ...
 *                    STOP                      cancel (SIGINT at the host)
 *
 * DEALER/ROUTER rather than REQ/REP so neither side hangs when the other
 * dies; liveness comes from heartbeats and, for local workers, waitpid(). */
#ifndef LP_HOST_CONTROL_H
#define LP_HOST_CONTROL_H

#include <stddef.h>

#define LP_HEARTBEAT_MS 1000
#define LP_MAX_FRAMES   8

typedef struct lp_frames {
    size_t count;
    char *frame[LP_MAX_FRAMES]; /* NUL-terminated copies */
    size_t len[LP_MAX_FRAMES];
} lp_frames;

/* Receives one multipart message (non-blocking when `dontwait`); returns the
 * number of frames, 0 if none was waiting, -1 on error. */
int lp_frames_recv(void *sock, lp_frames *m, int dontwait);
void lp_frames_free(lp_frames *m);

/* Sends `count` string frames as one message. */
int lp_frames_send(void *sock, size_t count, const char *const *frames);

/* Sends with a leading identity frame (ROUTER side). */
int lp_frames_send_to(void *sock, const char *id, size_t id_len, size_t count, const char *const *frames);

/* Applies ZMQ_LINGER and, when keys are given, CURVE. server_secret: make
 * `sock` a CURVE server; server_public: make it a client of that server with
 * a fresh key pair. */
int lp_socket_setup(void *sock, const char *server_secret, const char *server_public, char *err,
                    size_t err_size);

#endif
