/* A stage's inputs recognised by what their folders hold. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "stage_internal.h"

static int has(const char *dir, const char *file) {
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return stat(p, &st) == 0;
}

/* A reward model names GPT2ForSequenceClassification in config.json or has
 * score.weight among its tensors. */
static int has_scalar_head(const char *dir) {
    lp_model_config cfg;
    char err[256], p[4200];
    if (lp_model_folder_config(dir, &cfg, err, sizeof err) == 0 && cfg.scalar_head) return 1;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    lp_safetensors *st;
    if (lp_st_open(&st, p, err, sizeof err)) return 0;
    int found = 0;
    for (size_t i = 0; i < lp_st_count(st) && !found; i++)
        found = !strcmp(lp_st_tensor_at(st, i)->name, "score.weight");
    lp_st_close(st);
    return found;
}

lp_input_kind lp_stage_classify(const char *dir) {
    if (has(dir, "train.bin")) return LP_INPUT_DATA;
    if (has(dir, "model.safetensors") && has(dir, "config.json"))
        return has_scalar_head(dir) ? LP_INPUT_REWARD_MODEL : LP_INPUT_MODEL;
    return (lp_input_kind)0;
}

static const char *what(unsigned k) {
    switch (k) {
        case LP_INPUT_DATA: return "a data folder (train.bin)";
        case LP_INPUT_MODEL: return "a model folder (model.safetensors + config.json)";
        case LP_INPUT_REWARD_MODEL: return "a reward-model folder (a model with score.weight)";
        default: return "?";
    }
}

/* "a data folder (train.bin) or a model folder (...)" for a set of kinds */
static void expected(unsigned kinds, char *out, size_t n) {
    size_t o = 0;
    out[0] = 0;
    for (unsigned k = 1; k <= LP_INPUT_REWARD_MODEL; k <<= 1)
        if ((kinds & k) && o < n) o += (size_t)snprintf(out + o, n - o, "%s%s", o ? " or " : "", what(k));
    if (!o) snprintf(out, n, "no inputs");
}

static char *slot(lp_stage_inputs *in, unsigned k) {
    return k == LP_INPUT_DATA ? in->data : k == LP_INPUT_MODEL ? in->model : in->reward_model;
}

int lp_stage_find_inputs(const lp_host_services *h, unsigned required, unsigned optional, lp_stage_inputs *in,
                         char *err, size_t errsz) {
    memset(in, 0, sizeof *in);
    const char *stage = lp_stage_name(h);
    unsigned allowed = required | optional;
    char exp[512];
    expected(allowed, exp, sizeof exp);
    const char *names[LP_INPUT_REWARD_MODEL + 1] = {0}; /* which input filled each kind */
    for (size_t i = 0; i < h->input_count(h->host); i++) {
        const char *name = h->input_name(h->host, i), *dir;
        if (h->artifact_get(h->host, name, &dir))
            return lp_errf(err, errsz, "stage '%s': input '%s': %s", stage, name, h->last_error(h->host));
        unsigned k = lp_stage_classify(dir);
        if (!k)
            return lp_errf(err, errsz,
                           "stage '%s': input '%s' (%s) is none of the folders this stage takes: expected %s",
                           stage, name, dir, exp);
        if (!(k & allowed))
            return lp_errf(err, errsz, "stage '%s': input '%s' (%s) is %s; this stage takes %s", stage, name,
                           dir, what(k), exp);
        char *s = slot(in, k);
        if (s[0])
            return lp_errf(err, errsz, "stage '%s': inputs '%s' and '%s' are both %s; give one", stage,
                           names[k], name, what(k));
        snprintf(s, sizeof in->data, "%s", dir);
        names[k] = name;
    }
    for (unsigned k = 1; k <= LP_INPUT_REWARD_MODEL; k <<= 1)
        if ((required & k) && !slot(in, k)[0])
            return lp_errf(err, errsz, "stage '%s': no input is %s; add one to the stage's inputs", stage,
                           what(k));
    return 0;
}

int lp_stage_find_tokenizer(const lp_host_services *h, const char *override, const char *const *dirs, int n,
                            char *out, size_t outsz, char *err, size_t errsz) {
    if (override && *override) {
        snprintf(out, outsz, "%s", override);
        return 0;
    }
    char looked[1024] = "";
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        if (!dirs[i] || !dirs[i][0]) continue;
        if (has(dirs[i], "tokenizer.json")) {
            snprintf(out, outsz, "%s/tokenizer.json", dirs[i]);
            return 0;
        }
        if (has(dirs[i], "vocab.json") && has(dirs[i], "merges.txt")) {
            snprintf(out, outsz, "%s", dirs[i]); /* GPT-2 vocab + merges */
            return 0;
        }
        if (o < sizeof looked)
            o += (size_t)snprintf(looked + o, sizeof looked - o, "%s%s", o ? ", " : "", dirs[i]);
    }
    return lp_errf(
        err, errsz,
        "stage '%s': no tokenizer.json (or GPT-2 vocab.json + merges.txt) in %s and parameter tokenizer "
        "is empty",
        lp_stage_name(h), o ? looked : "any input");
}
