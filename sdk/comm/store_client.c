/* Checkpoint-store client (DEALER). One fresh socket per put/get, so a
 * transfer that failed half-way can never leave stale chunks in the queue of
 * the next one. Protocol: store_proto.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpipe/fsutil.h"
#include "sdk/comm/comm.h"
#include "sdk/comm/store_proto.h"
#include "sdk/comm/zmq_util.h"

struct lp_store_client {
    void *ctx;
    char *endpoint;
    char *server_key; /* NULL: no CURVE */
    int timeout_ms;
    char last_hash[LP_SHA256_HEX_SIZE];
};

enum { CLIENT_LINGER_MS = 0, MAX_PARTS = 5 };

static void *open_socket(lp_store_client *c, char *err, size_t err_size) {
    void *s = zmq_socket(c->ctx, ZMQ_DEALER);
    if (!s) {
        lp_errf(err, err_size, "store client: cannot create socket: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    /* Queues far above the window: credit, not the HWM, bounds memory. */
    lp_comm_sockopts(s, CLIENT_LINGER_MS, 4 * LP_STORE_WINDOW + 16, 4 * LP_STORE_WINDOW + 16);
    if (c->server_key && lp_comm_is_tcp(c->endpoint) &&
        lp_comm_curve_client(s, c->server_key, err, err_size)) {
        zmq_close(s);
        return NULL;
    }
    if (zmq_connect(s, c->endpoint)) {
        lp_errf(err, err_size, "store client: cannot connect to '%s': %s", c->endpoint,
                zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    return s;
}

lp_store_client *lp_store_client_create(void *zmq_ctx, const char *endpoint, const char *curve_server_key,
                                        int timeout_ms, char *err, size_t err_size) {
    if (!zmq_ctx || !endpoint || !*endpoint) {
        lp_errf(err, err_size, "store client: no store endpoint given");
        return NULL;
    }
    lp_store_client *c = calloc(1, sizeof *c);
    if (!c) {
        lp_errf(err, err_size, "store client: out of memory");
        return NULL;
    }
    c->ctx = zmq_ctx;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
    c->endpoint = strdup(endpoint);
    char known[41];
    if (!curve_server_key) curve_server_key = lp_comm_lookup_server_key(endpoint, known);
    if (curve_server_key) c->server_key = strdup(curve_server_key);
    if (!c->endpoint || (curve_server_key && !c->server_key)) {
        lp_errf(err, err_size, "store client: out of memory");
        lp_store_client_destroy(c);
        return NULL;
    }
    /* Catch a malformed endpoint or key now rather than at the first put. */
    void *s = open_socket(c, err, err_size);
    if (!s) {
        lp_store_client_destroy(c);
        return NULL;
    }
    zmq_close(s);
    return c;
}

void lp_store_client_destroy(lp_store_client *c) {
    if (!c) return;
    free(c->endpoint);
    free(c->server_key);
    free(c);
}

const char *lp_store_client_last_hash(const lp_store_client *c) { return c ? c->last_hash : ""; }

/* Waits for one message; -1 with a clear reason on timeout. */
static int wait_msg(lp_store_client *c, void *s, zmq_msg_t *parts, char *err, size_t err_size) {
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    int r;
    do {
        r = zmq_poll(&it, 1, c->timeout_ms);
    } while (r < 0 && zmq_errno() == EINTR);
    if (r == 0)
        return lp_errf(err, err_size,
                       "store at %s did not answer within %d ms (store gone, "
                       "unreachable%s)",
                       c->endpoint, c->timeout_ms, c->server_key ? ", or wrong CURVE server key" : "");
    if (r < 0) return lp_errf(err, err_size, "store client: poll failed: %s", zmq_strerror(zmq_errno()));
    int n = lp_comm_recv_parts(s, parts, MAX_PARTS, 0);
    if (n <= 0) return lp_errf(err, err_size, "store client: receive failed: %s", zmq_strerror(zmq_errno()));
    return n;
}

/* ERR / NOTFOUND answers: copies the store's message into err. */
static int server_error(zmq_msg_t *parts, int n, const char *what, char *err, size_t err_size) {
    char msg[512] = "";
    if (n > 1 && lp_comm_frame_str(&parts[1], msg, sizeof msg))
        snprintf(msg, sizeof msg, "(message too long)");
    int nf = lp_comm_frame_is(&parts[0], "NOTFOUND");
    lp_errf(err, err_size, "store refused %s: %s", what, msg);
    return nf ? LP_ERR_NOTFOUND : LP_ERR;
}

static void send_abort(void *s, const char *reason) {
    const char *f[2] = {"ABORT", reason};
    lp_comm_send_strs(s, ZMQ_DONTWAIT, 2, f);
}

/* ---- put ---------------------------------------------------------------- */

int lp_store_client_put(lp_store_client *c, const char *name, const char *local_dir, char *err,
                        size_t err_size) {
    if (!c || !name || !local_dir) return lp_errf(err, err_size, "store put: missing argument");
    if (!lp_store_valid_name(name))
        return lp_errf(err, err_size,
                       "store put: artifact name '%s' must be 1-%d characters "
                       "of [A-Za-z0-9._-], not starting with '.'",
                       name, LP_STORE_MAX_NAME);
    lp_store_manifest m;
    char serr[512];
    if (lp_store_scan_dir(local_dir, &m, serr, sizeof serr))
        return lp_errf(err, err_size, "store put '%s': %s", name, serr);
    char *mj = lp_store_manifest_json(&m, 0);
    void *s = mj ? open_socket(c, err, err_size) : NULL;
    int rc = LP_ERR;
    if (!mj) lp_errf(err, err_size, "store put: out of memory");
    if (!s) goto out;
    const char *hello[3] = {"PUT", name, mj};
    if (lp_comm_send_strs(s, 0, 3, hello)) {
        lp_errf(err, err_size, "store put: send failed: %s", zmq_strerror(zmq_errno()));
        goto out;
    }
    lp_store_tx tx;
    lp_store_tx_init(&tx, local_dir, &m, 0);
    for (;;) {
        zmq_msg_t parts[MAX_PARTS];
        int n = wait_msg(c, s, parts, serr, sizeof serr);
        if (n < 0) {
            lp_errf(err, err_size, "store put '%s': %s", name, serr);
            break;
        }
        if (lp_comm_frame_is(&parts[0], "FETCH") && n >= 2) {
            int r = lp_store_tx_serve(&tx, s, NULL, &parts[1], serr, sizeof serr);
            lp_comm_close_parts(parts, n);
            if (r) {
                send_abort(s, serr);
                lp_errf(err, err_size, "store put '%s': %s", name, serr);
                break;
            }
        } else if (lp_comm_frame_is(&parts[0], "DONE") && n >= 2) {
            char h[LP_SHA256_HEX_SIZE] = "", mine[LP_SHA256_HEX_SIZE];
            lp_comm_frame_str(&parts[1], h, sizeof h);
            lp_comm_close_parts(parts, n);
            if (!lp_store_tx_complete(&tx)) {
                lp_errf(err, err_size,
                        "store put '%s': store committed before "
                        "receiving every file",
                        name);
                break;
            }
            lp_store_compute_hash(&m, mine);
            if (strcmp(h, mine)) {
                lp_errf(err, err_size,
                        "store put '%s': store reports hash %s, "
                        "expected %s",
                        name, h, mine);
                break;
            }
            memcpy(c->last_hash, mine, sizeof mine);
            rc = LP_OK;
            break;
        } else if (lp_comm_frame_is(&parts[0], "ERR") || lp_comm_frame_is(&parts[0], "NOTFOUND")) {
            char what[300];
            snprintf(what, sizeof what, "put '%s'", name);
            rc = server_error(parts, n, what, err, err_size);
            if (rc == LP_ERR_NOTFOUND) rc = LP_ERR;
            lp_comm_close_parts(parts, n);
            break;
        } else {
            lp_comm_close_parts(parts, n);
            send_abort(s, "unexpected message");
            lp_errf(err, err_size,
                    "store put '%s': unexpected message from "
                    "store",
                    name);
            break;
        }
    }
    lp_store_tx_close(&tx);
out:
    if (s) zmq_close(s);
    free(mj);
    lp_store_manifest_free(&m);
    return rc;
}

/* ---- get ---------------------------------------------------------------- */

static int issue_fetches(void *s, lp_store_rx *rx, char *err, size_t err_size) {
    char arg[80];
    while (lp_store_rx_next(rx, arg, sizeof arg)) {
        const char *f[2] = {"FETCH", arg};
        if (lp_comm_send_strs(s, 0, 2, f))
            return lp_errf(err, err_size, "send failed: %s", zmq_strerror(zmq_errno()));
        lp_store_rx_sent(rx);
    }
    return 0;
}

/* Moves the verified tmp folder to dest, replacing an earlier get. */
static int install(const char *tmp, const char *dest, char *err, size_t err_size) {
    char parent[4096];
    lp_parent_dir(dest, parent, sizeof parent);
    struct stat st;
    if (stat(dest, &st) == 0) {
        char old[4200];
        snprintf(old, sizeof old, "%s.old-%ld", dest, (long)getpid());
        lp_remove_tree(old);
        if (rename(dest, old))
            return lp_errf(err, err_size, "cannot move aside '%s': %s", dest, strerror(errno));
        if (rename(tmp, dest)) {
            int e = errno;
            rename(old, dest);
            return lp_errf(err, err_size, "cannot rename '%s' to '%s': %s", tmp, dest, strerror(e));
        }
        lp_remove_tree(old);
    } else if (rename(tmp, dest)) {
        return lp_errf(err, err_size, "cannot rename '%s' to '%s': %s", tmp, dest, strerror(errno));
    }
    lp_fsync_path(parent);
    return 0;
}

static int prepare_dest(const char *dest, char *tmp, size_t tmp_size, char *err, size_t err_size) {
    char parent[4096];
    lp_parent_dir(dest, parent, sizeof parent);
    if (lp_mkdir_p(parent, err, err_size)) return -1;
    struct stat st;
    if (stat(dest, &st) == 0) {
        char mf[4200];
        snprintf(mf, sizeof mf, "%s/%s", dest, LP_STORE_MANIFEST_FILE);
        if (!S_ISDIR(st.st_mode) || access(mf, F_OK))
            return lp_errf(err, err_size,
                           "'%s' exists and is not an earlier get (no %s): "
                           "refusing to replace it",
                           dest, LP_STORE_MANIFEST_FILE);
    }
    if ((size_t)snprintf(tmp, tmp_size, "%s.part-XXXXXX", dest) >= tmp_size || !mkdtemp(tmp))
        return lp_errf(err, err_size,
                       "cannot create a temporary folder "
                       "beside '%s': %s",
                       dest, strerror(errno));
    chmod(tmp, 0755); /* mkdtemp's 0700 would become the folder's mode */
    return 0;
}

int lp_store_client_get(lp_store_client *c, const char *name, const char *dest_dir, char *err,
                        size_t err_size) {
    if (!c || !name || !dest_dir || !*dest_dir) return lp_errf(err, err_size, "store get: missing argument");
    if (!lp_store_valid_name(name))
        return lp_errf(err, err_size,
                       "store get: '%s' is not a valid "
                       "artifact name",
                       name);
    void *s = open_socket(c, err, err_size);
    if (!s) return LP_ERR;
    int rc = LP_ERR;
    char serr[600], tmp[4200] = "";
    lp_store_manifest m = {0};
    const char *hello[2] = {"GET", name};
    if (lp_comm_send_strs(s, 0, 2, hello)) {
        lp_errf(err, err_size, "store get: send failed: %s", zmq_strerror(zmq_errno()));
        goto out;
    }
    zmq_msg_t parts[MAX_PARTS];
    int n = wait_msg(c, s, parts, serr, sizeof serr);
    if (n < 0) {
        lp_errf(err, err_size, "store get '%s': %s", name, serr);
        goto out;
    }
    if (!lp_comm_frame_is(&parts[0], "MANIFEST") || n < 2) {
        char what[300];
        snprintf(what, sizeof what, "get '%s'", name);
        if (lp_comm_frame_is(&parts[0], "ERR") || lp_comm_frame_is(&parts[0], "NOTFOUND"))
            rc = server_error(parts, n, what, err, err_size);
        else
            lp_errf(err, err_size, "store get '%s': unexpected answer", name);
        lp_comm_close_parts(parts, n);
        goto out;
    }
    int perr =
        lp_store_manifest_parse(zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]), 1, &m, serr, sizeof serr);
    lp_comm_close_parts(parts, n);
    if (perr) {
        send_abort(s, "bad manifest");
        lp_errf(err, err_size, "store get '%s': %s", name, serr);
        goto out;
    }
    char h[LP_SHA256_HEX_SIZE];
    lp_store_compute_hash(&m, h);
    if (strcmp(h, m.hash)) {
        send_abort(s, "manifest hash mismatch");
        lp_errf(err, err_size,
                "store get '%s': manifest does not match its "
                "hash %s (computed %s)",
                name, m.hash, h);
        goto out;
    }
    if (prepare_dest(dest_dir, tmp, sizeof tmp, serr, sizeof serr)) {
        tmp[0] = '\0';
        send_abort(s, "client cannot write");
        lp_errf(err, err_size, "store get '%s': %s", name, serr);
        goto out;
    }
    lp_store_rx rx;
    lp_store_rx_init(&rx, tmp, &m, 1);
    int bad = issue_fetches(s, &rx, serr, sizeof serr);
    while (!bad && !lp_store_rx_complete(&rx)) {
        n = wait_msg(c, s, parts, serr, sizeof serr);
        if (n < 0) {
            bad = 1;
            break;
        }
        if (lp_comm_frame_is(&parts[0], "DATA")) {
            bad = n < 3 ||
                  lp_store_rx_data(&rx, &parts[1], &parts[2], n > 3 ? &parts[3] : NULL, serr, sizeof serr) ||
                  issue_fetches(s, &rx, serr, sizeof serr);
            if (n < 3) snprintf(serr, sizeof serr, "malformed DATA message");
        } else if (lp_comm_frame_is(&parts[0], "ERR")) {
            char msg[400] = "";
            if (n > 1) lp_comm_frame_str(&parts[1], msg, sizeof msg);
            snprintf(serr, sizeof serr, "store aborted: %s", msg);
            bad = 1;
        } else {
            snprintf(serr, sizeof serr, "unexpected message from store");
            bad = 1;
        }
        lp_comm_close_parts(parts, n);
    }
    lp_store_rx_close(&rx);
    if (!bad && (lp_store_write_manifest(tmp, &m, serr, sizeof serr) || lp_fsync_path(tmp) ||
                 install(tmp, dest_dir, serr, sizeof serr)))
        bad = 1;
    if (bad) {
        send_abort(s, serr);
        lp_errf(err, err_size, "store get '%s': %s", name, serr);
        goto out;
    }
    tmp[0] = '\0'; /* installed: nothing to clean */
    const char *bye[1] = {"BYE"};
    lp_comm_send_strs(s, ZMQ_DONTWAIT, 1, bye);
    memcpy(c->last_hash, m.hash, sizeof m.hash);
    rc = LP_OK;
out:
    if (tmp[0]) lp_remove_tree(tmp);
    lp_store_manifest_free(&m);
    zmq_close(s);
    return rc;
}
