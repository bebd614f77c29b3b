/* Model creation, parameter table, initialisation and gradient utilities. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmpipe/sampler.h>

#include "internal.h"

void lp_model_set_error(lp_model *m, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, sizeof m->err, fmt, ap);
    va_end(ap);
}

const char *lp_model_error(const lp_model *m) { return m->err; }
const lp_model_config *lp_model_get_config(const lp_model *m) { return &m->cfg; }
lpk_ctx *lp_model_ctx(const lp_model *m) { return m->ctx; }
int lp_model_num_params(const lp_model *m) { return m->nparams; }
size_t lp_model_numel(const lp_model *m) { return m->numel; }
void lp_model_params_changed(lp_model *m) { m->bf16_stale = m->head16_stale = 1; }
void lp_model_bf16_synced(lp_model *m, int head_written) {
    m->bf16_stale = 0;
    m->head16_stale = !head_written;
    m->wte16_stale = head_written;
}

const lp_param *lp_model_param(const lp_model *m, int i) {
    if (i < 0 || i >= m->nparams) return NULL;
    /* the caller may hand grad to a kernel: a pending zero_grad happens now
     * (the model is never a const object, only this accessor's view of it) */
    if (!m->frozen) lp_model_grads((lp_model *)m);
    return &m->params[i];
}

int lp_model_is_frozen(const lp_model *m) { return m->frozen; }

int lp_model_need_trainable(lp_model *m, const char *what) {
    if (!m->frozen) return 0;
    lp_model_set_error(m, "model %s: the model is frozen (created by lp_model_create_frozen: no gradients)",
                       what);
    return -1;
}

static int check_index(lp_model *m, int i, const char *what) {
    if (i >= 0 && i < m->nparams) return 0;
    lp_model_set_error(m, "model %s: parameter index %d, expected 0..%d", what, i, m->nparams - 1);
    return -1;
}

int lp_model_param_read(lp_model *m, int i, float *host) {
    lp_model_begin(m);
    TRY(check_index(m, i, "param read"));
    const lp_param *p = &m->params[i];
    LPK_CHECK(m, lpk_copy_out(m->ctx, host, p->data, p->numel * sizeof(float)));
    return 0;
}

int lp_model_param_write(lp_model *m, int i, const float *host) {
    lp_model_begin(m);
    TRY(check_index(m, i, "param write"));
    const lp_param *p = &m->params[i];
    LPK_CHECK(m, lpk_copy_in(m->ctx, p->data, host, p->numel * sizeof(float)));
    lp_model_params_changed(m);
    return 0;
}

int lp_model_grad_read(lp_model *m, int i, float *host) {
    lp_model_begin(m);
    TRY(check_index(m, i, "grad read"));
    TRY(lp_model_need_trainable(m, "grad read"));
    if (!lp_model_grads(m)) return -1;
    const lp_param *p = &m->params[i];
    LPK_CHECK(m, lpk_copy_out(m->ctx, host, p->grad, p->numel * sizeof(float)));
    return 0;
}

void lp_model_memory_usage(const lp_model *m, lp_model_memory *out) {
    size_t C = (size_t)m->cfg.n_embd, V = (size_t)m->cfg.vocab_size;
    out->weights = m->flat * sizeof(float) + (m->bf16 ? m->flat * sizeof(lpk_bf16) : 0) +
                   (m->head16 ? C * V * sizeof(lpk_bf16) : 0);
    out->grads = m->grad ? m->flat * sizeof(float) + (m->wte_gt ? C * V * sizeof(float) : 0) : 0;
    out->activations = m->act_bytes + m->logits_cap * sizeof(float) + m->cvt_cap * 2 * sizeof(lpk_bf16) +
                       m->g16_cap * sizeof(lpk_bf16);
}

const lp_param *lp_model_find_param(const lp_model *m, const char *name) {
    for (int i = 0; i < m->nparams; i++)
        if (!strcmp(m->params[i].name, name)) return lp_model_param(m, i);
    return NULL;
}

#define NAME_LEN 64

static void add_param(lp_model *m, const char *name, int ndim, int64_t d0, int64_t d1, int decay,
                      size_t *off) {
    lp_param *p = &m->params[m->nparams];
    char *nm = m->names + (size_t)m->nparams * NAME_LEN;
    snprintf(nm, NAME_LEN, "%s", name);
    p->name = nm;
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = ndim == 2 ? d1 : 1;
    p->numel = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
    p->decay = decay;
    p->data = (float *)(uintptr_t)*off; /* offset now, pointer once allocated */
    *off += (p->numel + 15) & ~(size_t)15;
    m->numel += p->numel;
    m->nparams++;
}

static int check_config(const lp_model_config *c, char *err, size_t errlen) {
    const char *bad = NULL;
    if (c->n_layer < 1)
        bad = "n_layer must be >= 1";
    else if (c->n_head < 1)
        bad = "n_head must be >= 1";
    else if (c->n_embd < 1 || c->n_embd % c->n_head)
        bad = "n_embd must be a positive multiple of n_head";
    else if (c->vocab_size < 2)
        bad = "vocab_size must be >= 2";
    else if (c->n_ctx < 1)
        bad = "n_ctx must be >= 1";
    else if (c->ln_eps < 0)
        bad = "ln_eps must be >= 0";
    if (bad) {
        snprintf(err, errlen, "model config (n_layer=%d n_head=%d n_embd=%d vocab_size=%d n_ctx=%d): %s",
                 c->n_layer, c->n_head, c->n_embd, c->vocab_size, c->n_ctx, bad);
        return -1;
    }
    return 0;
}

static lp_model *create(const lp_model_config *cfg, lpk_ctx *ctx, int frozen, char *err, size_t errlen) {
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (!cfg || !ctx) {
        snprintf(err, errlen, "model: config and kernel context are required");
        return NULL;
    }
    if (check_config(cfg, err, errlen)) return NULL;
    lp_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "model: out of memory");
        return NULL;
    }
    m->cfg = *cfg;
    if (m->cfg.ln_eps == 0.0f) m->cfg.ln_eps = 1e-5f;
    m->ctx = ctx;
    m->frozen = frozen;
    m->bf16 = lpk_ctx_precision(ctx) == LPK_PREC_BF16;
    const int L = cfg->n_layer, C = cfg->n_embd, V = cfg->vocab_size;
    int maxp = 2 + L * LW_COUNT + 2 + 1;
    m->params = calloc((size_t)maxp, sizeof *m->params);
    m->names = calloc((size_t)maxp, NAME_LEN);
    m->la = calloc((size_t)L, sizeof *m->la);
    if (!m->params || !m->names || !m->la) goto oom;

    size_t off = 0;
    char nm[NAME_LEN];
    m->p_wte = m->nparams;
    add_param(m, "transformer.wte.weight", 2, V, C, 0, &off);
    m->p_wpe = m->nparams;
    add_param(m, "transformer.wpe.weight", 2, cfg->n_ctx, C, 0, &off);
    m->p_layer0 = m->nparams;
    static const char *const lname[LW_COUNT] = {
        "ln_1.weight",        "ln_1.bias",        "attn.c_attn.weight", "attn.c_attn.bias",
        "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",        "ln_2.bias",
        "mlp.c_fc.weight",    "mlp.c_fc.bias",    "mlp.c_proj.weight",  "mlp.c_proj.bias"};
    for (int l = 0; l < L; l++) {
        for (int k = 0; k < LW_COUNT; k++) {
            snprintf(nm, sizeof nm, "transformer.h.%d.%s", l, lname[k]);
            switch (k) {
                case LW_QKVW: add_param(m, nm, 2, C, 3 * C, 1, &off); break;
                case LW_QKVB: add_param(m, nm, 1, 3 * C, 0, 0, &off); break;
                case LW_PROJW: add_param(m, nm, 2, C, C, 1, &off); break;
                case LW_FCW: add_param(m, nm, 2, C, 4 * C, 1, &off); break;
                case LW_FCB: add_param(m, nm, 1, 4 * C, 0, 0, &off); break;
                case LW_FPW: add_param(m, nm, 2, 4 * C, C, 1, &off); break;
                default: add_param(m, nm, 1, C, 0, 0, &off); break;
            }
        }
    }
    m->p_lnfw = m->nparams;
    add_param(m, "transformer.ln_f.weight", 1, C, 0, 0, &off);
    m->p_lnfb = m->nparams;
    add_param(m, "transformer.ln_f.bias", 1, C, 0, 0, &off);
    m->p_score = -1;
    if (cfg->scalar_head) {
        m->p_score = m->nparams;
        add_param(m, "score.weight", 2, 1, C, 0, &off);
    }
    /* Storage order differs from the enumeration order: all decayed
     * tensors first, then the rest, so the optimizer updates each group
     * with one pass over a contiguous range. */
    off = 0;
    for (int pass = 1; pass >= 0; pass--) {
        for (int i = 0; i < m->nparams; i++) {
            lp_param *p = &m->params[i];
            if (p->decay != pass) continue;
            p->data = (float *)(uintptr_t)off;
            off += (p->numel + 15) & ~(size_t)15;
        }
        if (pass == 1) m->decay_end = off;
    }
    m->flat = off;
    m->data = lpk_alloc(ctx, off * sizeof(float));
    if (!frozen) m->grad = lpk_alloc(ctx, off * sizeof(float));
    if (!m->data || (!frozen && !m->grad)) goto oom;
    /* the padding between tensors must read as zero (flat reductions) */
    if (lpk_memset(ctx, m->data, 0, off * sizeof(float)) ||
        (m->grad && lpk_memset(ctx, m->grad, 0, off * sizeof(float))))
        goto kerr;
    if (m->bf16) {
        m->data_bf16 = lpk_alloc(ctx, off * sizeof(lpk_bf16));
        if (!m->data_bf16) goto oom;
    }
    for (int i = 0; i < m->nparams; i++) {
        size_t o = (size_t)(uintptr_t)m->params[i].data;
        m->params[i].data = m->data + o;
        m->params[i].grad = m->grad ? m->grad + o : NULL;
    }
    m->bf16_stale = 1;
    if (lp_model_init_gpt2(m, 0)) goto kerr;
    return m;
kerr:
    snprintf(err, errlen, "model: %s", m->err[0] ? m->err : lpk_ctx_error(ctx));
    lp_model_destroy(m);
    return NULL;
oom:
    snprintf(err, errlen, "model: out of memory for %d layers, width %d, vocabulary %d", L, C, V);
    lp_model_destroy(m);
    return NULL;
}

lp_model *lp_model_create(const lp_model_config *cfg, lpk_ctx *ctx, char *err, size_t errlen) {
    return create(cfg, ctx, 0, err, errlen);
}

lp_model *lp_model_create_frozen(const lp_model_config *cfg, lpk_ctx *ctx, char *err, size_t errlen) {
    return create(cfg, ctx, 1, err, errlen);
}

static void free_acts(lp_model *m) {
    lpk_ctx *c = m->ctx;
    /* one block per layer (a frozen model: one shared by all layers), see
     * lp_model_reserve */
    for (int l = 0; l < m->cfg.n_layer && m->la; l++) {
        layer_acts *a = &m->la[l];
        if (l == 0 || !m->frozen) {
            lpk_free(c, a->ln1);
            lpk_free(c, a->ln1_16);
        }
        memset(a, 0, sizeof *a);
    }
    lpk_free(c, m->emb);
    lpk_free(c, m->dres);
    lpk_free(c, m->cvt[0]);
    lpk_free(c, m->cvt[1]);
    lpk_free(c, m->lnf_16);
    lpk_free(c, m->g16);
    m->lnf_16 = m->g16 = NULL;
    m->g16_cap = 0;
    lpk_free(c, m->tokens);
    m->itok = m->pos = m->start = m->pre = NULL;
    m->packed = m->prefixed = 0;
    m->io[0] = m->io[1] = m->io[2] = NULL;
    m->act_bytes = 0;
    m->emb = m->lnf = m->lnf_mean = m->lnf_rstd = NULL;
    m->dres = m->dbig = m->dqkv = m->dsmall = m->dvalues = NULL;
    m->cvt[0] = m->cvt[1] = NULL;
    m->tokens = NULL;
    m->cap_tokens = 0;
    m->cvt_cap = 0;
}

void lp_model_destroy(lp_model *m) {
    if (!m) return;
    free_acts(m);
    lpk_free(m->ctx, m->logits);
    lpk_free(m->ctx, m->wte_gt);
    lpk_free(m->ctx, m->head16);
    lpk_free(m->ctx, m->data);
    lpk_free(m->ctx, m->grad);
    lpk_free(m->ctx, m->data_bf16);
    free(m->la);
    free(m->params);
    free(m->names);
    free(m);
}

/* Carves n floats from a block, keeping 64-byte alignment. */
static float *carve(float **cur, size_t n) {
    float *p = *cur;
    *cur += (n + 15) & ~(size_t)15;
    return p;
}

int lp_model_reserve(lp_model *m, size_t N) {
    if (N <= m->cap_tokens) return 0;
    /* grow by half again so growing sequences (generation, PPO) do not
     * reallocate on every call */
    if (m->cap_tokens && N < m->cap_tokens + m->cap_tokens / 2) N = m->cap_tokens + m->cap_tokens / 2;
    free_acts(m);
    const size_t C = (size_t)m->cfg.n_embd, H = (size_t)m->cfg.n_head;
    size_t per = 0;
    /* ln1, mean, rstd, qkv, att, lse, mid, ln2, mean, rstd, fc, gelu, out */
    size_t sz[] = {N * C, N, N, 3 * N * C, N * C, N * H, N * C, N * C, N, N, 4 * N * C, 4 * N * C, N * C};
    for (size_t i = 0; i < sizeof sz / sizeof *sz; i++) per += (sz[i] + 15) & ~(size_t)15;
    size_t bytes = 0;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        layer_acts *a = &m->la[l];
        if (m->frozen && l > 0) {
            /* in place: a block's output may overwrite its input, which
             * it no longer reads once the attention residual is summed */
            *a = m->la[0];
            continue;
        }
        float *cur = lpk_alloc(m->ctx, per * sizeof(float));
        if (!cur) goto oom;
        bytes += per * sizeof(float);
        a->ln1 = carve(&cur, N * C);
        a->ln1_mean = carve(&cur, N);
        a->ln1_rstd = carve(&cur, N);
        a->qkv = carve(&cur, 3 * N * C);
        a->att = carve(&cur, N * C);
        a->lse = carve(&cur, N * H);
        a->mid = carve(&cur, N * C);
        a->ln2 = carve(&cur, N * C);
        a->ln2_mean = carve(&cur, N);
        a->ln2_rstd = carve(&cur, N);
        a->fc = carve(&cur, 4 * N * C);
        a->gelu = carve(&cur, 4 * N * C);
        a->out = carve(&cur, N * C);
        if (m->bf16) {
            /* bf16 halves: carve in float units of half the count */
            lpk_bf16 *h = lpk_alloc(m->ctx, (7 * N * C + 64) * sizeof(lpk_bf16));
            if (!h) goto oom;
            bytes += (7 * N * C + 64) * sizeof(lpk_bf16);
            a->ln1_16 = h;
            a->att_16 = h + N * C;
            a->ln2_16 = h + 2 * N * C;
            a->gelu_16 = h + 3 * N * C;
        }
    }
    if (m->bf16) {
        m->lnf_16 = lpk_alloc(m->ctx, (N * C + 64) * sizeof(lpk_bf16));
        if (!m->lnf_16) goto oom;
        bytes += (N * C + 64) * sizeof(lpk_bf16);
    }
    /* emb, lnf [N,C]; mean, rstd, dvalues, io[0..2] [N] */
    const size_t NC16 = (N * C + 15) & ~(size_t)15, N16 = (N + 15) & ~(size_t)15;
    size_t top = 2 * NC16 + 6 * N16;
    float *cur = lpk_alloc(m->ctx, top * sizeof(float));
    if (!cur) goto oom;
    bytes += top * sizeof(float);
    m->emb = carve(&cur, N * C);
    m->lnf = carve(&cur, N * C);
    m->lnf_mean = carve(&cur, N);
    m->lnf_rstd = carve(&cur, N);
    m->dvalues = carve(&cur, N);
    for (int k = 0; k < 3; k++) m->io[k] = carve(&cur, N);
    if (!m->frozen) {
        /* backward scratch: dres [N,C], dbig [N,4C], dqkv [N,3C], dsmall [N,C] */
        size_t bw = 9 * N * C + 64;
        cur = lpk_alloc(m->ctx, bw * sizeof(float));
        if (!cur) goto oom;
        bytes += bw * sizeof(float);
        m->dres = carve(&cur, N * C);
        m->dbig = carve(&cur, 4 * N * C);
        m->dqkv = carve(&cur, 3 * N * C);
        m->dsmall = carve(&cur, N * C);
    }
    /* tokens, itok, pos, start, pre (B <= N rows) */
    m->tokens = lpk_alloc(m->ctx, 5 * N16 * sizeof(int32_t));
    if (!m->tokens) goto oom;
    m->itok = m->tokens + N16;
    m->pos = m->tokens + 2 * N16;
    m->start = m->tokens + 3 * N16;
    m->pre = m->tokens + 4 * N16;
    bytes += 5 * N16 * sizeof(int32_t);
    m->act_bytes = bytes;
    m->cap_tokens = N;
    m->dvalues_pending = 0;
    m->logits_state = 0;
    return 0;
oom:
    free_acts(m);
    lp_model_set_error(m, "model: out of memory for activations of %zu tokens", N);
    return -1;
}

int lp_model_reserve_logits(lp_model *m, size_t N) {
    size_t need = N * (size_t)m->cfg.vocab_size;
    if (need <= m->logits_cap) return 0;
    if (m->logits_cap && need < m->logits_cap + m->logits_cap / 2) need = m->logits_cap + m->logits_cap / 2;
    lpk_free(m->ctx, m->logits);
    m->logits = lpk_alloc(m->ctx, need * sizeof(float));
    if (!m->logits) {
        m->logits_cap = 0;
        lp_model_set_error(m, "model: out of memory for logits of %zu tokens", N);
        return -1;
    }
    m->logits_cap = need;
    return 0;
}

int lp_model_sync_bf16(lp_model *m) {
    if (!m->bf16 || !m->bf16_stale) return 0;
    LPK_CHECK(m, lpk_f32_to_bf16(m->ctx, m->data, m->data_bf16, m->flat));
    m->bf16_stale = m->wte16_stale = 0;
    return 0;
}

const lpk_bf16 *lp_model_wte16(lp_model *m) {
    if (lp_model_sync_bf16(m)) return NULL;
    const lp_param *p = &m->params[m->p_wte];
    lpk_bf16 *w = m->data_bf16 + (p->data - m->data);
    if (m->wte16_stale) LPK_CHECK_NULL(m, lpk_f32_to_bf16(m->ctx, p->data, w, p->numel));
    m->wte16_stale = 0;
    return w;
}

lpk_bf16 *lp_model_g16(lp_model *m, size_t n) {
    if (n <= m->g16_cap) return m->g16;
    lpk_free(m->ctx, m->g16);
    m->g16 = lpk_alloc(m->ctx, n * sizeof(lpk_bf16));
    m->g16_cap = m->g16 ? n : 0;
    if (!m->g16) lp_model_set_error(m, "model: out of memory for bf16 gradient staging");
    return m->g16;
}

static int ensure_cvt(lp_model *m, size_t n) {
    if (n <= m->cvt_cap) return 0;
    lpk_free(m->ctx, m->cvt[0]);
    lpk_free(m->ctx, m->cvt[1]);
    m->cvt[0] = lpk_alloc(m->ctx, n * sizeof(lpk_bf16));
    m->cvt[1] = lpk_alloc(m->ctx, n * sizeof(lpk_bf16));
    if (!m->cvt[0] || !m->cvt[1]) {
        lpk_free(m->ctx, m->cvt[0]);
        lpk_free(m->ctx, m->cvt[1]);
        m->cvt[0] = m->cvt[1] = NULL;
        m->cvt_cap = 0;
        lp_model_set_error(m, "model: out of memory for bf16 staging");
        return -1;
    }
    m->cvt_cap = n;
    return 0;
}

int lp_mm(lp_model *m, lpk_trans ta, lpk_trans tb, int M, int N, int K, const float *A, const lpk_bf16 *A16,
          int lda, const float *B, const lpk_bf16 *B16, int ldb, float beta, float *C, int ldc) {
    int r;
    if (!m->bf16) {
        r = lpk_gemm(m->ctx, ta, tb, M, N, K, 1.0f, LPK_F32, A, lda, B, ldb, beta, C, ldc);
    } else {
        /* operands are contiguous: rows*ld elements */
        size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb;
        const lpk_bf16 *a16 = A16, *b16 = B16;
        if ((!a16 || !b16) && ensure_cvt(m, na > nb ? na : nb)) return -1;
        if (!a16) {
            LPK_CHECK(m, lpk_f32_to_bf16(m->ctx, A, m->cvt[0], na));
            a16 = m->cvt[0];
        }
        if (!b16) {
            LPK_CHECK(m, lpk_f32_to_bf16(m->ctx, B, m->cvt[1], nb));
            b16 = m->cvt[1];
        }
        r = lpk_gemm(m->ctx, ta, tb, M, N, K, 1.0f, LPK_BF16, a16, lda, b16, ldb, beta, C, ldc);
    }
    if (r) lp_model_set_error(m, "model: %s", lpk_ctx_error(m->ctx));
    return r;
}

int lp_mm_bias(lp_model *m, int M, int N, int K, const float *A, const lpk_bf16 *A16, const float *W,
               const lpk_bf16 *W16, const float *bias, float *C) {
    int r;
    if (!m->bf16) {
        r = lpk_gemm_bias(m->ctx, LPK_NOTRANS, LPK_NOTRANS, M, N, K, LPK_F32, A, K, W, N, bias, 0.0f, C, N);
    } else {
        if (!A16) {
            if (ensure_cvt(m, (size_t)M * K)) return -1;
            LPK_CHECK(m, lpk_f32_to_bf16(m->ctx, A, m->cvt[0], (size_t)M * K));
            A16 = m->cvt[0];
        }
        r = lpk_gemm_bias(m->ctx, LPK_NOTRANS, LPK_NOTRANS, M, N, K, LPK_BF16, A16, K, W16, N, bias, 0.0f, C,
                          N);
    }
    if (r) lp_model_set_error(m, "model: %s", lpk_ctx_error(m->ctx));
    return r;
}

/* The weights are drawn on the host, in the enumeration order, and copied
 * in one tensor at a time: the same numbers on every backend. */
int lp_model_init_gpt2(lp_model *m, uint64_t seed) {
    lp_model_begin(m);
    lp_rng rng;
    lp_rng_seed(&rng, seed);
    const float std = 0.02f;
    const float pstd = 0.02f / sqrtf(2.0f * (float)m->cfg.n_layer);
    size_t most = 0;
    for (int i = 0; i < m->nparams; i++) most = m->params[i].numel > most ? m->params[i].numel : most;
    float *host = malloc(most * sizeof *host);
    if (!host) {
        lp_model_set_error(m, "model init: out of memory");
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < m->nparams && !rc; i++) {
        lp_param *p = &m->params[i];
        size_t len = strlen(p->name);
        int is_ln = strstr(p->name, "ln_") != NULL;
        int is_bias = len > 5 && !strcmp(p->name + len - 5, ".bias");
        int is_proj = len >= 13 && !strcmp(p->name + len - 13, "c_proj.weight");
        float s = is_proj ? pstd : std;
        for (size_t k = 0; k < p->numel; k++)
            host[k] = is_bias ? 0.0f : is_ln ? 1.0f : s * (float)lp_rng_normal(&rng);
        rc = lp_model_param_write(m, i, host);
    }
    free(host);
    return rc;
}

int lp_model_init_scalar_head(lp_model *m, float std, uint64_t seed) {
    lp_model_begin(m);
    if (m->p_score < 0) {
        lp_model_set_error(m,
                           "model init scalar head: this model has no scalar head (config scalar_head = 0)");
        return -1;
    }
    if (!(std > 0.0f)) std = 1.0f / sqrtf((float)m->cfg.n_embd + 1.0f);
    const lp_param *p = &m->params[m->p_score];
    float *host = malloc(p->numel * sizeof *host);
    if (!host) {
        lp_model_set_error(m, "model init scalar head: out of memory");
        return -1;
    }
    lp_rng rng;
    lp_rng_seed(&rng, seed);
    for (size_t k = 0; k < p->numel; k++) host[k] = std * (float)lp_rng_normal(&rng);
    int rc = lp_model_param_write(m, m->p_score, host);
    free(host);
    return rc;
}

void lp_model_zero_grad(lp_model *m) { m->grad_zero = m->grad != NULL; }

float *lp_model_grads(lp_model *m) {
    if (lp_model_need_trainable(m, "gradients")) return NULL;
    if (m->grad_zero) LPK_CHECK_NULL(m, lpk_fill(m->ctx, m->grad, 0.0f, m->flat));
    m->grad_zero = 0;
    return m->grad;
}

double lp_model_grad_norm(lp_model *m) {
    lp_model_begin(m);
    float *g = lp_model_grads(m);
    if (!g) return NAN;
    /* padding between tensors is always zero, so the flat sum is exact */
    double ss = lpk_sumsq(m->ctx, g, m->flat);
    /* NaN with a message is a kernel failure (the call cleared the
     * context's error), NaN without one non-finite gradients */
    if (isnan(ss) && lpk_ctx_error(m->ctx)[0])
        lp_model_set_error(m, "model grad norm: %s", lpk_ctx_error(m->ctx));
    return sqrt(ss);
}

float lp_model_clip_coef(lp_model *m, double max_norm, double *norm) {
    double n = lp_model_grad_norm(m);
    if (norm) *norm = n;
    double coef = max_norm / (n + 1e-6);
    return coef < 1.0 ? (float)coef : 1.0f;
}

double lp_model_clip_grad_norm(lp_model *m, double max_norm) {
    double n = lp_model_grad_norm(m);
    double coef = max_norm / (n + 1e-6);
    if (coef < 1.0 && lpk_scale(m->ctx, m->grad, (float)coef, m->flat)) {
        lp_model_set_error(m, "model clip: %s", lpk_ctx_error(m->ctx));
        return NAN;
    }
    return n;
}
