/* AdamW over the model's parameter table. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <llmpipe/optim.h>

#include "internal.h"

struct lp_adamw {
    lp_model *m;
    lp_adamw_config cfg;
    long t;
    int n;
    float **mom, **vel;
};

lp_adamw *lp_adamw_create(lp_model *m, const lp_adamw_config *cfg) {
    lp_adamw *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->m = m;
    o->cfg = *cfg;
    if (o->cfg.beta1 == 0.0f) o->cfg.beta1 = 0.9f;
    if (o->cfg.beta2 == 0.0f) o->cfg.beta2 = 0.999f;
    if (o->cfg.eps == 0.0f) o->cfg.eps = 1e-8f;
    o->n = lp_model_num_params(m);
    o->mom = calloc((size_t)o->n, sizeof *o->mom);
    o->vel = calloc((size_t)o->n, sizeof *o->vel);
    if (!o->mom || !o->vel) { lp_adamw_destroy(o); return NULL; }
    lpk_ctx *c = lp_model_ctx(m);
    for (int i = 0; i < o->n; i++) {
        size_t k = lp_model_param(m, i)->numel;
        o->mom[i] = lpk_alloc(c, k * sizeof(float));
        o->vel[i] = lpk_alloc(c, k * sizeof(float));
        if (!o->mom[i] || !o->vel[i]) { lp_adamw_destroy(o); return NULL; }
        memset(o->mom[i], 0, k * sizeof(float));
        memset(o->vel[i], 0, k * sizeof(float));
    }
    return o;
}

void lp_adamw_destroy(lp_adamw *o) {
    if (!o) return;
    lpk_ctx *c = lp_model_ctx(o->m);
    for (int i = 0; i < o->n; i++) {
        if (o->mom) lpk_free(c, o->mom[i]);
        if (o->vel) lpk_free(c, o->vel[i]);
    }
    free(o->mom);
    free(o->vel);
    free(o);
}

int lp_adamw_step(lp_adamw *o, float lr, float grad_scale) {
    o->t++;
    const float b1 = o->cfg.beta1, b2 = o->cfg.beta2;
    const float bc1 = 1.0f - powf(b1, (float)o->t);
    const float bc2 = 1.0f - powf(b2, (float)o->t);
    lpk_ctx *c = lp_model_ctx(o->m);
    for (int i = 0; i < o->n; i++) {
        const lp_param *p = lp_model_param(o->m, i);
        lpk_adamw(c, p->data, p->grad, o->mom[i], o->vel[i], p->numel, lr, b1,
                  b2, o->cfg.eps, p->decay ? o->cfg.weight_decay : 0.0f, bc1,
                  bc2, grad_scale, lp_model_param_bf16(o->m, i));
    }
    /* every tensor's bf16 copy was written by the update itself */
    lp_model_bf16_synced(o->m);
    return 0;
}

float *lp_adamw_m(lp_adamw *o, int i) { return (i >= 0 && i < o->n) ? o->mom[i] : NULL; }
float *lp_adamw_v(lp_adamw *o, int i) { return (i >= 0 && i < o->n) ? o->vel[i] : NULL; }
long lp_adamw_steps(const lp_adamw *o) { return o->t; }
void lp_adamw_set_steps(lp_adamw *o, long t) { o->t = t; }
