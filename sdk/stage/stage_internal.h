/* Shared by the stage helpers' files. */
#ifndef LP_STAGE_INTERNAL_H
#define LP_STAGE_INTERNAL_H

#include "llmpipe/stage.h"

/* The stage's name for messages ("?" when the host gives none). */
static inline const char *lp_stage_name(const lp_host_services *h) {
    const char *n = h->stage_name ? h->stage_name(h->host) : NULL;
    return n && *n ? n : "?";
}

#endif
