/* Backward pass through the heads and the trunk; parameter gradients are
 * accumulated (+=) so micro-batches add up until lp_model_zero_grad. */
#include <string.h>

#include "internal.h"

#define TRY(x) do { if ((x) != 0) return -1; } while (0)

/* dres holds d(block output) on entry and d(block input) on exit. */
static int block_backward(lp_model *m, int l, const float *x) {
    lpk_ctx *c = m->ctx;
    const int B = m->B, T = m->T, C = m->cfg.n_embd, H = m->cfg.n_head;
    const int N = B * T;
    layer_acts *a = &m->la[l];
    float *dres = m->dres, *dbig = m->dbig, *dqkv = m->dqkv, *dsm = m->dsmall;

    /* MLP projection: out = mid + gelu . Wfp + bfp */
    TRY(lp_mm(m, LPK_TRANS, LPK_NOTRANS, 4 * C, C, N, a->gelu, -1, 4 * C, dres,
              -1, C, 1.0f, G(m, LP(m, l, LW_FPW)), C));
    lpk_bias_bwd(c, G(m, LP(m, l, LW_FPB)), dres, N, C);
    TRY(lp_mm(m, LPK_NOTRANS, LPK_TRANS, N, 4 * C, C, dres, -1, C,
              P(m, LP(m, l, LW_FPW)), LP(m, l, LW_FPW), C, 0.0f, dbig, 4 * C));
    lpk_gelu_bwd(c, dbig, dbig, a->fc, (size_t)N * 4 * C);
    /* MLP expansion: fc = ln2 . Wfc + bfc */
    TRY(lp_mm(m, LPK_TRANS, LPK_NOTRANS, C, 4 * C, N, a->ln2, -1, C, dbig, -1,
              4 * C, 1.0f, G(m, LP(m, l, LW_FCW)), 4 * C));
    lpk_bias_bwd(c, G(m, LP(m, l, LW_FCB)), dbig, N, 4 * C);
    TRY(lp_mm(m, LPK_NOTRANS, LPK_TRANS, N, C, 4 * C, dbig, -1, 4 * C,
              P(m, LP(m, l, LW_FCW)), LP(m, l, LW_FCW), 4 * C, 0.0f, dsm, C));
    lpk_layernorm_bwd(c, dres, G(m, LP(m, l, LW_LN2W)), G(m, LP(m, l, LW_LN2B)),
                      dsm, a->mid, P(m, LP(m, l, LW_LN2W)), a->ln2_mean,
                      a->ln2_rstd, N, C);
    /* attention projection: mid = x + att . Wproj + bproj */
    TRY(lp_mm(m, LPK_TRANS, LPK_NOTRANS, C, C, N, a->att, -1, C, dres, -1, C,
              1.0f, G(m, LP(m, l, LW_PROJW)), C));
    lpk_bias_bwd(c, G(m, LP(m, l, LW_PROJB)), dres, N, C);
    TRY(lp_mm(m, LPK_NOTRANS, LPK_TRANS, N, C, C, dres, -1, C,
              P(m, LP(m, l, LW_PROJW)), LP(m, l, LW_PROJW), C, 0.0f, dsm, C));
    if (lpk_attn_bwd(c, dqkv, dsm, a->qkv, a->att, a->lse, B, T, C, H)) {
        lp_model_set_error(m, "model: %s", lpk_ctx_error(c));
        return -1;
    }
    /* qkv = ln1 . Wqkv + bqkv */
    TRY(lp_mm(m, LPK_TRANS, LPK_NOTRANS, C, 3 * C, N, a->ln1, -1, C, dqkv, -1,
              3 * C, 1.0f, G(m, LP(m, l, LW_QKVW)), 3 * C));
    lpk_bias_bwd(c, G(m, LP(m, l, LW_QKVB)), dqkv, N, 3 * C);
    TRY(lp_mm(m, LPK_NOTRANS, LPK_TRANS, N, C, 3 * C, dqkv, -1, 3 * C,
              P(m, LP(m, l, LW_QKVW)), LP(m, l, LW_QKVW), 3 * C, 0.0f, dsm, C));
    lpk_layernorm_bwd(c, dres, G(m, LP(m, l, LW_LN1W)), G(m, LP(m, l, LW_LN1B)),
                      dsm, x, P(m, LP(m, l, LW_LN1W)), a->ln1_mean, a->ln1_rstd,
                      N, C);
    return 0;
}

int lp_model_backward(lp_model *m) {
    if (!m->B) {
        lp_model_set_error(m, "model backward: call lp_model_forward first");
        return -1;
    }
    if (m->logits_state != 2 && !m->dvalues_pending) {
        lp_model_set_error(m, "model backward: no head gradient pending (call a loss or *_grad function first)");
        return -1;
    }
    lpk_ctx *c = m->ctx;
    const int N = m->B * m->T, C = m->cfg.n_embd, V = m->cfg.vocab_size;
    float *dh = m->dsmall; /* d(final hidden) */
    int have = 0;
    TRY(lp_model_sync_bf16(m));
    if (m->logits_state == 2) {
        TRY(lp_mm(m, LPK_TRANS, LPK_NOTRANS, V, C, N, m->logits, -1, V, m->lnf,
                  -1, C, 1.0f, G(m, m->p_wte), C));
        TRY(lp_mm(m, LPK_NOTRANS, LPK_NOTRANS, N, C, V, m->logits, -1, V,
                  P(m, m->p_wte), m->p_wte, C, 0.0f, dh, C));
        have = 1;
        m->logits_state = 0;
    }
    if (m->dvalues_pending) {
        if (!have) memset(dh, 0, (size_t)N * C * sizeof(float));
        lpk_rowdot_bwd(c, dh, G(m, m->p_score), NULL, m->dvalues, m->lnf,
                       P(m, m->p_score), N, C);
        m->dvalues_pending = 0;
    }
    const int L = m->cfg.n_layer;
    const float *xl = L ? m->la[L - 1].out : m->emb;
    memset(m->dres, 0, (size_t)N * C * sizeof(float));
    lpk_layernorm_bwd(c, m->dres, G(m, m->p_lnfw), G(m, m->p_lnfb), dh, xl,
                      P(m, m->p_lnfw), m->lnf_mean, m->lnf_rstd, N, C);
    for (int l = L - 1; l >= 0; l--)
        TRY(block_backward(m, l, l ? m->la[l - 1].out : m->emb));
    lpk_embed_bwd(c, G(m, m->p_wte), G(m, m->p_wpe), m->dres, m->tokens, NULL,
                  N, m->T, C, V, m->cfg.n_ctx);
    return 0;
}
