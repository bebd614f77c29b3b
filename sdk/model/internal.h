/* Private layout of lp_model, shared by the model's source files. */
#ifndef LP_MODEL_INTERNAL_H
#define LP_MODEL_INTERNAL_H

#include <llmpipe/model.h>

enum {
    LW_LN1W,
    LW_LN1B,
    LW_QKVW,
    LW_QKVB,
    LW_PROJW,
    LW_PROJB,
    LW_LN2W,
    LW_LN2B,
    LW_FCW,
    LW_FCB,
    LW_FPW,
    LW_FPB,
    LW_COUNT
};

typedef struct layer_acts {
    float *ln1, *ln1_mean, *ln1_rstd;
    float *qkv, *att, *lse;
    float *mid; /* residual after attention */
    float *ln2, *ln2_mean, *ln2_rstd;
    float *fc, *gelu;
    float *out; /* residual after MLP */
    /* bf16 mode: the GEMM operands above, rounded once in the forward and
     * reused by the backward's weight-gradient GEMMs */
    lpk_bf16 *ln1_16, *att_16, *ln2_16, *gelu_16;
} layer_acts;

struct lp_model {
    lp_model_config cfg;
    lpk_ctx *ctx;
    int bf16;
    /* no gradients and no activations kept for backward: every layer's
     * forward runs in one shared set of buffers (reference / reward model) */
    int frozen;
    char err[256];

    int nparams;
    lp_param *params;
    char *names;        /* storage for all parameter names */
    float *data, *grad; /* flat, 64-byte aligned per tensor */
    size_t flat, numel;
    size_t decay_end;    /* decayed tensors occupy [0, decay_end) */
    lpk_bf16 *data_bf16; /* GEMM copy of the weights in bf16 mode */
    /* lp_model_zero_grad only sets this: the next backward writes its
     * gradients instead of adding them (the weight-gradient GEMMs with
     * beta 0), which saves a pass over all gradients (500 MB for GPT-2
     * 124M) and the GEMMs' read of C; whoever reads the gradients before
     * that backward gets them zeroed first (lp_model_grads). */
    int grad_zero;
    int bf16_stale;

    /* parameter index of tensors */
    int p_wte, p_wpe, p_lnfw, p_lnfb, p_score;
    int p_layer0; /* LW_COUNT tensors per layer from here */

    /* activations, sized for cap_tokens = B*T; all device memory */
    int B, T;
    size_t cap_tokens;
    int32_t *tokens; /* the last forward's tokens [BT] */
    int32_t *itok;   /* staging for targets / tokens of a head [BT] */
    /* packed forward (lp_model_forward_packed): each token's position and
     * the first token of its segment (the attention's start), [BT] each,
     * and each row's shared prefix length [B] (pre, used when prefixed);
     * read by the backward while packed is set */
    int32_t *pos, *start, *pre;
    int packed, prefixed;
    float *io[3];     /* staging for head inputs and outputs, [BT] each */
    size_t act_bytes; /* what lp_model_reserve allocated */
    float *emb;
    layer_acts *la;
    float *lnf, *lnf_mean, *lnf_rstd;
    float *logits; /* [BT, V] allocated on first use */
    size_t logits_cap;
    int logits_state; /* 0 invalid, 1 logits, 2 dlogits pending in
                                 logits, 3 bf16 dlogits pending in g16 (the
                                 logits stay valid) */
    float *dvalues;   /* pending scalar-head gradient [BT] */
    int dvalues_pending;
    /* backward scratch */
    float *dres, *dbig, *dqkv, *dsmall;
    lpk_bf16 *cvt[2]; /* bf16 operand staging */
    size_t cvt_cap;
    lpk_bf16 *lnf_16; /* bf16 final hidden states */
    lpk_bf16 *g16;    /* bf16 copy of the gradient being propagated */
    size_t g16_cap;
    float *wte_gt; /* LM-head weight gradient, transposed [C, V] */
    /* bf16 mode: the LM head's weight transposed, [C, V]; AdamW writes it,
     * any other weight change has it rebuilt on the next forward
     * (head16_stale). With it the head's forward
     * and input-gradient GEMMs run in oneDNN's fast orientations
     * (measured V = 50257, C = 384, 2048 tokens: input gradient 213 -> 189 ms) */
    lpk_bf16 *head16;
    int head16_stale;
    int wte16_stale; /* the optimizer skipped wte's [V, C] bf16 copy */
};

static inline float *P(lp_model *m, int i) { return m->params[i].data; }
static inline float *G(lp_model *m, int i) { return m->params[i].grad; }
static inline int LP(const lp_model *m, int l, int k) { return m->p_layer0 + l * LW_COUNT + k; }

void lp_model_set_error(lp_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Entry of a public call: the error of an earlier call is not this one's. */
static inline void lp_model_begin(lp_model *m) { m->err[0] = 0; }

/* A checked kernel call: on a non-zero return the model's error names the
 * kernel context's message and the call site, and the caller returns -1.
 * lpk_ctx_error is read only here, right after a failed call, so a stale
 * context message from an earlier, handled failure is never reported. */
#define LPK_CHECK(m, call)                                                                             \
    do {                                                                                               \
        if ((call) != 0) {                                                                             \
            lp_model_set_error((m), "model: %s (%s:%d)", lpk_ctx_error((m)->ctx), __FILE__, __LINE__); \
            return -1;                                                                                 \
        }                                                                                              \
    } while (0)
/* The same for functions returning a pointer. */
#define LPK_CHECK_NULL(m, call)                                                                        \
    do {                                                                                               \
        if ((call) != 0) {                                                                             \
            lp_model_set_error((m), "model: %s (%s:%d)", lpk_ctx_error((m)->ctx), __FILE__, __LINE__); \
            return NULL;                                                                               \
        }                                                                                              \
    } while (0)
#define TRY(x)                   \
    do {                         \
        if ((x) != 0) return -1; \
    } while (0)

/* Refuses gradient work on a frozen model. */
int lp_model_need_trainable(lp_model *m, const char *what);
int lp_model_reserve(lp_model *m, size_t tokens);
int lp_model_reserve_logits(lp_model *m, size_t tokens);
int lp_model_sync_bf16(lp_model *m);
/* The gradients, zeroed first if a zero_grad is still pending. */
float *lp_model_grads(lp_model *m);
/* Flat storage for the optimizer: n elements, decayed ones in [0, decay_end);
 * padding between tensors is always zero. */
static inline float *lp_model_flat(lp_model *m, float **grad, lpk_bf16 **p16, size_t *n, size_t *decay_end) {
    *grad = lp_model_grads(m);
    *p16 = m->bf16 ? m->data_bf16 : NULL;
    *n = m->flat;
    *decay_end = m->decay_end;
    return m->data;
}
/* Called by the optimizer after it wrote every weight's bf16 copy; with
 * head_written it wrote the transposed LM head (lp_model_head_update) too,
 * and the [V, C] bf16 copy of wte is stale (lp_model_wte16 remakes it for
 * decoding). */
void lp_model_bf16_synced(lp_model *m, int head_written);
/* Where the optimizer can write the transposed bf16 LM head: wte's offset
 * in the flat storage, its rows (V) and columns (C); NULL when there is
 * no head copy yet (fp32, or no logits computed so far). */
static inline lpk_bf16 *lp_model_head_update(lp_model *m, size_t *off, int *rows, int *cols) {
    if (!m->bf16 || !m->head16) return NULL;
    *off = (size_t)(m->params[m->p_wte].data - m->data);
    *rows = m->cfg.vocab_size;
    *cols = m->cfg.n_embd;
    return m->head16;
}
/* The transposed bf16 LM head [C, V], made from wte if stale (bf16 mode). */
lpk_bf16 *lp_model_head16(lp_model *m);
/* wte's [V, C] bf16 copy, remade if the optimizer skipped it (bf16 mode):
 * decoding a few rows reads it faster than the transposed head (124M,
 * 4 rows: 190 against 155 tokens/s). */
const lpk_bf16 *lp_model_wte16(lp_model *m);

/* C[M,N] = op(A) . op(B) + beta C. In bf16 mode A16 / B16 are the operands'
 * bf16 copies when the caller has them (weights, stored activations), else
 * NULL and the operand is converted into a staging buffer. */
int lp_mm(lp_model *m, lpk_trans ta, lpk_trans tb, int M, int N, int K, const float *A, const lpk_bf16 *A16,
          int lda, const float *B, const lpk_bf16 *B16, int ldb, float beta, float *C, int ldc);
/* The same with bias[N] added to each row inside the GEMM. */
int lp_mm_bias(lp_model *m, int M, int N, int K, const float *A, const lpk_bf16 *A16, const float *W,
               const lpk_bf16 *W16, const float *bias, float *C);
/* bf16 copy of parameter i, NULL in fp32 mode */
static inline const lpk_bf16 *W16(lp_model *m, int i) {
    return m->bf16 ? m->data_bf16 + (m->params[i].data - m->data) : NULL;
}
/* Rounds x[n] into dst in bf16 mode and returns dst; NULL in fp32 mode. */
static inline const lpk_bf16 *to16(lp_model *m, lpk_bf16 *dst, const float *x, size_t n) {
    if (!m->bf16) return NULL;
    LPK_CHECK_NULL(m, lpk_f32_to_bf16(m->ctx, x, dst, n));
    return dst;
}
/* The gradient staging buffer, grown to n elements (bf16 mode). */
lpk_bf16 *lp_model_g16(lp_model *m, size_t n);

/* One block forward on n rows given the block's input; attention is full
 * causal over each row of T, or within segments after a packed forward
 * (m->packed) — decode paths do their own. */
int lp_block_forward(lp_model *m, int l, const float *x, int B, int T);
/* The trunk forward with a hook after each block (prefill copies the keys
 * and values there, since a frozen model keeps no block's activations
 * past the next block). */
typedef int (*lp_block_hook)(void *user, lp_model *m, int l);
int lp_model_forward_hook(lp_model *m, const int32_t *tokens, int B, int T, lp_block_hook hook, void *user);

#endif
