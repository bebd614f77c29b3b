/* A stage's model folder published as its output artifact. */
#include <stdio.h>

#include "llmpipe/fsutil.h"
#include "stage_internal.h"

int lp_stage_publish_model(const lp_host_services *h, const lp_model *m, lp_export_kind kind, int eot,
                           const char *tokenizer_json, char *err, size_t errsz) {
    if (!h->output_name(h->host)) return 0;
    char out[4200], why[1024];
    snprintf(out, sizeof out, "%s/output", h->work_dir(h->host));
    if (lp_mkdir_p(out, why, sizeof why) ||
        lp_model_export_as(m, out, kind, eot, tokenizer_json, why, sizeof why))
        return lp_errf(err, errsz, "stage '%s': output: %s", lp_stage_name(h), why);
    if (h->artifact_put(h->host, out))
        return lp_errf(err, errsz, "stage '%s': output: %s", lp_stage_name(h), h->last_error(h->host));
    return 0;
}
