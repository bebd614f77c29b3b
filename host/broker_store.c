/* The checkpoint store: one ROUTER serving any number of clients, one
 * transfer per client (keyed by routing id) at a time. The protocol and the
 * chunk engines live in sdk/comm (store_proto.h); this file keeps the
 * per-client state, commits puts atomically (temp folder, fsync, rename) and
 * drops transfers whose peer went quiet for longer than the timeout. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "broker_internal.h"
#include "llmpipe/clock.h"
#include "llmpipe/fsutil.h"
#include "sdk/comm/store_proto.h"
#include "sdk/comm/zmq_util.h"

typedef struct xfer {
    unsigned char id[256];
    size_t id_len;
    int is_put;
    char name[LP_STORE_MAX_NAME + 1];
    lp_store_manifest m;
    char root[4200]; /* put: temp folder; get: the artifact folder */
    lp_store_rx rx;
    lp_store_tx tx;
    int64_t last_ms;
} xfer;

typedef struct store {
    lp_broker_store *cfg;
    xfer **x;
    size_t n, cap;
} store;

enum { MAX_PARTS = 6, TICK_MS = 200 };

void lp_broker_store_cleanup(const char *artifacts_dir) {
    DIR *d = opendir(artifacts_dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, ".tmp-", 5)) continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", artifacts_dir, e->d_name);
        lp_remove_tree(p);
    }
    closedir(d);
}

static xfer *find(store *s, zmq_msg_t *id) {
    for (size_t i = 0; i < s->n; i++)
        if (s->x[i]->id_len == zmq_msg_size(id) && !memcmp(s->x[i]->id, zmq_msg_data(id), s->x[i]->id_len))
            return s->x[i];
    return NULL;
}

static void drop(store *s, xfer *x) {
    lp_store_rx_close(&x->rx);
    lp_store_tx_close(&x->tx);
    if (x->is_put && x->root[0]) lp_remove_tree(x->root);
    lp_store_manifest_free(&x->m);
    for (size_t i = 0; i < s->n; i++)
        if (s->x[i] == x) {
            s->x[i] = s->x[--s->n];
            break;
        }
    free(x);
}

static xfer *add(store *s, zmq_msg_t *id) {
    if (zmq_msg_size(id) > sizeof(((xfer *)0)->id)) return NULL;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        xfer **nx = realloc(s->x, nc * sizeof *nx);
        if (!nx) return NULL;
        s->x = nx;
        s->cap = nc;
    }
    xfer *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->id_len = zmq_msg_size(id);
    memcpy(x->id, zmq_msg_data(id), x->id_len);
    x->rx.fd = x->tx.fd = -1;
    x->last_ms = lp_mono_ms();
    s->x[s->n++] = x;
    return x;
}

/* Reply [id, cmd, arg]; non-blocking. -1 when the peer is gone. */
static int reply(store *s, const void *id, size_t id_len, const char *cmd, const char *arg) {
    void *r = s->cfg->router;
    if (zmq_send(r, id, id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return -1;
    if (zmq_send(r, cmd, strlen(cmd), (arg ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0) return -1;
    if (arg && zmq_send(r, arg, strlen(arg), ZMQ_DONTWAIT) < 0) return -1;
    return 0;
}

static void fail(store *s, xfer *x, const char *msg) {
    reply(s, x->id, x->id_len, "ERR", msg);
    drop(s, x);
}

static int issue_fetches(store *s, xfer *x) {
    char arg[80];
    while (lp_store_rx_next(&x->rx, arg, sizeof arg)) {
        if (reply(s, x->id, x->id_len, "FETCH", arg)) return -1;
        lp_store_rx_sent(&x->rx);
    }
    return 0;
}

static void commit_put(store *s, xfer *x) {
    char err[600], final[4200];
    lp_store_compute_hash(&x->m, x->m.hash);
    snprintf(final, sizeof final, "%s/%s", s->cfg->artifacts_dir, x->name);
    if (lp_store_write_manifest(x->root, &x->m, err, sizeof err) || lp_fsync_path(x->root)) {
        fail(s, x, err);
        return;
    }
    /* rename() of a folder onto an existing non-empty one fails: a racing put
   * of the same name cannot overwrite a committed artifact. */
    if (rename(x->root, final)) {
        snprintf(err, sizeof err, "cannot commit artifact '%s': %s", x->name,
                 errno == ENOTEMPTY || errno == EEXIST ? "it already exists" : strerror(errno));
        fail(s, x, err);
        return;
    }
    x->root[0] = '\0'; /* committed: nothing to remove any more */
    lp_fsync_path(s->cfg->artifacts_dir);
    reply(s, x->id, x->id_len, "DONE", x->m.hash);
    drop(s, x);
}

static int artifact_exists(store *s, const char *name) {
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", s->cfg->artifacts_dir, name);
    return stat(p, &st) == 0;
}

static void on_put(store *s, zmq_msg_t *id, zmq_msg_t *parts, int n) {
    char name[LP_STORE_MAX_NAME + 2] = "", err[600];
    if (n < 3 || lp_comm_frame_str(&parts[1], name, sizeof name) || !lp_store_valid_name(name)) {
        snprintf(err, sizeof err,
                 "PUT needs a valid artifact name "
                 "([A-Za-z0-9._-], not starting with '.') and a manifest");
        reply(s, zmq_msg_data(id), zmq_msg_size(id), "ERR", err);
        return;
    }
    if (artifact_exists(s, name)) {
        snprintf(err, sizeof err,
                 "artifact '%s' already exists in the store; "
                 "artifacts are immutable (put it under a new name)",
                 name);
        reply(s, zmq_msg_data(id), zmq_msg_size(id), "ERR", err);
        return;
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->x[i]->is_put && !strcmp(s->x[i]->name, name)) {
            snprintf(err, sizeof err,
                     "artifact '%s' is being written by another "
                     "client",
                     name);
            reply(s, zmq_msg_data(id), zmq_msg_size(id), "ERR", err);
            return;
        }
    xfer *x = add(s, id);
    if (!x) {
        reply(s, zmq_msg_data(id), zmq_msg_size(id), "ERR", "store out of memory");
        return;
    }
    x->is_put = 1;
    snprintf(x->name, sizeof x->name, "%s", name);
    char perr[500];
    if (lp_store_manifest_parse(zmq_msg_data(&parts[2]), zmq_msg_size(&parts[2]), 0, &x->m, perr,
                                sizeof perr)) {
        snprintf(err, sizeof err, "put '%s': %s", name, perr);
        fail(s, x, err);
        return;
    }
    snprintf(x->root, sizeof x->root, "%s/.tmp-%s-XXXXXX", s->cfg->artifacts_dir, name);
    if (!mkdtemp(x->root)) {
        snprintf(err, sizeof err,
                 "put '%s': cannot create a temporary folder in "
                 "'%s': %s",
                 name, s->cfg->artifacts_dir, strerror(errno));
        x->root[0] = '\0';
        fail(s, x, err);
        return;
    }
    chmod(x->root, 0755); /* mkdtemp's 0700 would become the artifact's mode */
    lp_store_rx_init(&x->rx, x->root, &x->m, 0);
    if (lp_store_rx_complete(&x->rx)) {
        commit_put(s, x); /* an empty artifact */
        return;
    }
    if (issue_fetches(s, x)) drop(s, x);
}

static void on_get(store *s, zmq_msg_t *id, zmq_msg_t *parts, int n) {
    char name[LP_STORE_MAX_NAME + 2] = "", err[600];
    if (n < 2 || lp_comm_frame_str(&parts[1], name, sizeof name) || !lp_store_valid_name(name)) {
        reply(s, zmq_msg_data(id), zmq_msg_size(id), "ERR", "GET needs a valid artifact name");
        return;
    }
    if (!artifact_exists(s, name)) {
        snprintf(err, sizeof err, "no artifact named '%s' in the store", name);
        reply(s, zmq_msg_data(id), zmq_msg_size(id), "NOTFOUND", err);
        return;
    }
    xfer *x = add(s, id);
    if (!x) {
        reply(s, zmq_msg_data(id), zmq_msg_size(id), "ERR", "store out of memory");
        return;
    }
    snprintf(x->name, sizeof x->name, "%s", name);
    snprintf(x->root, sizeof x->root, "%s/%s", s->cfg->artifacts_dir, name);
    char rerr[500];
    if (lp_store_read_manifest(x->root, &x->m, rerr, sizeof rerr)) {
        snprintf(err, sizeof err, "artifact '%s' is damaged: %s", name, rerr);
        fail(s, x, err);
        return;
    }
    char *mj = lp_store_manifest_json(&x->m, 1);
    int r = mj ? reply(s, x->id, x->id_len, "MANIFEST", mj) : -1;
    free(mj);
    lp_store_tx_init(&x->tx, x->root, &x->m, 1);
    if (r || lp_store_tx_complete(&x->tx)) drop(s, x);
}

static void on_message(store *s, zmq_msg_t *parts, int n) {
    if (n < 2) return;
    zmq_msg_t *id = &parts[0];
    xfer *x = find(s, id);
    zmq_msg_t *cmd = &parts[1];
    char err[1024];
    if (lp_comm_frame_is(cmd, "PUT") || lp_comm_frame_is(cmd, "GET")) {
        if (x) drop(s, x); /* a client starting over abandons its old transfer */
        if (lp_comm_frame_is(cmd, "PUT"))
            on_put(s, id, parts + 1, n - 1);
        else
            on_get(s, id, parts + 1, n - 1);
        return;
    }
    if (lp_comm_frame_is(cmd, "BYE") || lp_comm_frame_is(cmd, "ABORT")) {
        if (x) drop(s, x);
        return;
    }
    if (!x) {
        /* Late chunks of a transfer that already failed: nothing to answer. */
        if (!lp_comm_frame_is(cmd, "DATA") && !lp_comm_frame_is(cmd, "FETCH"))
            reply(s, zmq_msg_data(id), zmq_msg_size(id), "ERR", "unknown command");
        return;
    }
    x->last_ms = lp_mono_ms();
    if (lp_comm_frame_is(cmd, "DATA") && x->is_put) {
        char derr[600];
        if (n < 4 ||
            lp_store_rx_data(&x->rx, &parts[2], &parts[3], n > 4 ? &parts[4] : NULL, derr, sizeof derr)) {
            snprintf(err, sizeof err, "put '%s' refused: %s", x->name,
                     n < 4 ? "malformed DATA message" : derr);
            fail(s, x, err);
        } else if (lp_store_rx_complete(&x->rx)) {
            commit_put(s, x);
        } else if (issue_fetches(s, x)) {
            drop(s, x);
        }
    } else if (lp_comm_frame_is(cmd, "FETCH") && !x->is_put && n >= 3) {
        char terr[600];
        if (lp_store_tx_serve(&x->tx, s->cfg->router, id, &parts[2], terr, sizeof terr)) {
            snprintf(err, sizeof err, "get '%s': %s", x->name, terr);
            fail(s, x, err);
        }
        /* After the last chunk the client still sends BYE; keep the state until
     * then or until the timeout reaps it. */
    } else {
        snprintf(err, sizeof err, "unexpected message during %s of '%s'", x->is_put ? "put" : "get", x->name);
        fail(s, x, err);
    }
}

static void reap(store *s) {
    int64_t now = lp_mono_ms();
    for (size_t i = 0; i < s->n;) {
        xfer *x = s->x[i];
        if (now - x->last_ms > s->cfg->timeout_ms) {
            char err[400];
            snprintf(err, sizeof err,
                     "%s of '%s' dropped: no message from the "
                     "client for %d ms",
                     x->is_put ? "put" : "get", x->name, s->cfg->timeout_ms);
            fail(s, x, err); /* removes x, so do not advance */
        } else {
            i++;
        }
    }
}

void *lp_broker_store_main(void *arg) {
    store s = {.cfg = arg};
    zmq_pollitem_t items[2] = {{s.cfg->router, 0, ZMQ_POLLIN, 0}, {s.cfg->ctl, 0, ZMQ_POLLIN, 0}};
    for (;;) {
        int r = zmq_poll(items, 2, TICK_MS);
        if (r < 0 && zmq_errno() != EINTR) break;
        if (r > 0 && (items[1].revents & ZMQ_POLLIN)) break;
        if (r > 0 && (items[0].revents & ZMQ_POLLIN)) {
            for (int i = 0; i < 64; i++) {
                zmq_msg_t parts[MAX_PARTS];
                int n = lp_comm_recv_parts(s.cfg->router, parts, MAX_PARTS, ZMQ_DONTWAIT);
                if (n < 0) break;
                on_message(&s, parts, n);
                lp_comm_close_parts(parts, n);
            }
        }
        reap(&s);
    }
    while (s.n) drop(&s, s.x[0]);
    free(s.x);
    return NULL;
}
