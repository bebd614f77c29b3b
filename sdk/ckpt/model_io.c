/* Model folders: GPT2LMHeadModel safetensors + config.json (+ tokenizer). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_internal.h"
#include "llmpipe/fsutil.h"

int lp_model_export(const lp_model *m, const char *dir, int eot, const char *tokenizer_json, char *err,
                    size_t errsz) {
    const lp_model_config *cfg = lp_model_get_config(m);
    int np = lp_model_num_params(m);
    lp_st_entry *e = calloc((size_t)np + 1, sizeof *e);
    if (!e) { snprintf(err, errsz, "%s: out of memory", dir); return -1; }
    size_t n = 0;
    for (int i = 0; i < np; i++) {
        const lp_param *p = lp_model_param(m, i);
        e[n].name = p->name;
        e[n].ndim = p->ndim;
        e[n].shape[0] = p->shape[0];
        e[n].shape[1] = p->shape[1];
        e[n].data = p->data;
        n++;
    }
    if (!cfg->scalar_head) {
        /* GPT2LMHeadModel's state dict lists the tied head as its own entry */
        const lp_param *wte = lp_model_find_param(m, "transformer.wte.weight");
        e[n] = (lp_st_entry){.name = "lm_head.weight", .ndim = 2, .shape = {wte->shape[0], wte->shape[1]},
                             .data = wte->data};
        n++;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    static const char *const meta[] = {"format", "pt", "producer", "llmpipe"};
    int rc = lp_st_save(path, e, n, meta, 2, NULL, err, errsz);
    free(e);
    if (rc) return -1;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (lp_hf_config_save(path, cfg, eot, err, errsz)) return -1;
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
    for (int d = 0; d < ndim && o < n; d++) o += (size_t)snprintf(buf + o, n - o, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

int lp_model_load_safetensors(lp_model *m, const char *path, char *err, size_t errsz) {
    lp_safetensors *st;
    if (lp_st_open(&st, path, err, errsz)) return -1;
    int np = lp_model_num_params(m), rc = -1;
    const lp_st_tensor **src = calloc((size_t)np, sizeof *src);
    const lp_st_tensor *head = NULL;
    float *tmp = NULL;
    if (!src) { snprintf(err, errsz, "%s: out of memory", path); goto out; }
    /* Match every tensor and check every shape before reading anything. */
    for (size_t i = 0; i < lp_st_count(st); i++) {
        const lp_st_tensor *t = lp_st_tensor_at(st, i);
        char name[512];
        canonical(t->name, name, sizeof name);
        if (ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias")) continue;
        if (!strcmp(name, "lm_head.weight")) { head = t; continue; }
        int k = -1;
        for (int j = 0; j < np; j++)
            if (!strcmp(lp_model_param(m, j)->name, name)) k = j;
        if (k < 0) {
            snprintf(err, errsz, "%s: unexpected tensor '%s' (not a parameter of this GPT-2 config)", path, t->name);
            goto out;
        }
        if (src[k]) {
            snprintf(err, errsz, "%s: tensor '%s' appears twice (as '%s' and '%s')", path, name, src[k]->name, t->name);
            goto out;
        }
        const lp_param *p = lp_model_param(m, k);
        if (t->ndim != p->ndim || t->shape[0] != p->shape[0] || (p->ndim == 2 && t->shape[1] != p->shape[1])) {
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
        if (!src[j]) {
            snprintf(err, errsz, "%s: missing tensor '%s'", path, lp_model_param(m, j)->name);
            goto out;
        }
    }
    const lp_param *wte = lp_model_find_param(m, "transformer.wte.weight");
    if (head && (head->ndim != 2 || head->shape[0] != wte->shape[0] || head->shape[1] != wte->shape[1])) {
        snprintf(err, errsz, "%s: lm_head.weight shape differs from transformer.wte.weight", path);
        goto out;
    }
    for (int j = 0; j < np; j++) {
        const lp_param *p = lp_model_param(m, j);
        if (lp_st_read_f32(st, src[j], p->data, p->numel, err, errsz)) goto out;
    }
    if (head) {
        tmp = malloc(wte->numel * sizeof *tmp);
        if (!tmp) { snprintf(err, errsz, "%s: out of memory", path); goto out; }
        if (lp_st_read_f32(st, head, tmp, wte->numel, err, errsz)) goto out;
        if (memcmp(tmp, wte->data, wte->numel * sizeof *tmp)) {
            snprintf(err, errsz, "%s: lm_head.weight differs from transformer.wte.weight (only tied LM heads are supported)",
                     path);
            goto out;
        }
    }
    lp_model_params_changed(m);
    rc = 0;
out:
    free(tmp);
    free(src);
    lp_st_close(st);
    return rc;
}

int lp_model_import(lp_model *m, const char *dir, char *err, size_t errsz) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return lp_model_load_safetensors(m, path, err, errsz);
}
