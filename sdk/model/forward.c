/* Trunk forward and the heads (LM loss, log-probs, scalar). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int lp_block_forward(lp_model *m, int l, const float *x, int B, int T) {
    lpk_ctx *c = m->ctx;
    const int C = m->cfg.n_embd, H = m->cfg.n_head, N = B * T;
    const size_t NC = (size_t)N * C;
    const float eps = m->cfg.ln_eps;
    layer_acts *a = &m->la[l];
    /* in bf16 mode the producers also write the bf16 copy each GEMM reads */
    LPK_CHECK(m, lpk_layernorm_fwd_bf16(c, a->ln1, a->ln1_16, a->ln1_mean, a->ln1_rstd, x,
                                        P(m, LP(m, l, LW_LN1W)), P(m, LP(m, l, LW_LN1B)), N, C, eps));
    TRY(lp_mm_bias(m, N, 3 * C, C, a->ln1, a->ln1_16, P(m, LP(m, l, LW_QKVW)), W16(m, LP(m, l, LW_QKVW)),
                   P(m, LP(m, l, LW_QKVB)), a->qkv));
    LPK_CHECK(m, lpk_attn_fwd_prefix(c, a->att, a->lse, a->qkv, m->packed ? m->start : NULL,
                                     m->packed && m->prefixed ? m->pre : NULL, B, T, C, H));
    const lpk_bf16 *h16 = to16(m, a->att_16, a->att, NC);
    TRY(lp_mm_bias(m, N, C, C, a->att, h16, P(m, LP(m, l, LW_PROJW)), W16(m, LP(m, l, LW_PROJW)),
                   P(m, LP(m, l, LW_PROJB)), a->mid));
    LPK_CHECK(m, lpk_add(c, a->mid, a->mid, x, NC));
    LPK_CHECK(m, lpk_layernorm_fwd_bf16(c, a->ln2, a->ln2_16, a->ln2_mean, a->ln2_rstd, a->mid,
                                        P(m, LP(m, l, LW_LN2W)), P(m, LP(m, l, LW_LN2B)), N, C, eps));
    TRY(lp_mm_bias(m, N, 4 * C, C, a->ln2, a->ln2_16, P(m, LP(m, l, LW_FCW)), W16(m, LP(m, l, LW_FCW)),
                   P(m, LP(m, l, LW_FCB)), a->fc));
    LPK_CHECK(m, lpk_gelu_fwd_bf16(c, a->gelu, a->gelu_16, a->fc, 4 * NC));
    TRY(lp_mm_bias(m, N, C, 4 * C, a->gelu, a->gelu_16, P(m, LP(m, l, LW_FPW)), W16(m, LP(m, l, LW_FPW)),
                   P(m, LP(m, l, LW_FPB)), a->out));
    LPK_CHECK(m, lpk_add(c, a->out, a->out, a->mid, NC));
    return 0;
}

/* The trunk forward; pack (host, NULL for plain rows) holds each token's
 * position [N], its segment's first index in the row [N], then each row's
 * shared prefix length [B] (all zeros: no prefix anywhere). */
static int forward_rows(lp_model *m, const int32_t *tokens, const int32_t *pack, int B, int T,
                        lp_block_hook hook, void *user) {
    const int C = m->cfg.n_embd, N = B * T;
    TRY(lp_model_reserve(m, (size_t)N));
    TRY(lp_model_sync_bf16(m));
    m->B = B;
    m->T = T;
    m->logits_state = 0;
    m->dvalues_pending = 0;
    m->packed = m->prefixed = 0;
    LPK_CHECK(m, lpk_copy_in(m->ctx, m->tokens, tokens, (size_t)N * sizeof(int32_t)));
    if (pack) {
        LPK_CHECK(m, lpk_copy_in(m->ctx, m->pos, pack, (size_t)N * sizeof(int32_t)));
        LPK_CHECK(m, lpk_copy_in(m->ctx, m->start, pack + N, (size_t)N * sizeof(int32_t)));
        for (int b = 0; b < B; b++) m->prefixed |= pack[2 * (size_t)N + b] > 0;
        if (m->prefixed)
            LPK_CHECK(m, lpk_copy_in(m->ctx, m->pre, pack + 2 * (size_t)N, (size_t)B * sizeof(int32_t)));
        m->packed = 1;
    }
    LPK_CHECK(m, lpk_embed_fwd(m->ctx, m->emb, m->tokens, m->packed ? m->pos : NULL, N, T, C, P(m, m->p_wte),
                               m->cfg.vocab_size, P(m, m->p_wpe), m->cfg.n_ctx));
    const float *x = m->emb;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        TRY(lp_block_forward(m, l, x, B, T));
        if (hook) TRY(hook(user, m, l));
        x = m->la[l].out;
    }
    LPK_CHECK(m, lpk_layernorm_fwd_bf16(m->ctx, m->lnf, m->lnf_16, m->lnf_mean, m->lnf_rstd, x,
                                        P(m, m->p_lnfw), P(m, m->p_lnfb), N, C, m->cfg.ln_eps));
    return 0;
}

int lp_model_forward_hook(lp_model *m, const int32_t *tokens, int B, int T, lp_block_hook hook, void *user) {
    if (B < 1 || T < 1 || T > m->cfg.n_ctx) {
        lp_model_set_error(m, "model forward: batch %d x length %d, expected B >= 1 and 1 <= T <= n_ctx (%d)",
                           B, T, m->cfg.n_ctx);
        return -1;
    }
    return forward_rows(m, tokens, NULL, B, T, hook, user);
}

int lp_model_forward(lp_model *m, const int32_t *tokens, int B, int T) {
    lp_model_begin(m);
    return lp_model_forward_hook(m, tokens, B, T, NULL, NULL);
}

/* Positions, segment starts and prefix lengths from seg into pack[2N + B]
 * (see forward_rows): a row's leading LP_SEG_SHARED tokens are its prefix
 * (positions 0.., causal among themselves), and every later segment's
 * positions continue from the prefix's length, as they would with the
 * prefix in front of it alone. A segment longer than n_ctx (prefix
 * included) or a shared token after the prefix is an error. */
static int pack_segments(lp_model *m, const int32_t *seg, int B, int T, int32_t *pack) {
    const size_t N = (size_t)B * T;
    for (int b = 0; b < B; b++) {
        const int32_t *s = seg + (size_t)b * T;
        int32_t *pos = pack + (size_t)b * T, *start = pack + N + (size_t)b * T;
        int pre = 0;
        while (pre < T && s[pre] == LP_SEG_SHARED) pre++;
        pack[2 * N + b] = pre;
        for (int t = 0; t < pre; t++) {
            if (t >= m->cfg.n_ctx) {
                lp_model_set_error(m, "model forward packed: row %d, shared prefix longer than n_ctx (%d)", b,
                                   m->cfg.n_ctx);
                return -1;
            }
            pos[t] = t;
            start[t] = 0;
        }
        int first = pre;
        for (int t = pre; t < T; t++) {
            if (s[t] == LP_SEG_SHARED) {
                lp_model_set_error(m,
                                   "model forward packed: row %d, token %d has seg LP_SEG_SHARED after the "
                                   "row's prefix (expected shared tokens only at a row's start)",
                                   b, t);
                return -1;
            }
            if (t > pre && s[t] != s[t - 1]) first = t;
            if (pre + t - first >= m->cfg.n_ctx) {
                lp_model_set_error(m,
                                   "model forward packed: row %d, segment %d starting at token %d is longer "
                                   "than n_ctx (%d): position %d",
                                   b, s[t], first, m->cfg.n_ctx, pre + t - first);
                return -1;
            }
            pos[t] = pre + t - first;
            start[t] = first;
        }
    }
    return 0;
}

int lp_model_forward_packed(lp_model *m, const int32_t *tokens, const int32_t *seg, int B, int T) {
    lp_model_begin(m);
    if (!seg) return lp_model_forward_hook(m, tokens, B, T, NULL, NULL);
    if (B < 1 || T < 1 || (size_t)B * T > INT_MAX) {
        lp_model_set_error(m, "model forward packed: batch %d x length %d, expected B >= 1 and T >= 1", B, T);
        return -1;
    }
    int32_t *pack = malloc((2 * (size_t)B * T + B) * sizeof *pack);
    if (!pack) {
        lp_model_set_error(m, "model forward packed: out of memory for %d x %d positions", B, T);
        return -1;
    }
    int rc = pack_segments(m, seg, B, T, pack);
    if (rc == 0) rc = forward_rows(m, tokens, pack, B, T, NULL, NULL);
    free(pack);
    return rc;
}

int lp_model_hidden_copy(lp_model *m, float *host) {
    lp_model_begin(m);
    if (!m->B) {
        lp_model_set_error(m, "model hidden: call lp_model_forward first");
        return -1;
    }
    LPK_CHECK(m, lpk_copy_out(m->ctx, host, m->lnf, (size_t)m->B * m->T * m->cfg.n_embd * sizeof(float)));
    return 0;
}

const float *lp_model_hidden(const lp_model *m) { return m->B ? m->lnf : NULL; }

static int need_forward(lp_model *m, const char *what) {
    if (!m->B) {
        lp_model_set_error(m, "model %s: call lp_model_forward first", what);
        return -1;
    }
    return 0;
}

lpk_bf16 *lp_model_head16(lp_model *m) {
    const int C = m->cfg.n_embd, V = m->cfg.vocab_size;
    if (!m->head16) {
        m->head16 = lpk_alloc(m->ctx, (size_t)C * V * sizeof(lpk_bf16));
        if (!m->head16) {
            lp_model_set_error(m, "model: out of memory for the bf16 LM head");
            return NULL;
        }
        m->head16_stale = 1;
    }
    if (m->head16_stale) LPK_CHECK_NULL(m, lpk_transpose_bf16(m->ctx, m->head16, V, P(m, m->p_wte), C, V, C));
    m->head16_stale = 0;
    return m->head16;
}

static const float *logits(lp_model *m) {
    if (need_forward(m, "logits")) return NULL;
    if (m->logits_state == 1 || m->logits_state == 3) return m->logits;
    if (m->logits_state == 2) {
        lp_model_set_error(m,
                           "model logits: the logits buffer holds a pending gradient; run lp_model_backward "
                           "and forward again");
        return NULL;
    }
    const int N = m->B * m->T, C = m->cfg.n_embd, V = m->cfg.vocab_size;
    if (lp_model_reserve_logits(m, (size_t)N)) return NULL;
    if (m->bf16) {
        if (!lp_model_head16(m) || lp_mm(m, LPK_NOTRANS, LPK_NOTRANS, N, V, C, m->lnf, m->lnf_16, C, NULL,
                                         m->head16, V, 0.0f, m->logits, V))
            return NULL;
    } else if (lp_mm(m, LPK_NOTRANS, LPK_TRANS, N, V, C, m->lnf, NULL, C, P(m, m->p_wte), NULL, C, 0.0f,
                     m->logits, V)) {
        return NULL;
    }
    m->logits_state = 1;
    return m->logits;
}

const float *lp_model_logits(lp_model *m) {
    lp_model_begin(m);
    return logits(m);
}

int lp_model_logits_copy(lp_model *m, float *host) {
    lp_model_begin(m);
    if (!logits(m)) return -1;
    LPK_CHECK(m,
              lpk_copy_out(m->ctx, host, m->logits, (size_t)m->B * m->T * m->cfg.vocab_size * sizeof(float)));
    return 0;
}

/* Host arrays of a head's inputs into the staging buffers (NULL stays NULL). */
static int stage_in(lp_model *m, const int32_t *tok, const float *a, const float *b, const int32_t **dtok,
                    const float **da, const float **db) {
    const size_t N = (size_t)m->B * m->T;
    if (dtok) {
        *dtok = NULL;
        if (tok) LPK_CHECK(m, lpk_copy_in(m->ctx, m->itok, tok, N * sizeof(int32_t)));
        if (tok) *dtok = m->itok;
    }
    *da = NULL;
    *db = NULL;
    if (a) LPK_CHECK(m, lpk_copy_in(m->ctx, m->io[0], a, N * sizeof(float)));
    if (a) *da = m->io[0];
    if (b) LPK_CHECK(m, lpk_copy_in(m->ctx, m->io[1], b, N * sizeof(float)));
    if (b) *db = m->io[1];
    return 0;
}

int lp_model_lm_loss(lp_model *m, const int32_t *targets, const float *weights, double norm, float *per_token,
                     double *loss) {
    lp_model_begin(m);
    if (m->logits_state >= 2) {
        lp_model_set_error(m, "model loss: a head gradient is already pending; run lp_model_backward first");
        return -1;
    }
    if (!logits(m)) return -1;
    const int N = m->B * m->T, V = m->cfg.vocab_size;
    if (norm <= 0.0) {
        norm = 0.0;
        for (int i = 0; i < N; i++)
            if (targets[i] >= 0 && targets[i] < V) norm += weights ? weights[i] : 1.0;
        if (norm <= 0.0) norm = 1.0; /* nothing counted: loss 0, grads 0 */
    }
    for (int i = 0; i < N; i++)
        if (targets[i] >= V) {
            lp_model_set_error(m, "model loss: target %d at index %d is outside the vocabulary 0..%d",
                               targets[i], i, V - 1);
            return -1;
        }
    const int32_t *dt;
    const float *dw, *unused;
    TRY(stage_in(m, targets, weights, NULL, &dt, &dw, &unused));
    float *dnll = per_token ? m->io[2] : NULL;
    double l;
    if (m->bf16) {
        /* the gradient goes straight to bf16 for the head's backward GEMMs */
        lpk_bf16 *g = lp_model_g16(m, (size_t)N * V);
        if (!g) return -1;
        l = lpk_xent_bf16(m->ctx, m->logits, V, dt, dw, N, V, norm, dnll, g, V, 1.0f);
    } else {
        l = lpk_xent(m->ctx, m->logits, V, dt, dw, N, V, norm, dnll, m->logits, 1.0f);
    }
    /* NaN is a failure only with a message: the call cleared the context's */
    if (isnan(l) && lpk_ctx_error(m->ctx)[0]) {
        lp_model_set_error(m, "model loss: %s", lpk_ctx_error(m->ctx));
        return -1;
    }
    if (per_token) LPK_CHECK(m, lpk_copy_out(m->ctx, per_token, dnll, (size_t)N * sizeof(float)));
    m->logits_state = m->bf16 ? 3 : 2;
    if (loss) *loss = l;
    return 0;
}

int lp_model_logprobs(lp_model *m, const int32_t *tokens, float temp, float *logp, float *entropy) {
    lp_model_begin(m);
    if (!(temp > 0.0f)) {
        lp_model_set_error(m, "model logprobs: temperature %g must be > 0", temp);
        return -1;
    }
    if (!logits(m)) return -1;
    const int N = m->B * m->T, V = m->cfg.vocab_size;
    const int32_t *dt;
    const float *ua, *ub;
    TRY(stage_in(m, tokens, NULL, NULL, &dt, &ua, &ub));
    float *dlp = logp ? m->io[0] : NULL, *den = entropy ? m->io[1] : NULL;
    LPK_CHECK(m, lpk_logprob_fwd(m->ctx, m->logits, V, dt, N, V, temp, dlp, den));
    if (logp) LPK_CHECK(m, lpk_copy_out(m->ctx, logp, dlp, (size_t)N * sizeof(float)));
    if (entropy) LPK_CHECK(m, lpk_copy_out(m->ctx, entropy, den, (size_t)N * sizeof(float)));
    return 0;
}

int lp_model_logprobs_grad(lp_model *m, const int32_t *tokens, float temp, const float *dlogp,
                           const float *dentropy) {
    lp_model_begin(m);
    TRY(lp_model_need_trainable(m, "logprobs grad"));
    if (!(temp > 0.0f)) {
        lp_model_set_error(m, "model logprobs: temperature %g must be > 0", temp);
        return -1;
    }
    if (m->logits_state >= 2) {
        lp_model_set_error(m, "model logprobs grad: a head gradient is already pending on the logits");
        return -1;
    }
    if (!logits(m)) return -1;
    const int N = m->B * m->T, V = m->cfg.vocab_size;
    const int32_t *dt;
    const float *da, *de;
    TRY(stage_in(m, tokens, dlogp, dentropy, &dt, &da, &de));
    LPK_CHECK(m, lpk_logprob_bwd(m->ctx, m->logits, m->logits, V, dt, N, V, temp, da, de));
    m->logits_state = 2;
    return 0;
}

static int need_scalar(lp_model *m, const char *what) {
    if (m->p_score < 0) {
        lp_model_set_error(m, "model %s: this model has no scalar head (config scalar_head = 0)", what);
        return -1;
    }
    return need_forward(m, what);
}

int lp_model_values(lp_model *m, float *out) {
    lp_model_begin(m);
    TRY(need_scalar(m, "values"));
    const int N = m->B * m->T;
    LPK_CHECK(m, lpk_rowdot_fwd(m->ctx, m->io[2], m->lnf, P(m, m->p_score), 0.0f, N, m->cfg.n_embd));
    LPK_CHECK(m, lpk_copy_out(m->ctx, out, m->io[2], (size_t)N * sizeof(float)));
    return 0;
}

/* Adds the host gradient dv[B*T] to the pending scalar-head gradient. */
static int add_dvalues(lp_model *m, const float *dv) {
    const size_t N = (size_t)m->B * m->T;
    if (!m->dvalues_pending) {
        LPK_CHECK(m, lpk_copy_in(m->ctx, m->dvalues, dv, N * sizeof(float)));
    } else {
        LPK_CHECK(m, lpk_copy_in(m->ctx, m->io[2], dv, N * sizeof(float)));
        LPK_CHECK(m, lpk_add(m->ctx, m->dvalues, m->dvalues, m->io[2], N));
    }
    m->dvalues_pending = 1;
    return 0;
}

int lp_model_values_grad(lp_model *m, const float *dvalues) {
    lp_model_begin(m);
    TRY(lp_model_need_trainable(m, "values grad"));
    TRY(need_scalar(m, "values grad"));
    return add_dvalues(m, dvalues);
}

static int check_lengths(lp_model *m, const int32_t *len) {
    for (int b = 0; b < m->B; b++)
        if (len[b] < 1 || len[b] > m->T) {
            lp_model_set_error(m, "model scalar head: sequence %d has length %d, expected 1..%d", b, len[b],
                               m->T);
            return -1;
        }
    return 0;
}

int lp_model_scalar_last(lp_model *m, const int32_t *lengths, float *out) {
    lp_model_begin(m);
    TRY(need_scalar(m, "scalar"));
    TRY(check_lengths(m, lengths));
    const int C = m->cfg.n_embd;
    for (int b = 0; b < m->B; b++) {
        const float *h = m->lnf + ((size_t)b * m->T + lengths[b] - 1) * C;
        LPK_CHECK(m, lpk_rowdot_fwd(m->ctx, m->io[2] + b, h, P(m, m->p_score), 0.0f, 1, C));
    }
    LPK_CHECK(m, lpk_copy_out(m->ctx, out, m->io[2], (size_t)m->B * sizeof(float)));
    return 0;
}

int lp_model_scalar_last_grad(lp_model *m, const int32_t *lengths, const float *dout) {
    lp_model_begin(m);
    TRY(lp_model_need_trainable(m, "scalar grad"));
    TRY(need_scalar(m, "scalar grad"));
    TRY(check_lengths(m, lengths));
    const size_t N = (size_t)m->B * m->T;
    float *dv = calloc(N, sizeof *dv);
    if (!dv) {
        lp_model_set_error(m, "model scalar grad: out of memory");
        return -1;
    }
    for (int b = 0; b < m->B; b++) dv[(size_t)b * m->T + lengths[b] - 1] = dout[b];
    int rc = add_dvalues(m, dv);
    free(dv);
    return rc;
}
