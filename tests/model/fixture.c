#include "fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fx_load(fx_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "fixture %s: cannot open\n", path);
        return -1;
    }
    char magic[4];
    uint32_t ver, count;
    if (fread(magic, 1, 4, fp) != 4 || memcmp(magic, "LPFX", 4) || fread(&ver, 4, 1, fp) != 1 || ver != 1 ||
        fread(&count, 4, 1, fp) != 1 || count > 100000) {
        fprintf(stderr, "fixture %s: bad header\n", path);
        fclose(fp);
        return -1;
    }
    f->t = calloc(count, sizeof *f->t);
    f->count = (int)count;
    for (uint32_t i = 0; i < count; i++) {
        fx_tensor *t = &f->t[i];
        uint32_t nl, nd;
        uint8_t dt;
        if (fread(&nl, 4, 1, fp) != 1 || nl >= sizeof t->name || fread(t->name, 1, nl, fp) != nl ||
            fread(&dt, 1, 1, fp) != 1 || fread(&nd, 4, 1, fp) != 1 || nd > 4 ||
            fread(t->dims, 8, nd, fp) != nd) {
            fprintf(stderr, "fixture %s: truncated record %u\n", path, i);
            fclose(fp);
            return -1;
        }
        t->dtype = dt;
        t->ndim = (int)nd;
        t->n = 1;
        for (uint32_t d = 0; d < nd; d++) t->n *= (size_t)t->dims[d];
        t->data = malloc(t->n * 4 + 4);
        if (fread(t->data, 4, t->n, fp) != t->n) {
            fprintf(stderr, "fixture %s: truncated data of %s\n", path, t->name);
            fclose(fp);
            return -1;
        }
    }
    fclose(fp);
    return 0;
}

void fx_free(fx_file *f) {
    for (int i = 0; i < f->count; i++) free(f->t[i].data);
    free(f->t);
}

const fx_tensor *fx_get(const fx_file *f, const char *name) {
    for (int i = 0; i < f->count; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    fprintf(stderr, "fixture: no tensor %s\n", name);
    exit(1);
}

const float *fx_f32(const fx_file *f, const char *name) { return fx_get(f, name)->data; }
const int32_t *fx_i32(const fx_file *f, const char *name) { return fx_get(f, name)->data; }

double fx_relerr(const float *a, const float *b, size_t n) {
    double md = 0.0, mb = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= md)) md = d; /* NaN propagates as failure */
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return mb > 0 ? md / mb : md;
}

void fx_load_params(const fx_file *f, lp_model *m, const char *prefix) {
    char nm[160];
    for (int i = 0; i < lp_model_num_params(m); i++) {
        const lp_param *p = lp_model_param(m, i);
        snprintf(nm, sizeof nm, "%s%s", prefix, p->name);
        const fx_tensor *t = fx_get(f, nm);
        ASSERT(t->n == p->numel, "%s: %zu elements in fixture, %zu in model", nm, t->n, p->numel);
        ASSERT(lp_model_param_write(m, i, t->data) == 0, "%s", lp_model_error(m));
    }
}

static float *host(lp_model *m, int i, int grad) {
    const lp_param *p = lp_model_param(m, i);
    float *h = malloc(p->numel * sizeof *h);
    ASSERT(h && (grad ? lp_model_grad_read(m, i, h) : lp_model_param_read(m, i, h)) == 0, "%s: %s", p->name,
           lp_model_error(m));
    return h;
}
float *fx_param_host(lp_model *m, int i) { return host(m, i, 0); }
float *fx_grad_host(lp_model *m, int i) { return host(m, i, 1); }

float *fx_logits_host(lp_model *m, size_t n) {
    float *h = malloc(n * sizeof *h);
    ASSERT(h && lp_model_logits_copy(m, h) == 0, "logits: %s", lp_model_error(m));
    return h;
}

void fx_param_map(lp_model *m, int i, float scale, float (*shift)(const lp_param *p, size_t k)) {
    const lp_param *p = lp_model_param(m, i);
    float *h = fx_param_host(m, i);
    for (size_t k = 0; k < p->numel; k++) h[k] = h[k] * scale + (shift ? shift(p, k) : 0.0f);
    ASSERT(lp_model_param_write(m, i, h) == 0, "%s", lp_model_error(m));
    free(h);
}

double fx_compare_params(const fx_file *f, lp_model *m, const char *prefix, int use_grad, double tol,
                         const char **worst, int *failures) {
    char nm[160];
    double w = 0.0;
    for (int i = 0; i < lp_model_num_params(m); i++) {
        const lp_param *p = lp_model_param(m, i);
        snprintf(nm, sizeof nm, "%s%s", prefix, p->name);
        int found = 0;
        for (int k = 0; k < f->count; k++)
            if (!strcmp(f->t[k].name, nm)) found = 1;
        if (!found) continue;
        const fx_tensor *t = fx_get(f, nm);
        float *h = host(m, i, use_grad);
        double e = fx_relerr(h, t->data, p->numel);
        free(h);
        if (!(e <= tol)) {
            fprintf(stderr, "  %s: relative error %.3g > %.3g\n", nm, e, tol);
            (*failures)++;
        }
        if (!(e <= w)) {
            w = e;
            if (worst) *worst = p->name;
        }
    }
    return w;
}
