/* The run manifest (run_dir/manifest.json): the resolved chain, each stage's
 * state and times, and the hash of every artifact. Rewritten atomically after
 * every change so a crash of the host leaves the last consistent picture. */
#ifndef LP_HOST_MANIFEST_H
#define LP_HOST_MANIFEST_H

#include <jansson.h>

#include "host/config.h"

typedef struct lp_manifest lp_manifest;

/* A fresh manifest for `chain`, or the one already in run_dir when
 * `resume` (stages keep their states; their settings must be unchanged). */
lp_manifest *lp_manifest_open(const lp_chain *chain, int resume, char *err, size_t err_size);
void lp_manifest_destroy(lp_manifest *m);

const char *lp_manifest_state(const lp_manifest *m, const char *stage);
void lp_manifest_set_state(lp_manifest *m, const char *stage, const char *state, const char *reason);
void lp_manifest_set_artifact(lp_manifest *m, const char *stage, const char *name, const char *hash);
const char *lp_manifest_artifact_hash(const lp_manifest *m, const char *stage);
int lp_manifest_save(lp_manifest *m, char *err, size_t err_size);

#endif
