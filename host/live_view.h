/* The terminal view of a run's metrics stream: `llmpipe watch` and what
 * `llmpipe run` shows unless --quiet. It subscribes to a metrics_out
 * endpoint and draws, per stage, a progress bar (done/total, rate, ETA), the
 * latest main metrics and a sparkline of the loss or reward; events and log
 * text scroll above it as they come. In plain mode (stdout not a terminal)
 * it prints one line per update instead. Runs on its own thread. */
#ifndef LLMPIPE_HOST_LIVE_VIEW_H
#define LLMPIPE_HOST_LIVE_VIEW_H

#include <stddef.h>
#include <stdio.h>

typedef struct lp_live_view lp_live_view;

/* topic_prefix: "" for everything; a full topic prefix starting with a kind
 * ("metrics/run1"); or "<run>[/<stage>]", meaning every kind of that run or
 * stage. */
lp_live_view *lp_live_view_create(void *zmq_ctx, const char *endpoint, const char *topic_prefix, int plain,
                                  char *err, size_t err_size);
/* Same, with the broker's CURVE public key (tcp endpoints) and the stream to
 * draw on (NULL = stdout). */
lp_live_view *lp_live_view_create_ex(void *zmq_ctx, const char *endpoint, const char *topic_prefix, int plain,
                                     const char *curve_server_key, FILE *out, char *err, size_t err_size);
/* Stops the thread (bounded: it polls its stop pipe) and leaves the cursor
 * below the last drawing. */
void lp_live_view_destroy(lp_live_view *v);

/* `llmpipe watch ENDPOINT|RUN_DIR [--topic PREFIX] [--server-key Z85]
 * [--plain] [--for SECONDS]`; argv[0] == "watch". */
int lp_cli_watch(int argc, char **argv);

#endif
