#include "sdk/comm/zmq_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int lp_comm_sockopts(void *sock, int linger_ms, int sndhwm, int rcvhwm) {
    if (zmq_setsockopt(sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms)) return -1;
    if (sndhwm >= 0 && zmq_setsockopt(sock, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm)) return -1;
    if (rcvhwm >= 0 && zmq_setsockopt(sock, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm)) return -1;
    return 0;
}

int lp_comm_is_tcp(const char *endpoint) { return endpoint && strncmp(endpoint, "tcp://", 6) == 0; }

int lp_comm_curve_available(void) { return zmq_has("curve") ? 1 : 0; }

static int check_key(const char *key, const char *what, char *err, size_t err_size) {
    if (!lp_comm_curve_available())
        return lp_errf(err, err_size,
                       "libzmq on this machine was built without CURVE: "
                       "cannot use %s",
                       what);
    if (!key || strlen(key) != 40)
        return lp_errf(err, err_size,
                       "%s must be a 40-character Z85 CURVE key, got %zu "
                       "characters",
                       what, key ? strlen(key) : (size_t)0);
    uint8_t raw[32];
    if (!zmq_z85_decode(raw, key)) return lp_errf(err, err_size, "%s is not valid Z85 text", what);
    return 0;
}

int lp_comm_curve_public(const char *secret_key, char public_key[41]) {
    if (check_key(secret_key, "CURVE secret key", NULL, 0)) return -1;
    return zmq_curve_public(public_key, secret_key) ? -1 : 0;
}

int lp_comm_curve_server(void *sock, const char *secret_key, char *err, size_t err_size) {
    if (check_key(secret_key, "curve_secret_key", err, err_size)) return -1;
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret_key, 40))
        return lp_errf(err, err_size, "CURVE server setup failed: %s", zmq_strerror(zmq_errno()));
    return 0;
}

int lp_comm_curve_client(void *sock, const char *server_public_key, char *err, size_t err_size) {
    if (check_key(server_public_key, "CURVE server public key", err, err_size)) return -1;
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec))
        return lp_errf(err, err_size, "CURVE keypair generation failed: %s", zmq_strerror(zmq_errno()));
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_public_key, 40) ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, 40) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, 40))
        return lp_errf(err, err_size, "CURVE client setup failed: %s", zmq_strerror(zmq_errno()));
    return 0;
}

enum { MAX_KEYS = 32 };
static struct {
    char endpoint[256];
    char key[41];
} keys[MAX_KEYS];
static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;

void lp_comm_register_server_key(const char *endpoint, const char *public_key) {
    if (!endpoint || !public_key || strlen(endpoint) >= sizeof keys[0].endpoint) return;
    pthread_mutex_lock(&keys_lock);
    for (int i = 0; i < MAX_KEYS; i++)
        if (!keys[i].endpoint[0] || !strcmp(keys[i].endpoint, endpoint)) {
            snprintf(keys[i].endpoint, sizeof keys[i].endpoint, "%s", endpoint);
            snprintf(keys[i].key, sizeof keys[i].key, "%s", public_key);
            break;
        }
    pthread_mutex_unlock(&keys_lock);
}

void lp_comm_unregister_server_key(const char *endpoint) {
    if (!endpoint) return;
    pthread_mutex_lock(&keys_lock);
    for (int i = 0; i < MAX_KEYS; i++)
        if (!strcmp(keys[i].endpoint, endpoint)) keys[i].endpoint[0] = '\0';
    pthread_mutex_unlock(&keys_lock);
}

const char *lp_comm_lookup_server_key(const char *endpoint, char out[41]) {
    const char *found = NULL;
    if (!endpoint) return NULL;
    pthread_mutex_lock(&keys_lock);
    for (int i = 0; i < MAX_KEYS && !found; i++)
        if (keys[i].endpoint[0] && !strcmp(keys[i].endpoint, endpoint)) {
            memcpy(out, keys[i].key, 41);
            found = out;
        }
    pthread_mutex_unlock(&keys_lock);
    return found;
}

int lp_comm_recv_parts(void *sock, zmq_msg_t *parts, int max, int flags) {
    int n = 0;
    for (;;) {
        zmq_msg_t tmp;
        zmq_msg_t *m = n < max ? &parts[n] : &tmp;
        zmq_msg_init(m);
        /* Once the first frame arrived the rest is already queued: only the
     * first receive may be non-blocking. */
        if (zmq_msg_recv(m, sock, n == 0 ? flags : 0) < 0) {
            int e = zmq_errno();
            zmq_msg_close(m);
            lp_comm_close_parts(parts, n < max ? n : max);
            errno = e;
            return -1;
        }
        int more = zmq_msg_more(m);
        if (n < max)
            n++;
        else
            zmq_msg_close(m);
        if (!more) break;
    }
    return n;
}

void lp_comm_close_parts(zmq_msg_t *parts, int n) {
    for (int i = 0; i < n; i++) zmq_msg_close(&parts[i]);
}

int lp_comm_send_strs(void *sock, int flags, int n, const char *const *strs) {
    for (int i = 0; i < n; i++) {
        const char *s = strs[i] ? strs[i] : "";
        int f = flags | (i + 1 < n ? ZMQ_SNDMORE : 0);
        if (zmq_send(sock, s, strlen(s), f) < 0) return -1;
    }
    return 0;
}

int lp_comm_frame_str(zmq_msg_t *m, char *out, size_t out_size) {
    size_t n = zmq_msg_size(m);
    if (n + 1 > out_size) return -1;
    memcpy(out, zmq_msg_data(m), n);
    out[n] = '\0';
    return 0;
}

int lp_comm_frame_is(zmq_msg_t *m, const char *s) {
    size_t n = strlen(s);
    return zmq_msg_size(m) == n && memcmp(zmq_msg_data(m), s, n) == 0;
}
