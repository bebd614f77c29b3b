/* AdamW over a model's parameters with decoupled weight decay applied only to
 * parameters flagged decay (matrices; not biases, norms, embeddings). */
#ifndef LLMPIPE_OPTIM_H
#define LLMPIPE_OPTIM_H

#include <llmpipe/model.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lp_adamw_config {
    float lr;
    float beta1, beta2; /* 0 means 0.9 / 0.999 */
    float eps;          /* 0 means 1e-8 */
    float weight_decay;
} lp_adamw_config;

typedef struct lp_adamw lp_adamw;

/* NULL when out of memory or the model is frozen (lp_model_error says). */
lp_adamw *lp_adamw_create(lp_model *m, const lp_adamw_config *cfg);
void lp_adamw_destroy(lp_adamw *o);
/* One update with learning rate lr (schedules live with the caller); grads
 * are multiplied by grad_scale first (1 normally). */
int lp_adamw_step(lp_adamw *o, float lr, float grad_scale);
/* State for checkpoints, through host copies: moment `which` (0: first,
 * m; 1: second, v) of parameter i (same order and shape as lp_model_param)
 * to or from host[numel], and the step counter. Errors go to the model's
 * lp_model_error. */
int lp_adamw_state_read(lp_adamw *o, int which, int i, float *host);
int lp_adamw_state_write(lp_adamw *o, int which, int i, const float *host);
lp_model *lp_adamw_model(const lp_adamw *o);
/* The configuration with defaults filled in. */
const lp_adamw_config *lp_adamw_get_config(const lp_adamw *o);
long lp_adamw_steps(const lp_adamw *o);
void lp_adamw_set_steps(lp_adamw *o, long t);

#ifdef __cplusplus
}
#endif
#endif
