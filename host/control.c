#include "host/control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "sdk/comm/zmq_util.h"

int lp_frames_recv(void *sock, lp_frames *m, int dontwait) {
  memset(m, 0, sizeof *m);
  int more = 1;
  while (more) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    int rc = zmq_msg_recv(&msg, sock, dontwait && m->count == 0 ? ZMQ_DONTWAIT
                                                                : 0);
    if (rc < 0) {
      zmq_msg_close(&msg);
      if (errno == EAGAIN && m->count == 0) return 0;
      lp_frames_free(m);
      return -1;
    }
    more = zmq_msg_more(&msg);
    if (m->count < LP_MAX_FRAMES) {
      size_t n = zmq_msg_size(&msg);
      char *copy = malloc(n + 1);
      memcpy(copy, zmq_msg_data(&msg), n);
      copy[n] = '\0';
      m->frame[m->count] = copy;
      m->len[m->count] = n;
      m->count++;
    }
    zmq_msg_close(&msg);
  }
  return (int)m->count;
}

void lp_frames_free(lp_frames *m) {
  for (size_t i = 0; i < m->count; i++) free(m->frame[i]);
  memset(m, 0, sizeof *m);
}

int lp_frames_send(void *sock, size_t count, const char *const *frames) {
  return lp_comm_send_strs(sock, ZMQ_DONTWAIT, (int)count, frames);
}

int lp_frames_send_to(void *sock, const char *id, size_t id_len, size_t count,
                      const char *const *frames) {
  if (zmq_send(sock, id, id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return -1;
  return lp_frames_send(sock, count, frames);
}

int lp_socket_setup(void *sock, const char *server_secret,
                    const char *server_public, char *err, size_t err_size) {
  /* Never let a queued message keep zmq_ctx_term waiting at shutdown. */
  lp_comm_sockopts(sock, 0, -1, -1);
  if (server_secret == NULL && server_public == NULL) return 0;
  if (!lp_comm_curve_available())
    return lp_errf(err, err_size, "CURVE keys are configured but this "
                       "libzmq was built without CURVE support");
  if (server_secret) return lp_comm_curve_server(sock, server_secret, err,
                                                 err_size);
  return lp_comm_curve_client(sock, server_public, err, err_size);
}
