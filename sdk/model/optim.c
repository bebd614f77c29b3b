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
    float *mom, *vel; /* flat, laid out like the model's parameters */
};

lp_adamw *lp_adamw_create(lp_model *m, const lp_adamw_config *cfg) {
    lp_model_begin(m);
    if (lp_model_need_trainable(m, "optimizer")) return NULL;
    lp_adamw *o = calloc(1, sizeof *o);
    if (!o) {
        lp_model_set_error(m, "adamw: out of memory");
        return NULL;
    }
    o->m = m;
    o->cfg = *cfg;
    if (o->cfg.beta1 == 0.0f) o->cfg.beta1 = 0.9f;
    if (o->cfg.beta2 == 0.0f) o->cfg.beta2 = 0.999f;
    if (o->cfg.eps == 0.0f) o->cfg.eps = 1e-8f;
    float *g;
    lpk_bf16 *p16;
    size_t n, dend;
    (void)lp_model_flat(m, &g, &p16, &n, &dend);
    lpk_ctx *c = lp_model_ctx(m);
    o->mom = lpk_alloc(c, n * sizeof(float));
    o->vel = lpk_alloc(c, n * sizeof(float));
    if (!o->mom || !o->vel || lpk_memset(c, o->mom, 0, n * sizeof(float)) ||
        lpk_memset(c, o->vel, 0, n * sizeof(float))) {
        lp_model_set_error(m, "adamw: %s",
                           o->mom && o->vel ? lpk_ctx_error(c) : "out of memory for the moments");
        lp_adamw_destroy(o);
        return NULL;
    }
    return o;
}

void lp_adamw_destroy(lp_adamw *o) {
    if (!o) return;
    lpk_ctx *c = lp_model_ctx(o->m);
    lpk_free(c, o->mom);
    lpk_free(c, o->vel);
    free(o);
}

/* Two passes, one per weight-decay group, each over a contiguous range; the
 * zero padding between tensors stays zero (zero gradient, zero weight). */
int lp_adamw_step(lp_adamw *o, float lr, float grad_scale) {
    lp_model_begin(o->m);
    o->t++;
    const float b1 = o->cfg.beta1, b2 = o->cfg.beta2;
    const float bc1 = 1.0f - powf(b1, (float)o->t);
    const float bc2 = 1.0f - powf(b2, (float)o->t);
    lpk_ctx *c = lp_model_ctx(o->m);
    float *g;
    lpk_bf16 *p16;
    size_t n, dend;
    float *p = lp_model_flat(o->m, &g, &p16, &n, &dend);
    LPK_CHECK(o->m, lpk_adamw(c, p, g, o->mom, o->vel, dend, lr, b1, b2, o->cfg.eps, o->cfg.weight_decay, bc1,
                              bc2, grad_scale, p16));
    /* wte (not decayed) writes the transposed bf16 head the LM head's
     * GEMMs read, instead of a [V, C] copy nothing reads */
    size_t hoff = 0;
    int rows = 0, cols = 0;
    lpk_bf16 *head = lp_model_head_update(o->m, &hoff, &rows, &cols);
    size_t hend = hoff + (size_t)rows * cols;
    if (head && (hoff < dend || hend > n)) head = NULL;
    size_t a = dend, b = head ? hoff : n; /* the plain range(s) around it */
    LPK_CHECK(o->m, lpk_adamw(c, p + a, g + a, o->mom + a, o->vel + a, b - a, lr, b1, b2, o->cfg.eps, 0.0f,
                              bc1, bc2, grad_scale, p16 ? p16 + a : NULL));
    if (head) {
        LPK_CHECK(o->m, lpk_adamw_t16(c, p + hoff, g + hoff, o->mom + hoff, o->vel + hoff, rows, cols, lr, b1,
                                      b2, o->cfg.eps, 0.0f, bc1, bc2, grad_scale, head, rows));
        LPK_CHECK(o->m, lpk_adamw(c, p + hend, g + hend, o->mom + hend, o->vel + hend, n - hend, lr, b1, b2,
                                  o->cfg.eps, 0.0f, bc1, bc2, grad_scale, p16 ? p16 + hend : NULL));
    }
    /* every tensor's bf16 copy was written by the update itself */
    lp_model_bf16_synced(o->m, head != NULL);
    return 0;
}

/* Moment `which` (0: m, 1: v) of parameter i in device memory, or NULL
 * with the model error set. */
static float *state(lp_adamw *o, int which, int i, const char *what) {
    lp_model *m = o->m;
    lp_model_begin(m);
    if (i < 0 || i >= m->nparams || (which != 0 && which != 1)) {
        lp_model_set_error(m, "adamw %s: moment %d of parameter %d, expected 0 or 1 and 0..%d", what, which,
                           i, m->nparams - 1);
        return NULL;
    }
    return (which ? o->vel : o->mom) + (m->params[i].data - m->data);
}

int lp_adamw_state_read(lp_adamw *o, int which, int i, float *host) {
    float *d = state(o, which, i, "state read");
    if (!d) return -1;
    lp_model *m = o->m;
    LPK_CHECK(m, lpk_copy_out(m->ctx, host, d, m->params[i].numel * sizeof(float)));
    return 0;
}

int lp_adamw_state_write(lp_adamw *o, int which, int i, const float *host) {
    float *d = state(o, which, i, "state write");
    if (!d) return -1;
    lp_model *m = o->m;
    LPK_CHECK(m, lpk_copy_in(m->ctx, d, host, m->params[i].numel * sizeof(float)));
    return 0;
}

lp_model *lp_adamw_model(const lp_adamw *o) { return o->m; }
const lp_adamw_config *lp_adamw_get_config(const lp_adamw *o) { return &o->cfg; }
long lp_adamw_steps(const lp_adamw *o) { return o->t; }
void lp_adamw_set_steps(lp_adamw *o, long t) { o->t = t; }
