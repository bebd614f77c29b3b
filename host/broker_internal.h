/* Shared between broker_core.c and the two service loops. */
#ifndef LLMPIPE_HOST_BROKER_INTERNAL_H
#define LLMPIPE_HOST_BROKER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "broker.h"

typedef struct lp_broker_metrics {
    void *xsub, *xpub, *ctl; /* ctl: inproc PAIR, any message = stop */
    FILE *jsonl;
    atomic_ullong captured;
    unsigned long long invalid; /* bodies that were not JSON objects */
} lp_broker_metrics;

typedef struct lp_broker_store {
    void *router, *ctl;
    char *artifacts_dir;
    int timeout_ms;
} lp_broker_store;

void *lp_broker_metrics_main(void *arg); /* lp_broker_metrics* */
void *lp_broker_store_main(void *arg);   /* lp_broker_store* */
/* Removes .tmp-* folders a crashed earlier run left in artifacts_dir. */
void lp_broker_store_cleanup(const char *artifacts_dir);

#endif
