/* Worker-side clients of the llmpipe data plane (docs/dataplane.md):
 *  - lp_publisher: metrics, events, text and progress onto the broker's
 *    metrics proxy (PUB side; the broker re-publishes on its XPUB);
 *  - lp_store_client: put/get named artifacts (folders of regular files)
 *    to/from the broker's checkpoint store.
 * Both are used from one thread each; neither keeps a zmq context of its own:
 * the caller owns it and terminates it after destroying these objects. */
#ifndef LLMPIPE_COMM_COMM_H
#define LLMPIPE_COMM_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/plugin.h" /* lp_metric, LP_ERR_* */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- metrics publisher -------------------------------------------------- */

typedef struct lp_publisher lp_publisher;

/* Connects to the broker's metrics_in endpoint. Waits (at most ~2 s) until the
 * broker's subscription arrived so the first messages ("started") are not
 * lost to the slow-joiner race; a broker that is not there yet is not an
 * error (messages are dropped until it is). curve_server_key: the broker's
 * Z85 public key for tcp endpoints, or NULL. */
lp_publisher *lp_publisher_create(void *zmq_ctx, const char *endpoint, const char *run, const char *stage,
                                  const char *curve_server_key, char *err, size_t err_size);
/* metrics/<run>/<stage>: {"run","stage","step","seq","time","values":{..}} */
int lp_publisher_metrics(lp_publisher *p, int64_t step, const lp_metric *m, size_t n);
/* event/<run>/<stage>: {..,"event":kind,"message":message} */
int lp_publisher_event(lp_publisher *p, const char *kind, const char *message);
/* log/<run>/<stage>: {..,"label":label,"text":text} */
int lp_publisher_text(lp_publisher *p, const char *label, const char *text);
/* progress/<run>/<stage>: {..,"done":done,"total":total} */
int lp_publisher_progress(lp_publisher *p, int64_t done, int64_t total);
/* Messages that did not go out because the send queue was full (a broker
 * that is gone or too slow): never blocks, counts instead. */
uint64_t lp_publisher_dropped(const lp_publisher *p);
void lp_publisher_destroy(lp_publisher *p);

/* ---- checkpoint store client -------------------------------------------- */

typedef struct lp_store_client lp_store_client;

/* timeout_ms: the longest wait for any answer of the store (<= 0: 30000).
 * A store that vanishes mid-transfer fails the call after that long. */
lp_store_client *lp_store_client_create(void *zmq_ctx, const char *endpoint, const char *curve_server_key,
                                        int timeout_ms, char *err, size_t err_size);
/* Publishes the regular files under local_dir (subfolders allowed) as
 * artifact `name`. Fails if the store already holds `name`. */
int lp_store_client_put(lp_store_client *c, const char *name, const char *local_dir, char *err,
                        size_t err_size);
/* Fetches artifact `name` into dest_dir, verified, atomically: dest_dir
 * appears complete or not at all. An existing dest_dir is replaced only if
 * it holds an earlier get (its .llmpipe-manifest.json); anything else there
 * is refused. Returns LP_ERR_NOTFOUND for an unknown name. */
int lp_store_client_get(lp_store_client *c, const char *name, const char *dest_dir, char *err,
                        size_t err_size);
/* The artifact hash (hex SHA-256, see docs/dataplane.md) of the last
 * successful put or get. */
const char *lp_store_client_last_hash(const lp_store_client *c);
void lp_store_client_destroy(lp_store_client *c);

#ifdef __cplusplus
}
#endif
#endif
