/* The score normalisation a reward-model folder carries, so PPO receives
 * rewards of mean 0 and standard deviation 1 on the reference set. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "llmpipe/error.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/reward.h"

int lp_reward_norm_compute(const float *s, size_t n, const char *source, lp_reward_norm *out, char *err,
                           size_t errsz) {
    if (n == 0) return lp_errf(err, errsz, "reward normalisation: no scores");
    double mean = 0, m2 = 0;
    /* Welford: one pass, no cancellation */
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(s[i])) return lp_errf(err, errsz, "reward normalisation: score %zu is not finite", i);
        double d = s[i] - mean;
        mean += d / (double)(i + 1);
        m2 += d * (s[i] - mean);
    }
    memset(out, 0, sizeof *out);
    out->mean = mean;
    out->std = sqrt(m2 / (double)n);
    if (out->std < 1e-6) out->std = 1e-6;
    out->n = (int64_t)n;
    snprintf(out->source, sizeof out->source, "%s", source ? source : "");
    return 0;
}

int lp_reward_norm_save(const char *dir, const lp_reward_norm *nm, char *err, size_t errsz) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, LP_REWARD_NORM_FILE);
    json_t *j = json_pack("{s:f, s:f, s:I, s:s}", "mean", nm->mean, "std", nm->std, "n", (json_int_t)nm->n,
                          "source", nm->source);
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(j);
    if (!text) return lp_errf(err, errsz, "%s: out of memory", path);
    int rc = lp_write_file_atomic(path, text, strlen(text), err, errsz);
    free(text);
    return rc;
}

int lp_reward_norm_load(const char *dir, lp_reward_norm *nm, char *err, size_t errsz) {
    memset(nm, 0, sizeof *nm);
    nm->std = 1;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, LP_REWARD_NORM_FILE);
    struct stat st;
    if (stat(path, &st)) return 0;
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) return lp_errf(err, errsz, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    json_t *mean = json_object_get(j, "mean"), *sd = json_object_get(j, "std"), *n = json_object_get(j, "n");
    json_t *src = json_object_get(j, "source");
    int ok = json_is_number(mean) && json_is_number(sd) && json_number_value(sd) > 0 &&
             isfinite(json_number_value(mean)) && isfinite(json_number_value(sd));
    if (ok) {
        nm->mean = json_number_value(mean);
        nm->std = json_number_value(sd);
        nm->n = json_is_integer(n) ? (int64_t)json_integer_value(n) : 0;
        if (json_is_string(src)) snprintf(nm->source, sizeof nm->source, "%s", json_string_value(src));
    }
    json_decref(j);
    if (!ok) {
        nm->mean = 0;
        nm->std = 1;
        return lp_errf(err, errsz, "%s: expected numbers \"mean\" and \"std\" > 0", path);
    }
    return 1;
}

double lp_reward_normalize(const lp_reward_norm *nm, double score) { return (score - nm->mean) / nm->std; }
