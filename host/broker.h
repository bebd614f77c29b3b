/* The host's data-plane broker (docs/dataplane.md): a metrics proxy
 * (XSUB in -> XPUB out, every message also appended to run_dir/metrics.jsonl)
 * and the checkpoint store (ROUTER; artifacts in run_dir/artifacts/<name>/).
 * Each runs on its own thread; the calls below are made from the host's
 * thread. */
#ifndef LLMPIPE_HOST_BROKER_H
#define LLMPIPE_HOST_BROKER_H

#include <stddef.h>

#include "llmpipe/plugin.h" /* LP_ERR_* */

typedef struct lp_broker lp_broker;

typedef struct lp_broker_config {
    const char *run_dir;     /* metrics.jsonl here; artifacts in run_dir/artifacts/ */
    const char *metrics_in;  /* XSUB bind endpoint; workers' publishers connect */
    const char *metrics_out; /* XPUB bind endpoint; dashboards / `llmpipe watch` */
    const char *store;       /* ROUTER bind endpoint of the checkpoint store */
    /* Z85 server secret key or NULL: CURVE on the tcp endpoints when set. */
    const char *curve_secret_key;
    /* How long a transfer may wait for its peer before it is dropped (and a
   * half-written artifact removed); 0 = 60000 ms. */
    int transfer_timeout_ms;
} lp_broker_config;

lp_broker *lp_broker_create(void *zmq_ctx, const lp_broker_config *cfg, char *err, size_t err_size);
/* The endpoint actually bound (tcp port 0 / "*" resolved):
 * which = "metrics_in" | "metrics_out" | "store"; NULL for anything else. */
const char *lp_broker_endpoint(const lp_broker *b, const char *which);
/* The Z85 public key clients need when CURVE is on, else NULL. */
const char *lp_broker_curve_public_key(const lp_broker *b);
/* 0 and the artifact's content hash (hex) when the store holds `name` (also
 * artifacts left by an earlier run), LP_ERR_NOTFOUND otherwise. */
int lp_broker_artifact_hash(lp_broker *b, const char *name, char *hex, size_t hex_size);
/* Messages captured to metrics.jsonl so far (tests, diagnostics). */
unsigned long long lp_broker_captured(const lp_broker *b);
/* Never blocks for long: linger is set on every socket, the threads are told
 * to stop over inproc sockets and joined. */
void lp_broker_destroy(lp_broker *b);

#endif
