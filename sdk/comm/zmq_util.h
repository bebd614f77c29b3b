/* Small libzmq helpers shared by the broker and the worker-side clients:
 * socket defaults, CURVE setup, multipart receive. */
#ifndef LLMPIPE_COMM_ZMQ_UTIL_H
#define LLMPIPE_COMM_ZMQ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "llmpipe/error.h" /* lp_errf: every comm error goes through it */

#include "llmpipe/clock.h" /* lp_wall_s, lp_mono_ms */

/* Linger and high-water marks, the settings every llmpipe socket makes on
 * purpose (libzmq's default linger is infinite: zmq_ctx_term would hang). */
int lp_comm_sockopts(void *sock, int linger_ms, int sndhwm, int rcvhwm);

int lp_comm_is_tcp(const char *endpoint);
/* 1 when libzmq was built with CURVE. */
int lp_comm_curve_available(void);
/* Server side: `secret_key` is the 40-char Z85 secret key. */
int lp_comm_curve_server(void *sock, const char *secret_key, char *err, size_t err_size);
/* Client side: authenticates the server by its Z85 public key; the client's
 * own keypair is ephemeral (generated here). */
int lp_comm_curve_client(void *sock, const char *server_public_key, char *err, size_t err_size);
/* Z85 public key for a Z85 secret key (41 bytes out). */
int lp_comm_curve_public(const char *secret_key, char public_key[41]);

/* Clients in the broker's own process (the host's event publisher, the
 * live view of `llmpipe run`) connect without being handed the key: the
 * broker registers the public key of each CURVE endpoint it binds and
 * clients given no key look it up here. */
void lp_comm_register_server_key(const char *endpoint, const char *public_key);
void lp_comm_unregister_server_key(const char *endpoint);
/* The registered key for endpoint, copied into out (41 bytes); NULL if
 * none. */
const char *lp_comm_lookup_server_key(const char *endpoint, char out[41]);

/* Receives one whole multipart message into parts[0..max-1] (each already
 * initialised here); parts beyond max are received and discarded. Returns
 * the number of parts kept, or -1 (errno from zmq). On -1 nothing needs
 * closing. */
int lp_comm_recv_parts(void *sock, zmq_msg_t *parts, int max, int flags);
void lp_comm_close_parts(zmq_msg_t *parts, int n);

/* Sends `n` string frames as one message (NULL strings send empty frames). */
int lp_comm_send_strs(void *sock, int flags, int n, const char *const *strs);

/* Copies a frame into a NUL-terminated string; -1 when it does not fit. */
int lp_comm_frame_str(zmq_msg_t *m, char *out, size_t out_size);
/* 1 when the frame holds exactly the string s. */
int lp_comm_frame_is(zmq_msg_t *m, const char *s);

#endif
