/* The two halves of a chunked transfer. The receiver pulls chunks in order
 * with at most LP_STORE_WINDOW requests in flight (the credit), so memory on
 * both sides stays bounded by the window; the sender attaches each file's
 * SHA-256 to its last chunk and the receiver checks it against what it
 * wrote. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sdk/comm/store_proto.h"
#include "sdk/comm/zmq_util.h"

void lp_store_rx_init(lp_store_rx *rx, const char *root, const lp_store_manifest *m, int check_manifest) {
    memset(rx, 0, sizeof *rx);
    rx->root = root;
    rx->m = m;
    rx->check_manifest = check_manifest;
    rx->fd = -1;
}

int lp_store_rx_next(lp_store_rx *rx, char *arg, size_t arg_size) {
    if (rx->outstanding >= LP_STORE_WINDOW || rx->req_idx >= rx->m->count) return 0;
    uint64_t size = rx->m->files[rx->req_idx].size;
    uint64_t len = size - rx->req_off;
    if (len > LP_STORE_CHUNK) len = LP_STORE_CHUNK;
    snprintf(arg, arg_size, "%zu %llu %llu", rx->req_idx, (unsigned long long)rx->req_off,
             (unsigned long long)len);
    return 1;
}

void lp_store_rx_sent(lp_store_rx *rx) {
    uint64_t size = rx->m->files[rx->req_idx].size;
    uint64_t len = size - rx->req_off;
    if (len > LP_STORE_CHUNK) len = LP_STORE_CHUNK;
    rx->outstanding++;
    rx->req_off += len;
    if (rx->req_off >= size) {
        rx->req_idx++;
        rx->req_off = 0;
    }
}

int lp_store_rx_data(lp_store_rx *rx, zmq_msg_t *pos, zmq_msg_t *payload, zmq_msg_t *sha, char *err,
                     size_t err_size) {
    uint64_t v[2];
    if (lp_store_parse_nums(zmq_msg_data(pos), zmq_msg_size(pos), v, 2))
        return lp_errf(err, err_size, "malformed DATA message");
    if (rx->recv_idx >= rx->m->count || v[0] != rx->recv_idx || v[1] != rx->recv_off || rx->outstanding <= 0)
        return lp_errf(err, err_size,
                       "chunk (file %llu, offset %llu) was not "
                       "requested",
                       (unsigned long long)v[0], (unsigned long long)v[1]);
    lp_store_file *f = (lp_store_file *)&rx->m->files[rx->recv_idx];
    uint64_t want = f->size - rx->recv_off;
    if (want > LP_STORE_CHUNK) want = LP_STORE_CHUNK;
    size_t len = zmq_msg_size(payload);
    if (len != want)
        return lp_errf(err, err_size,
                       "'%s': chunk at offset %llu has %zu "
                       "bytes, expected %llu (truncated transfer)",
                       f->path, (unsigned long long)v[1], len, (unsigned long long)want);
    if (rx->fd < 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", rx->root, f->path);
        if (lp_store_mkdirs_for(rx->root, f->path) ||
            (rx->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
            return lp_errf(err, err_size, "cannot create '%s': %s", path, strerror(errno));
        lp_sha256_init(&rx->sha);
    }
    const char *p = zmq_msg_data(payload);
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(rx->fd, p + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return lp_errf(err, err_size, "cannot write '%s': %s", f->path,
                           w < 0 ? strerror(errno) : "no space");
        done += (size_t)w;
    }
    lp_sha256_update(&rx->sha, p, len);
    /* Start writeback every 32 chunks (8 MiB) so the fsync at the end of a
   * multi-GB file does not stall the store for seconds. */
    if (((rx->recv_off / LP_STORE_CHUNK) + 1) % 32 == 0) {
        off_t from = (off_t)(rx->recv_off + len) - 32 * LP_STORE_CHUNK;
        sync_file_range(rx->fd, from < 0 ? 0 : from, 32 * LP_STORE_CHUNK, SYNC_FILE_RANGE_WRITE);
    }
    rx->recv_off += len;
    rx->outstanding--;
    if (rx->recv_off < f->size) return 0;
    char theirs[LP_SHA256_HEX_SIZE] = "";
    lp_sha256_final_hex(&rx->sha, rx->got_sha);
    if (!sha || lp_comm_frame_str(sha, theirs, sizeof theirs) || strcmp(rx->got_sha, theirs))
        return lp_errf(err, err_size,
                       "'%s': content hash mismatch (received "
                       "bytes hash to %s, sender says %s): corrupted transfer",
                       f->path, rx->got_sha, theirs[0] ? theirs : "nothing");
    if (rx->check_manifest && strcmp(rx->got_sha, f->sha256))
        return lp_errf(err, err_size,
                       "'%s': content hash mismatch (received "
                       "bytes hash to %s, manifest says %s): corrupted "
                       "artifact",
                       f->path, rx->got_sha, f->sha256);
    if (!rx->check_manifest) memcpy(f->sha256, rx->got_sha, LP_SHA256_HEX_SIZE);
    int bad = fsync(rx->fd);
    bad |= close(rx->fd);
    rx->fd = -1;
    if (bad) return lp_errf(err, err_size, "cannot flush '%s': %s", f->path, strerror(errno));
    rx->recv_idx++;
    rx->recv_off = 0;
    return 0;
}

int lp_store_rx_complete(const lp_store_rx *rx) { return rx->recv_idx == rx->m->count; }

void lp_store_rx_close(lp_store_rx *rx) {
    if (rx->fd >= 0) close(rx->fd);
    rx->fd = -1;
}

void lp_store_tx_init(lp_store_tx *tx, const char *root, lp_store_manifest *m, int use_manifest_sha) {
    memset(tx, 0, sizeof *tx);
    tx->root = root;
    tx->m = m;
    tx->use_manifest_sha = use_manifest_sha;
    tx->fd = -1;
}

int lp_store_tx_serve(lp_store_tx *tx, void *sock, zmq_msg_t *id, zmq_msg_t *arg, char *err,
                      size_t err_size) {
    uint64_t v[3];
    if (lp_store_parse_nums(zmq_msg_data(arg), zmq_msg_size(arg), v, 3))
        return lp_errf(err, err_size, "malformed FETCH");
    lp_store_file *f = tx->idx < tx->m->count ? &tx->m->files[tx->idx] : NULL;
    if (!f || v[0] != tx->idx || v[1] != tx->off || v[2] > LP_STORE_CHUNK || v[1] + v[2] > f->size ||
        (v[2] == 0 && f->size != 0))
        return lp_errf(err, err_size,
                       "chunk (file %llu, offset %llu, %llu bytes) requested "
                       "out of order",
                       (unsigned long long)v[0], (unsigned long long)v[1], (unsigned long long)v[2]);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", tx->root, f->path);
    if (tx->fd < 0) {
        tx->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (tx->fd < 0) return lp_errf(err, err_size, "cannot open '%s': %s", path, strerror(errno));
        struct stat st;
        if (fstat(tx->fd, &st) || (uint64_t)st.st_size != f->size)
            return lp_errf(err, err_size,
                           "'%s' is not the size it was listed "
                           "with (%llu bytes)",
                           path, (unsigned long long)f->size);
        lp_sha256_init(&tx->sha);
    }
    zmq_msg_t data;
    zmq_msg_init_size(&data, (size_t)v[2]);
    size_t got = 0;
    while (got < v[2]) {
        ssize_t r = pread(tx->fd, (char *)zmq_msg_data(&data) + got, v[2] - got, (off_t)(v[1] + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got != v[2]) {
        zmq_msg_close(&data);
        return lp_errf(err, err_size, "cannot read '%s' at offset %llu: %s", path,
                       (unsigned long long)(v[1] + got), got ? "file shrank" : strerror(errno));
    }
    int last = v[1] + v[2] == f->size;
    if (!tx->use_manifest_sha) {
        lp_sha256_update(&tx->sha, zmq_msg_data(&data), got);
        if (last) lp_sha256_final_hex(&tx->sha, f->sha256);
    }
    char pos[64];
    snprintf(pos, sizeof pos, "%llu %llu", (unsigned long long)v[0], (unsigned long long)v[1]);
    /* The store never blocks on one slow client: a full queue fails the
   * transfer instead (a well-behaved receiver stays within its window). */
    int fl = id ? ZMQ_DONTWAIT : 0;
    int rc = 0;
    if (id) {
        zmq_msg_t idc;
        zmq_msg_init(&idc);
        zmq_msg_copy(&idc, id);
        if (zmq_msg_send(&idc, sock, ZMQ_SNDMORE | fl) < 0) {
            zmq_msg_close(&idc);
            rc = -1;
        }
    }
    if (rc == 0)
        rc = zmq_send(sock, "DATA", 4, ZMQ_SNDMORE | fl) < 0 ||
             zmq_send(sock, pos, strlen(pos), ZMQ_SNDMORE | fl) < 0 ||
             zmq_msg_send(&data, sock, (last ? ZMQ_SNDMORE : 0) | fl) < 0;
    if (rc == 0 && last) rc = zmq_send(sock, f->sha256, 64, fl) < 0;
    if (rc) {
        zmq_msg_close(&data); /* harmless after a successful send */
        return lp_errf(err, err_size, "send failed: %s", zmq_strerror(zmq_errno()));
    }
    tx->off += v[2];
    if (last) {
        close(tx->fd);
        tx->fd = -1;
        tx->idx++;
        tx->off = 0;
    }
    return 0;
}

int lp_store_tx_complete(const lp_store_tx *tx) { return tx->idx == tx->m->count; }

void lp_store_tx_close(lp_store_tx *tx) {
    if (tx->fd >= 0) close(tx->fd);
    tx->fd = -1;
}
