/* KV-cache inference: a batched prefill through the training forward (right
 * padding is harmless under a causal mask: position p never sees p' > p),
 * then one-token steps for all sequences, each at its own position. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct lp_kv_cache {
    lp_model *m;
    int B, maxT;
    int32_t *len, *pos, *alen;                /* host */
    int32_t *rows;                            /* host */
    int32_t *dtok, *dpos, *dalen;             /* device copies of tok, pos, alen [B] */
    float *k, *v;                             /* [L][B][maxT][C] */
    float *x, *ln, *qkv, *att, *tmp, *fc, *h; /* step scratch, B rows */
    float *logits;                            /* [B, V], copied out to the caller */
    /* prefill's hook arguments */
    const int32_t *plens;
    int pwidth;
};

/* logits[n, V] of n hidden rows: h . wte^T (in bf16 from wte's own bf16
 * copy, which is the faster orientation for a few rows) */
static int head_logits(lp_model *m, int n, const float *h, float *logits) {
    const int C = m->cfg.n_embd, V = m->cfg.vocab_size;
    const lpk_bf16 *w16 = NULL;
    if (m->bf16 && !(w16 = lp_model_wte16(m))) return -1;
    return lp_mm(m, LPK_NOTRANS, LPK_TRANS, n, V, C, h, NULL, C, P(m, m->p_wte), w16, C, 0.0f, logits, V);
}

static size_t kv_off(const lp_kv_cache *c, int l, int b) {
    return (((size_t)l * c->B + b) * c->maxT) * (size_t)c->m->cfg.n_embd;
}

lp_kv_cache *lp_kv_cache_create(lp_model *m, int batch, int max_len) {
    lp_model_begin(m);
    if (batch < 1 || max_len < 1 || max_len > m->cfg.n_ctx) {
        lp_model_set_error(m,
                           "kv cache: batch %d, length %d: expected batch >= 1 and 1 <= length <= n_ctx (%d)",
                           batch, max_len, m->cfg.n_ctx);
        return NULL;
    }
    lp_kv_cache *c = calloc(1, sizeof *c);
    if (!c) goto oom;
    const size_t C = (size_t)m->cfg.n_embd, L = (size_t)m->cfg.n_layer;
    c->m = m;
    c->B = batch;
    c->maxT = max_len;
    lpk_ctx *k = m->ctx;
    c->len = calloc((size_t)batch * 4, sizeof(int32_t));
    c->dtok = lpk_alloc(k, (size_t)batch * 3 * sizeof(int32_t));
    c->k = lpk_alloc(k, L * batch * max_len * C * sizeof(float));
    c->v = lpk_alloc(k, L * batch * max_len * C * sizeof(float));
    c->x = lpk_alloc(k, (size_t)batch * C * 13 * sizeof(float));
    c->logits = lpk_alloc(k, (size_t)batch * m->cfg.vocab_size * sizeof(float));
    if (!c->len || !c->dtok || !c->k || !c->v || !c->x || !c->logits) goto oom;
    c->dpos = c->dtok + batch;
    c->dalen = c->dpos + batch;
    c->pos = c->len + batch;
    c->alen = c->pos + batch;
    c->rows = c->alen + batch;
    c->ln = c->x + batch * C;
    c->qkv = c->ln + batch * C;
    c->att = c->qkv + 3 * batch * C;
    c->tmp = c->att + batch * C;
    c->h = c->tmp + batch * C;
    c->fc = c->h + batch * C; /* 4 * batch * C */
    return c;
oom:
    lp_model_set_error(m, "kv cache: out of memory for batch %d, length %d", batch, max_len);
    lp_kv_cache_destroy(c);
    return NULL;
}

void lp_kv_cache_destroy(lp_kv_cache *c) {
    if (!c) return;
    lpk_ctx *k = c->m->ctx;
    lpk_free(k, c->k);
    lpk_free(k, c->v);
    lpk_free(k, c->x);
    lpk_free(k, c->dtok);
    lpk_free(k, c->logits);
    free(c->len);
    free(c);
}

int lp_kv_cache_len(const lp_kv_cache *c, int b) { return (b >= 0 && b < c->B) ? c->len[b] : -1; }

/* After block l: its keys and values of the real prompt positions into the
 * cache (a frozen model's next block overwrites them). */
static int prefill_kv(void *user, lp_model *m, int l) {
    lp_kv_cache *c = user;
    const int C = m->cfg.n_embd;
    const float *qkv = m->la[l].qkv;
    for (int b = 0; b < c->B; b++)
        for (int t = 0; t < c->plens[b]; t++) {
            const float *r = qkv + ((size_t)b * c->pwidth + t) * 3 * C;
            LPK_CHECK(m, lpk_copy(m->ctx, c->k + kv_off(c, l, b) + (size_t)t * C, r + C, C * sizeof(float)));
            LPK_CHECK(m,
                      lpk_copy(m->ctx, c->v + kv_off(c, l, b) + (size_t)t * C, r + 2 * C, C * sizeof(float)));
        }
    return 0;
}

int lp_model_prefill(lp_model *m, lp_kv_cache *c, const int32_t *tokens, const int32_t *lens, int max_prompt,
                     float *logits) {
    lp_model_begin(m);
    const int B = c->B, C = m->cfg.n_embd, V = m->cfg.vocab_size;
    if (max_prompt < 1 || max_prompt > c->maxT) {
        lp_model_set_error(m, "prefill: prompt width %d, expected 1..%d", max_prompt, c->maxT);
        return -1;
    }
    for (int b = 0; b < B; b++)
        if (lens[b] < 1 || lens[b] > max_prompt) {
            lp_model_set_error(m, "prefill: prompt %d has length %d, expected 1..%d", b, lens[b], max_prompt);
            return -1;
        }
    c->plens = lens;
    c->pwidth = max_prompt;
    TRY(lp_model_forward_hook(m, tokens, B, max_prompt, prefill_kv, c));
    for (int b = 0; b < B; b++) {
        c->len[b] = lens[b];
        LPK_CHECK(m, lpk_copy(m->ctx, c->h + (size_t)b * C,
                              m->lnf + ((size_t)b * max_prompt + lens[b] - 1) * C, C * sizeof(float)));
    }
    m->B = 0; /* training activations no longer describe a batch */
    TRY(head_logits(m, B, c->h, c->logits));
    LPK_CHECK(m, lpk_copy_out(m->ctx, logits, c->logits, (size_t)B * V * sizeof(float)));
    return 0;
}

int lp_model_decode_step(lp_model *m, lp_kv_cache *c, const int32_t *tokens, const uint8_t *active,
                         float *logits) {
    lp_model_begin(m);
    lpk_ctx *k = m->ctx;
    const int C = m->cfg.n_embd, V = m->cfg.vocab_size, H = m->cfg.n_head;
    const int maxT = c->maxT;
    const float eps = m->cfg.ln_eps;
    /* compact the active rows so finished sequences cost nothing */
    int n = 0;
    int32_t tok[c->B > 0 ? c->B : 1];
    for (int b = 0; b < c->B; b++) {
        if (active && !active[b]) continue;
        if (c->len[b] < 1 || c->len[b] >= maxT) {
            lp_model_set_error(m,
                               "decode: sequence %d is at length %d; a cache of %d positions needs 1 <= "
                               "length < %d (prefill first, stop at the end)",
                               b, c->len[b], maxT, maxT);
            return -1;
        }
        c->rows[n] = b;
        c->pos[n] = c->len[b];
        c->alen[n] = c->len[b] + 1;
        tok[n] = tokens[b];
        n++;
    }
    if (n == 0) return 0;
    TRY(lp_model_sync_bf16(m));
    LPK_CHECK(m, lpk_copy_in(k, c->dtok, tok, (size_t)n * sizeof(int32_t)));
    LPK_CHECK(m, lpk_copy_in(k, c->dpos, c->pos, (size_t)n * sizeof(int32_t)));
    LPK_CHECK(m, lpk_copy_in(k, c->dalen, c->alen, (size_t)n * sizeof(int32_t)));
    LPK_CHECK(m, lpk_embed_fwd(k, c->x, c->dtok, c->dpos, n, 1, C, P(m, m->p_wte), V, P(m, m->p_wpe),
                               m->cfg.n_ctx));
    for (int l = 0; l < m->cfg.n_layer; l++) {
        LPK_CHECK(m, lpk_layernorm_fwd(k, c->ln, NULL, NULL, c->x, P(m, LP(m, l, LW_LN1W)),
                                       P(m, LP(m, l, LW_LN1B)), n, C, eps));
        TRY(lp_mm_bias(m, n, 3 * C, C, c->ln, NULL, P(m, LP(m, l, LW_QKVW)), W16(m, LP(m, l, LW_QKVW)),
                       P(m, LP(m, l, LW_QKVB)), c->qkv));
        /* the attention kernel reads caches laid out per batch row, so the
         * compacted rows index through their own cache slice */
        for (int i = 0; i < n; i++) {
            int b = c->rows[i];
            const float *r = c->qkv + (size_t)i * 3 * C;
            LPK_CHECK(m,
                      lpk_copy(k, c->k + kv_off(c, l, b) + (size_t)c->pos[i] * C, r + C, C * sizeof(float)));
            LPK_CHECK(
                m, lpk_copy(k, c->v + kv_off(c, l, b) + (size_t)c->pos[i] * C, r + 2 * C, C * sizeof(float)));
        }
        for (int i = 0; i < n; i++) {
            int b = c->rows[i];
            LPK_CHECK(m, lpk_attn_decode(k, c->att + (size_t)i * C, c->qkv + (size_t)i * 3 * C, 3 * C,
                                         c->k + kv_off(c, l, b), c->v + kv_off(c, l, b), &c->dalen[i], 1,
                                         maxT, C, H));
        }
        TRY(lp_mm_bias(m, n, C, C, c->att, NULL, P(m, LP(m, l, LW_PROJW)), W16(m, LP(m, l, LW_PROJW)),
                       P(m, LP(m, l, LW_PROJB)), c->tmp));
        LPK_CHECK(m, lpk_add(k, c->x, c->x, c->tmp, (size_t)n * C));
        LPK_CHECK(m, lpk_layernorm_fwd(k, c->ln, NULL, NULL, c->x, P(m, LP(m, l, LW_LN2W)),
                                       P(m, LP(m, l, LW_LN2B)), n, C, eps));
        TRY(lp_mm_bias(m, n, 4 * C, C, c->ln, NULL, P(m, LP(m, l, LW_FCW)), W16(m, LP(m, l, LW_FCW)),
                       P(m, LP(m, l, LW_FCB)), c->fc));
        LPK_CHECK(m, lpk_gelu_fwd(k, c->fc, c->fc, (size_t)n * 4 * C));
        TRY(lp_mm_bias(m, n, C, 4 * C, c->fc, NULL, P(m, LP(m, l, LW_FPW)), W16(m, LP(m, l, LW_FPW)),
                       P(m, LP(m, l, LW_FPB)), c->tmp));
        LPK_CHECK(m, lpk_add(k, c->x, c->x, c->tmp, (size_t)n * C));
    }
    LPK_CHECK(m, lpk_layernorm_fwd(k, c->h, NULL, NULL, c->x, P(m, m->p_lnfw), P(m, m->p_lnfb), n, C, eps));
    /* logits of the compacted rows, copied out to their batch slots (one
     * copy when no row is finished) */
    TRY(head_logits(m, n, c->h, c->logits));
    if (n == c->B)
        LPK_CHECK(m, lpk_copy_out(k, logits, c->logits, (size_t)n * V * sizeof(float)));
    else
        for (int i = 0; i < n; i++)
            LPK_CHECK(m, lpk_copy_out(k, logits + (size_t)c->rows[i] * V, c->logits + (size_t)i * V,
                                      (size_t)V * sizeof(float)));
    for (int i = 0; i < n; i++) c->len[c->rows[i]]++;
    return 0;
}
