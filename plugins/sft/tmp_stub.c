#include "llmpipe/model.h"
int lp_model_forward_packed(lp_model *m, const int32_t *tokens, const int32_t *seg, int B, int T) {
    (void)seg;
    return lp_model_forward(m, tokens, B, T);
}
