/* Backward pass through the heads and the trunk; parameter gradients are
 * accumulated (+=) so micro-batches add up until lp_model_zero_grad. */
#include <string.h>

#include "internal.h"

/* dres holds d(block output) on entry and d(block input) on exit. */
/* Backward of the linear layer y = x . W + b of block l (parameters kW,
 * kB), x [N, in], dy [N, out]: the bias gradient, the weight gradient
 * (written when wbeta is 0, else added) and dx = dy . W^T. In bf16 mode dy
 * is rounded once into g16 and feeds both GEMMs; g16_ready: the caller
 * already wrote g16 and the bias gradient (and dy is not read). */
static int linear_backward(lp_model *m, int l, int kW, int kB, const float *x, const lpk_bf16 *x16, int in,
                           int out, const float *dy, lpk_bf16 *g16, int g16_ready, float wbeta, float *dx) {
    const int N = m->B * m->T, w = LP(m, l, kW);
    const lpk_bf16 *d16 = NULL;
    if (m->bf16) { /* the rounding and the bias gradient share one read of dy */
        if (!g16_ready) LPK_CHECK(m, lpk_bias_bwd_bf16(m->ctx, G(m, LP(m, l, kB)), g16, dy, N, out));
        d16 = g16;
    } else {
        LPK_CHECK(m, lpk_bias_bwd(m->ctx, G(m, LP(m, l, kB)), dy, N, out));
    }
    TRY(lp_mm(m, LPK_TRANS, LPK_NOTRANS, in, out, N, x, x16, in, dy, d16, out, wbeta, G(m, w), out));
    return lp_mm(m, LPK_NOTRANS, LPK_TRANS, N, in, out, dy, d16, out, P(m, w), W16(m, w), out, 0.0f, dx, in);
}

/* wbeta: 0 on the first backward after lp_model_zero_grad (the weight
 * gradients are written, not added), else 1. */
static int block_backward(lp_model *m, int l, const float *x, float wbeta) {
    lpk_ctx *c = m->ctx;
    const int B = m->B, T = m->T, C = m->cfg.n_embd, H = m->cfg.n_head;
    const int N = B * T;
    const size_t NC = (size_t)N * C;
    layer_acts *a = &m->la[l];
    float *dres = m->dres, *dbig = m->dbig, *dqkv = m->dqkv, *dsm = m->dsmall;
    /* each propagated gradient is rounded to bf16 once and feeds both the
     * weight-gradient and the input-gradient GEMM */
    lpk_bf16 *g16 = NULL;
    if (m->bf16 && !(g16 = lp_model_g16(m, 4 * NC))) return -1;

    /* MLP projection: out = mid + gelu . Wfp + bfp */
    TRY(linear_backward(m, l, LW_FPW, LW_FPB, a->gelu, a->gelu_16, 4 * C, C, dres, g16, 0, wbeta, dbig));
    /* MLP expansion: fc = ln2 . Wfc + bfc, through the GELU; in bf16 the
     * GELU backward, the bias gradient and the rounding are one pass */
    if (m->bf16)
        LPK_CHECK(m, lpk_gelu_bias_bwd_bf16(c, G(m, LP(m, l, LW_FCB)), g16, dbig, a->fc, N, 4 * C));
    else
        LPK_CHECK(m, lpk_gelu_bwd(c, dbig, dbig, a->fc, 4 * NC));
    TRY(linear_backward(m, l, LW_FCW, LW_FCB, a->ln2, a->ln2_16, C, 4 * C, dbig, g16, m->bf16, wbeta, dsm));
    LPK_CHECK(m, lpk_layernorm_bwd(c, dres, G(m, LP(m, l, LW_LN2W)), G(m, LP(m, l, LW_LN2B)), dsm, a->mid,
                                   P(m, LP(m, l, LW_LN2W)), a->ln2_mean, a->ln2_rstd, N, C));
    /* attention projection: mid = x + att . Wproj + bproj */
    TRY(linear_backward(m, l, LW_PROJW, LW_PROJB, a->att, a->att_16, C, C, dres, g16, 0, wbeta, dsm));
    LPK_CHECK(m, lpk_attn_bwd_prefix(c, dqkv, dsm, a->qkv, a->att, a->lse, m->packed ? m->start : NULL,
                                     m->packed && m->prefixed ? m->pre : NULL, B, T, C, H));
    /* qkv = ln1 . Wqkv + bqkv */
    TRY(linear_backward(m, l, LW_QKVW, LW_QKVB, a->ln1, a->ln1_16, C, 3 * C, dqkv, g16, 0, wbeta, dsm));
    LPK_CHECK(m, lpk_layernorm_bwd(c, dres, G(m, LP(m, l, LW_LN1W)), G(m, LP(m, l, LW_LN1B)), dsm, x,
                                   P(m, LP(m, l, LW_LN1W)), a->ln1_mean, a->ln1_rstd, N, C));
    return 0;
}

int lp_model_backward(lp_model *m) {
    lp_model_begin(m);
    TRY(lp_model_need_trainable(m, "backward"));
    if (!m->B) {
        lp_model_set_error(m, "model backward: call lp_model_forward first");
        return -1;
    }
    if (m->logits_state < 2 && !m->dvalues_pending) {
        lp_model_set_error(m,
                           "model backward: no head gradient pending (call a loss or *_grad function first)");
        return -1;
    }
    lpk_ctx *c = m->ctx;
    const int N = m->B * m->T, C = m->cfg.n_embd, V = m->cfg.vocab_size;
    float *dh = m->dsmall; /* d(final hidden) */
    int have = 0;
    TRY(lp_model_sync_bf16(m));
    /* After lp_model_zero_grad the big weight gradients are written by
     * their first producer (GEMMs with beta 0, a transposed copy for the
     * LM head); only the others are zeroed here. */
    const int fresh = m->grad_zero;
    m->grad_zero = 0;
    if (fresh) {
        for (int i = 0; i < m->nparams; i++) {
            int in_layers = i >= m->p_layer0 && i < m->p_layer0 + m->cfg.n_layer * LW_COUNT;
            int k = in_layers ? (i - m->p_layer0) % LW_COUNT : -1;
            if (k == LW_QKVW || k == LW_PROJW || k == LW_FCW || k == LW_FPW) continue;
            if (i == m->p_wte && m->logits_state >= 2) continue;
            LPK_CHECK(m, lpk_fill(c, G(m, i), 0.0f, m->params[i].numel));
        }
    }
    if (m->logits_state >= 2) {
        const lpk_bf16 *d16 = NULL;
        if (m->logits_state == 3) {
            d16 = m->g16; /* the loss wrote it in bf16 */
        } else if (m->bf16) {
            lpk_bf16 *g = lp_model_g16(m, (size_t)N * V);
            if (!g) return -1;
            d16 = to16(m, g, m->logits, (size_t)N * V);
        }
        /* dwte^T [C, V] = lnf^T . dlogits plus a transposed add beats
         * dwte [V, C] = dlogits^T . lnf in oneDNN (measured bf16,
         * V = 50257: C = 384, 2048 tokens 199 + 5 ms vs 270 ms; C = 768, 256
         * tokens 46 + 7 ms vs 66 ms); in fp32 only with many tokens. */
        if (m->bf16 || N >= 1024) {
            if (!m->wte_gt) {
                m->wte_gt = lpk_alloc(c, (size_t)C * V * sizeof(float));
                if (!m->wte_gt) {
                    lp_model_set_error(m, "model: out of memory for the LM head gradient");
                    return -1;
                }
            }
            TRY(lp_mm(m, LPK_TRANS, LPK_NOTRANS, C, V, N, m->lnf, m->bf16 ? m->lnf_16 : NULL, C, m->logits,
                      d16, V, 0.0f, m->wte_gt, V));
            if (fresh)
                LPK_CHECK(m, lpk_transpose_copy(c, G(m, m->p_wte), C, m->wte_gt, V, C, V));
            else
                LPK_CHECK(m, lpk_transpose_add(c, G(m, m->p_wte), C, m->wte_gt, V, C, V));
        } else {
            TRY(lp_mm(m, LPK_TRANS, LPK_NOTRANS, V, C, N, m->logits, NULL, V, m->lnf, NULL, C,
                      fresh ? 0.0f : 1.0f, G(m, m->p_wte), C));
        }
        if (m->bf16) /* the transposed bf16 head made by the forward */
            TRY(lp_mm(m, LPK_NOTRANS, LPK_TRANS, N, C, V, NULL, d16, V, NULL, m->head16, V, 0.0f, dh, C));
        else
            TRY(lp_mm(m, LPK_NOTRANS, LPK_NOTRANS, N, C, V, m->logits, NULL, V, P(m, m->p_wte), NULL, C, 0.0f,
                      dh, C));
        have = 1;
        m->logits_state = 0;
    }
    if (m->dvalues_pending) {
        if (!have) LPK_CHECK(m, lpk_memset(c, dh, 0, (size_t)N * C * sizeof(float)));
        LPK_CHECK(m,
                  lpk_rowdot_bwd(c, dh, G(m, m->p_score), NULL, m->dvalues, m->lnf, P(m, m->p_score), N, C));
        m->dvalues_pending = 0;
    }
    const int L = m->cfg.n_layer;
    const float *xl = L ? m->la[L - 1].out : m->emb;
    LPK_CHECK(m, lpk_memset(c, m->dres, 0, (size_t)N * C * sizeof(float)));
    LPK_CHECK(m, lpk_layernorm_bwd(c, m->dres, G(m, m->p_lnfw), G(m, m->p_lnfb), dh, xl, P(m, m->p_lnfw),
                                   m->lnf_mean, m->lnf_rstd, N, C));
    for (int l = L - 1; l >= 0; l--)
        TRY(block_backward(m, l, l ? m->la[l - 1].out : m->emb, fresh ? 0.0f : 1.0f));
    LPK_CHECK(m, lpk_embed_bwd(c, G(m, m->p_wte), G(m, m->p_wpe), m->dres, m->tokens,
                               m->packed ? m->pos : NULL, N, m->T, C, V, m->cfg.n_ctx));
    return 0;
}
