/* Linear warmup then cosine decay to a floor, and the FLOP count for MFU. */
#include <math.h>

#include "llmpipe/train.h"

double lp_lr_at(const lp_lr_schedule *s, int64_t step) {
    if (step < 0) step = 0;
    if (step < s->warmup) return s->lr_max * (double)(step + 1) / (double)s->warmup;
    if (s->total <= s->warmup) return s->lr_max;
    if (step >= s->total) return s->lr_min;
    double p = (double)(step - s->warmup) / (double)(s->total - s->warmup);
    return s->lr_min + 0.5 * (s->lr_max - s->lr_min) * (1.0 + cos(M_PI * p));
}

double lp_gpt_flops_per_token(const lp_model_config *c, int T) {
    double C = c->n_embd, L = c->n_layer, V = c->vocab_size;
    /* per layer: qkv 3C^2, proj C^2, mlp 8C^2 weights (+ biases, LN) */
    double n = V * C + L * (12.0 * C * C + 13.0 * C) + 2.0 * C;
    return 6.0 * n + 12.0 * L * (double)T * C;
}
