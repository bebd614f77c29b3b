/* The worker side of a stage: the lp_host behind the plugin's services table.
 * It owns the stage settings received from the host, the metrics publisher
 * and the store client. */
#ifndef LP_HOST_WORKER_HOST_H
#define LP_HOST_WORKER_HOST_H

#include <jansson.h>
#include <stdatomic.h>

#include "llmpipe/plugin.h"
#include "sdk/comm/comm.h"

struct lp_host {
    json_t *cfg; /* the CONFIG document */
    const char *run, *stage, *device, *work_dir, *output;
    int threads, resume;
    uint64_t seed;
    lp_publisher *pub;
    lp_store_client *store;
    atomic_int cancelled;
    json_t *fetched; /* artifact name -> local path */
    char last_error[1024];
};

/* Fills `table` with the worker's implementations, bound to `h`. */
void lp_worker_services(lp_host *h, lp_host_services *table);

#endif
