/* Runs a validated chain: starts the broker and the control service, runs
 * each stage in its own worker process (or waits for a remote one), records
 * everything in the manifest. */
#ifndef LP_HOST_RUNNER_H
#define LP_HOST_RUNNER_H

#include "host/config.h"

typedef struct lp_run_opts {
    int resume;
    const char *only; /* run just this stage, or NULL */
    int quiet;        /* no live view */
} lp_run_opts;

/* Returns the process exit status: 0 all stages done, 1 a stage failed or
 * the run was interrupted, 2 a setup problem. */
int lp_run_chain(const lp_chain *chain, const lp_run_opts *opts);

#endif
