/* Model folders: GPT2LMHeadModel or GPT2ForSequenceClassification
 * safetensors + config.json (+ tokenizer, + value_head.safetensors). The
 * weights move through host copies of device memory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_internal.h"
#include "llmpipe/fsutil.h"

/* Every parameter read into one host buffer, entries pointing into it. */
static float *host_entries(lp_model *m, lp_st_entry *e, char *err, size_t errsz) {
    float *host = malloc(lp_model_numel(m) * sizeof *host);
    if (!host) {
        snprintf(err, errsz, "model export: out of memory");
        return NULL;
    }
    size_t off = 0;
    for (int i = 0; i < lp_model_num_params(m); i++) {
        const lp_param *p = lp_model_param(m, i);
        if (lp_model_param_read(m, i, host + off)) {
            snprintf(err, errsz, "model export: %s", lp_model_error(m));
            free(host);
            return NULL;
        }
        e[i] = (lp_st_entry){
            .name = p->name, .ndim = p->ndim, .shape = {p->shape[0], p->shape[1]}, .data = host + off};
        off += p->numel;
    }
    return host;
}

static const char *const st_meta[] = {"format", "pt", "producer", "llmpipe"};

int lp_model_export_as(const lp_model *cm, const char *dir, lp_export_kind kind, int eot,
                       const char *tokenizer_json, char *err, size_t errsz) {
    lp_model *m = (lp_model *)cm; /* reading through copies needs the model's error slot */
    lp_model_config cfg = *lp_model_get_config(m);
    if (kind == LP_EXPORT_AUTO) kind = cfg.scalar_head ? LP_EXPORT_SEQ_CLS : LP_EXPORT_LM;
    if (kind == LP_EXPORT_SEQ_CLS && !cfg.scalar_head) {
        return lp_errf(err, errsz,
                       "%s: a GPT2ForSequenceClassification export needs a model with a scalar head", dir);
    }
    int np = lp_model_num_params(m);
    lp_st_entry *e = calloc((size_t)np + 1, sizeof *e);
    float *host = e ? host_entries(m, e, err, errsz) : NULL;
    if (!host) {
        if (!e) snprintf(err, errsz, "%s: out of memory", dir);
        free(e);
        return -1;
    }
    size_t n = (size_t)np;
    int score = cfg.scalar_head ? np - 1 : -1; /* score.weight is enumerated last */
    lp_st_entry head = {0};
    if (kind == LP_EXPORT_LM) {
        if (score >= 0) {
            head = e[score];
            n--;
        }
        /* GPT2LMHeadModel's state dict lists the tied head as its own entry */
        const lp_st_entry *wte = &e[0];
        e[n++] = (lp_st_entry){
            .name = "lm_head.weight", .ndim = 2, .shape = {wte->shape[0], wte->shape[1]}, .data = wte->data};
        cfg.scalar_head = 0;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int rc = lp_st_save(path, e, n, st_meta, 2, NULL, err, errsz);
    if (!rc && head.name) {
        snprintf(path, sizeof path, "%s/%s", dir, LP_VALUE_HEAD_FILE);
        rc = lp_st_save(path, &head, 1, st_meta, 2, NULL, err, errsz);
    }
    free(host);
    free(e);
    if (rc) return -1;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (lp_hf_config_save(path, &cfg, eot, err, errsz)) return -1;
    if (tokenizer_json) {
        size_t len;
        char *text = lp_read_file(tokenizer_json, &len, err, errsz);
        if (!text) return -1;
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        rc = lp_write_file_atomic(path, text, len, err, errsz);
        free(text);
        if (rc) return -1;
    }
    return 0;
}

int lp_model_export(const lp_model *m, const char *dir, int eot, const char *tokenizer_json, char *err,
                    size_t errsz) {
    return lp_model_export_as(m, dir, LP_EXPORT_AUTO, eot, tokenizer_json, err, errsz);
}

int lp_model_folder_config(const char *dir, lp_model_config *cfg, char *err, size_t errsz) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    return lp_hf_config_load(path, cfg, err, errsz);
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Hub GPT-2 files name the trunk without "transformer."; map both spellings
 * onto the model's names. */
static void canonical(const char *name, char *out, size_t n) {
    if (!strncmp(name, "h.", 2) || !strncmp(name, "wte.", 4) || !strncmp(name, "wpe.", 4) ||
        !strncmp(name, "ln_f.", 5))
        snprintf(out, n, "transformer.%s", name);
    else
        snprintf(out, n, "%s", name);
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

/* Reads tensor t into parameter j through a host buffer of its size. */
static int read_param(lp_model *m, lp_safetensors *st, const lp_st_tensor *t, int j, float *host,
                      const char *path, char *err, size_t errsz) {
    const lp_param *p = lp_model_param(m, j);
    if (lp_st_read_f32(st, t, host, p->numel, err, errsz)) return -1;
    if (lp_model_param_write(m, j, host)) {
        return lp_errf(err, errsz, "%s: %s", path, lp_model_error(m));
    }
    return 0;
}

/* *score_found (optional) tells whether the file had score.weight; without
 * it a missing score.weight is an error. */
static int load_file(lp_model *m, const char *path, int *score_found, char *err, size_t errsz) {
    lp_safetensors *st;
    if (lp_st_open(&st, path, err, errsz)) return -1;
    int np = lp_model_num_params(m), rc = -1;
    const lp_st_tensor **src = calloc((size_t)np, sizeof *src);
    const lp_st_tensor *head = NULL;
    float *tmp = NULL, *host = NULL;
    const lp_param *score = lp_model_find_param(m, "score.weight");
    if (!src) {
        snprintf(err, errsz, "%s: out of memory", path);
        goto out;
    }
    /* Match every tensor and check every shape before reading anything. */
    for (size_t i = 0; i < lp_st_count(st); i++) {
        const lp_st_tensor *t = lp_st_tensor_at(st, i);
        char name[512];
        canonical(t->name, name, sizeof name);
        if (ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias")) continue;
        if (!strcmp(name, "lm_head.weight")) {
            head = t;
            continue;
        }
        int k = -1;
        for (int j = 0; j < np; j++)
            if (!strcmp(lp_model_param(m, j)->name, name)) k = j;
        if (k < 0) {
            snprintf(err, errsz, "%s: unexpected tensor '%s' (not a parameter of this GPT-2 config)", path,
                     t->name);
            goto out;
        }
        if (src[k]) {
            snprintf(err, errsz, "%s: tensor '%s' appears twice (as '%s' and '%s')", path, name, src[k]->name,
                     t->name);
            goto out;
        }
        const lp_param *p = lp_model_param(m, k);
        if (t->ndim != p->ndim || t->shape[0] != p->shape[0] ||
            (p->ndim == 2 && t->shape[1] != p->shape[1])) {
            char a[128], b[128];
            shape_str(a, sizeof a, t->ndim, t->shape);
            shape_str(b, sizeof b, p->ndim, p->shape);
            snprintf(err, errsz, "%s: tensor '%s' has shape %s, the config expects %s", path, t->name, a, b);
            goto out;
        }
        if (t->dtype != LP_ST_F32 && t->dtype != LP_ST_F16 && t->dtype != LP_ST_BF16) {
            snprintf(err, errsz, "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16", path, t->name,
                     lp_st_dtype_name(t->dtype));
            goto out;
        }
        src[k] = t;
    }
    for (int j = 0; j < np; j++) {
        if (!src[j] && !(score_found && lp_model_param(m, j) == score)) {
            snprintf(err, errsz, "%s: missing tensor '%s'", path, lp_model_param(m, j)->name);
            goto out;
        }
    }
    const lp_param *wte = lp_model_find_param(m, "transformer.wte.weight");
    if (head && (head->ndim != 2 || head->shape[0] != wte->shape[0] || head->shape[1] != wte->shape[1])) {
        snprintf(err, errsz, "%s: lm_head.weight shape differs from transformer.wte.weight", path);
        goto out;
    }
    size_t most = 0;
    for (int j = 0; j < np; j++)
        most = lp_model_param(m, j)->numel > most ? lp_model_param(m, j)->numel : most;
    host = malloc(most * sizeof *host);
    if (!host) {
        snprintf(err, errsz, "%s: out of memory", path);
        goto out;
    }
    for (int j = 0; j < np; j++)
        if (src[j] && read_param(m, st, src[j], j, host, path, err, errsz)) goto out;
    if (head) {
        tmp = malloc(wte->numel * sizeof *tmp);
        if (!tmp) {
            snprintf(err, errsz, "%s: out of memory", path);
            goto out;
        }
        if (lp_st_read_f32(st, head, tmp, wte->numel, err, errsz)) goto out;
        if (lp_model_param_read(m, 0, host)) {
            snprintf(err, errsz, "%s: %s", path, lp_model_error(m));
            goto out;
        }
        if (memcmp(tmp, host, wte->numel * sizeof *tmp)) {
            snprintf(
                err, errsz,
                "%s: lm_head.weight differs from transformer.wte.weight (only tied LM heads are supported)",
                path);
            goto out;
        }
    }
    if (score_found) *score_found = score && src[score - lp_model_param(m, 0)];
    rc = 0;
out:
    free(host);
    free(tmp);
    free(src);
    lp_st_close(st);
    return rc;
}

int lp_model_load_safetensors(lp_model *m, const char *path, char *err, size_t errsz) {
    return load_file(m, path, NULL, err, errsz);
}

static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

int lp_model_import_ex(lp_model *m, const char *dir, const lp_import_opts *o, char *err, size_t errsz) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int found = 0;
    if (load_file(m, path, lp_model_get_config(m)->scalar_head ? &found : NULL, err, errsz)) return -1;
    if (!lp_model_get_config(m)->scalar_head || found) return 0;
    /* a policy's value head beside its LM folder, else a fresh head */
    snprintf(path, sizeof path, "%s/%s", dir, LP_VALUE_HEAD_FILE);
    if (file_exists(path)) {
        lp_safetensors *st;
        if (lp_st_open(&st, path, err, errsz)) return -1;
        const lp_param *p = lp_model_find_param(m, "score.weight");
        const lp_st_tensor *t = NULL;
        for (size_t i = 0; i < lp_st_count(st); i++)
            if (!strcmp(lp_st_tensor_at(st, i)->name, "score.weight")) t = lp_st_tensor_at(st, i);
        int rc = -1;
        float *host = malloc(p->numel * sizeof *host);
        if (!t || t->ndim != 2 || t->shape[0] != 1 || t->shape[1] != p->shape[1])
            snprintf(err, errsz, "%s: expected one tensor score.weight of shape [1, %lld]", path,
                     (long long)p->shape[1]);
        else if (!host)
            snprintf(err, errsz, "%s: out of memory", path);
        else
            rc = read_param(m, st, t, (int)(p - lp_model_param(m, 0)), host, path, err, errsz);
        free(host);
        lp_st_close(st);
        return rc;
    }
    lp_import_opts d = {0};
    if (!o) o = &d;
    if (lp_model_init_scalar_head(m, o->head_std, o->head_seed)) {
        return lp_errf(err, errsz, "%s: %s", dir, lp_model_error(m));
    }
    return 0;
}

int lp_model_import(lp_model *m, const char *dir, char *err, size_t errsz) {
    return lp_model_import_ex(m, dir, NULL, err, errsz);
}
