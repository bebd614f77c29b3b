/* The checkpoint-store wire protocol and the artifact helpers both ends
 * share (docs/dataplane.md has the prose version).
 *
 * Client (DEALER) <-> store (ROUTER); every message starts with a command
 * frame. Transfers are pulled by the receiver, zguide "Transferring Files"
 * style: it keeps at most LP_STORE_WINDOW FETCH requests of at most
 * LP_STORE_CHUNK bytes outstanding, so neither side ever queues more than
 * the window whatever the artifact size. Chunks are requested in order; the
 * sender attaches the file's SHA-256 to the last chunk of each file and the
 * receiver compares it with the hash of the bytes it wrote.
 *
 *   put:  C: PUT name manifest{files:[{path,size}]}
 *         S: FETCH "file offset len"        (window)   C: DATA "file offset" bytes [sha]
 *         S: DONE artifact_hash | ERR message
 *   get:  C: GET name
 *         S: MANIFEST manifest{name,hash,files:[{path,size,sha256}]} | ERR message | NOTFOUND message
 *         C: FETCH ...                      (window)   S: DATA ...
 *         C: BYE (done) | ABORT reason
 *   Either side may send ABORT reason / ERR message at any time. */
#ifndef LLMPIPE_COMM_STORE_PROTO_H
#define LLMPIPE_COMM_STORE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/sha256.h"

#define LP_STORE_CHUNK         (256 * 1024)
#define LP_STORE_WINDOW        8
#define LP_STORE_MANIFEST_FILE ".llmpipe-manifest.json"
#define LP_STORE_MAX_FILES     100000
#define LP_STORE_MAX_NAME      200

typedef struct lp_store_file {
    char *path; /* relative, '/'-separated */
    uint64_t size;
    char sha256[LP_SHA256_HEX_SIZE]; /* "" until known */
} lp_store_file;

typedef struct lp_store_manifest {
    char *name;
    lp_store_file *files;
    size_t count;
    char hash[LP_SHA256_HEX_SIZE]; /* artifact hash, "" until known */
} lp_store_manifest;

/* Artifact names: 1..200 of [A-Za-z0-9._-], not starting with '.'. */
int lp_store_valid_name(const char *name);
/* Relative file paths: components like names, no "..", no empty parts. */
int lp_store_valid_path(const char *path);

void lp_store_manifest_free(lp_store_manifest *m);
/* Lists the regular files under dir (recursively, sorted, sizes only). The
 * top-level manifest file of an earlier get is skipped. */
int lp_store_scan_dir(const char *dir, lp_store_manifest *m, char *err, size_t err_size);
/* The artifact hash: SHA-256 over "<sha256> <size> <path>\n" per file in
 * path order, hex. Needs every file's sha256. */
void lp_store_compute_hash(const lp_store_manifest *m, char out[LP_SHA256_HEX_SIZE]);
/* JSON text (malloc'd); with_hashes adds sha256 per file and the artifact
 * hash. */
char *lp_store_manifest_json(const lp_store_manifest *m, int with_hashes);
int lp_store_manifest_parse(const char *text, size_t len, int need_hashes, lp_store_manifest *m, char *err,
                            size_t err_size);
/* dir/.llmpipe-manifest.json, written atomically and fsynced. */
int lp_store_write_manifest(const char *dir, const lp_store_manifest *m, char *err, size_t err_size);
int lp_store_read_manifest(const char *dir, lp_store_manifest *m, char *err, size_t err_size);

/* Filesystem helpers. */
/* Creates the folders leading to root/rel (not rel's last component). */
int lp_store_mkdirs_for(const char *root, const char *rel);

/* "file offset len" frames. */
int lp_store_parse_nums(const char *s, size_t len, uint64_t *vals, int n);

/* ---- transfer engines, used by both the client and the store ----------- */

#include <zmq.h>

/* Receiving side of a transfer: writes the files of `m` under `root`. */
typedef struct lp_store_rx {
    const char *root;
    const lp_store_manifest *m; /* needs per-file sha256 when check_manifest */
    int check_manifest;         /* also compare with the manifest's sha256 */
    size_t req_idx, recv_idx;
    uint64_t req_off, recv_off;
    int outstanding;
    int fd;
    lp_sha256 sha;
    char got_sha[LP_SHA256_HEX_SIZE]; /* scratch */
} lp_store_rx;

void lp_store_rx_init(lp_store_rx *rx, const char *root, const lp_store_manifest *m, int check_manifest);
/* 1 and the next FETCH argument ("file offset len") while the window has
 * room; 0 when no request is due. The caller sends it and then calls
 * lp_store_rx_sent(). */
int lp_store_rx_next(lp_store_rx *rx, char *arg, size_t arg_size);
void lp_store_rx_sent(lp_store_rx *rx);
/* A DATA message's frames after the command: position, payload, optional
 * sha (NULL). On the last chunk of a file the file's hash is verified and
 * written to rx->m's file entry when check_manifest is 0. */
int lp_store_rx_data(lp_store_rx *rx, zmq_msg_t *pos, zmq_msg_t *payload, zmq_msg_t *sha, char *err,
                     size_t err_size);
int lp_store_rx_complete(const lp_store_rx *rx);
void lp_store_rx_close(lp_store_rx *rx);

/* Sending side: serves FETCH requests from the files of `m` under `root`,
 * strictly in order. With use_manifest_sha the hash attached to a file's last
 * chunk is the manifest's (the store serving a committed artifact);
 * otherwise it is computed while reading and stored into m. */
typedef struct lp_store_tx {
    const char *root;
    lp_store_manifest *m;
    int use_manifest_sha;
    size_t idx;
    uint64_t off;
    int fd;
    lp_sha256 sha;
} lp_store_tx;

void lp_store_tx_init(lp_store_tx *tx, const char *root, lp_store_manifest *m, int use_manifest_sha);
/* Sends DATA for the FETCH argument `arg` on sock (after the optional
 * routing-id frame `id`). */
int lp_store_tx_serve(lp_store_tx *tx, void *sock, zmq_msg_t *id, zmq_msg_t *arg, char *err, size_t err_size);
int lp_store_tx_complete(const lp_store_tx *tx);
void lp_store_tx_close(lp_store_tx *tx);

#endif
