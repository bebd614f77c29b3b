/* The GPT-2 style decoder every stage trains: learned positions, pre-LN
 * blocks, tanh-GELU MLP, LM head tied to the token embedding, and an optional
 * scalar head (reward / critic) on the same trunk.
 *
 * Typical training micro-step:
 *     lp_model_forward(m, tokens, B, T);
 *     lp_model_lm_loss(m, targets, weights, 0, NULL, &loss);   // or other heads
 *     lp_model_backward(m);               // grads accumulate until zero_grad
 * Heads record their upstream gradient ("pending"); lp_model_backward consumes
 * all pending head gradients in one pass through the trunk.
 *
 * Parameters live in one flat fp32 buffer (master weights in bf16 mode too)
 * and are enumerated with Hugging Face GPT2LMHeadModel names and layouts
 * (Conv1D weights stored [in, out]; the LM head is transformer.wte.weight;
 * the scalar head is score.weight [1, n_embd] as in GPT2ForSequenceClassification).
 *
 * Host and device: the parameters, gradients, activations and logits live in
 * memory of the kernel context (lpk_alloc), which on a device backend the
 * host cannot read. Only kernels dereference it: lp_param.data / .grad,
 * lp_model_logits and lp_model_hidden are device pointers, to hand to lpk_*
 * calls. Code on the host reads and writes through copies
 * (lp_model_param_read / _write, lp_model_grad_read, lp_model_logits_copy,
 * lp_model_hidden_copy). Every other pointer argument of this header is host
 * memory (tokens, targets, weights, per-token and value outputs, the logits
 * of prefill / decode_step).
 *
 * All functions returning int give 0 on success, <0 on error with a one-line
 * message in lp_model_error(); every call clears the message of an earlier
 * one on entry. */
#ifndef LLMPIPE_MODEL_H
#define LLMPIPE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <lpk/kernels.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lp_model_config {
    int n_layer;
    int n_head;
    int n_embd;
    int vocab_size;
    int n_ctx;       /* maximum sequence length (position table size) */
    int scalar_head; /* 1: add score.weight (reward model / critic) */
    float ln_eps;    /* 0 means 1e-5 */
} lp_model_config;

typedef struct lp_param {
    const char *name; /* e.g. "transformer.h.0.attn.c_attn.weight" */
    int ndim;         /* 1 or 2 */
    int64_t shape[2];
    size_t numel;
    float *data; /* fp32 master weights (device memory) */
    float *grad; /* device memory; NULL in a frozen model */
    int decay;   /* 1: weight decay applies (matrices, not embeddings) */
} lp_param;

typedef struct lp_model lp_model;

/* The model keeps ctx (not owned); ctx precision selects fp32 or bf16 mixed. */
lp_model *lp_model_create(const lp_model_config *cfg, lpk_ctx *ctx, char *err, size_t errlen);
/* A frozen model (a reference or reward model that is only evaluated): no
 * gradient buffers, and the forward keeps no per-layer activations (all
 * blocks run in one set of buffers, so activation memory does not grow with
 * n_layer). Its outputs equal a trainable model's bit for bit; backward,
 * the gradient functions and the optimizer refuse it. */
lp_model *lp_model_create_frozen(const lp_model_config *cfg, lpk_ctx *ctx, char *err, size_t errlen);
int lp_model_is_frozen(const lp_model *m);
void lp_model_destroy(lp_model *m);

/* Device memory the model holds now, in bytes. weights: fp32 master weights
 * plus their bf16 copies; grads: gradients (0 when frozen); activations:
 * everything sized by the batch (activations, logits, staging, scratch). */
typedef struct lp_model_memory {
    size_t weights, grads, activations;
} lp_model_memory;
void lp_model_memory_usage(const lp_model *m, lp_model_memory *out);
const char *lp_model_error(const lp_model *m);
const lp_model_config *lp_model_get_config(const lp_model *m);
lpk_ctx *lp_model_ctx(const lp_model *m);

/* GPT-2 initialisation: N(0, 0.02) weights, residual projections (c_proj)
 * N(0, 0.02/sqrt(2*n_layer)), zero biases, unit LayerNorm gains. */
int lp_model_init_gpt2(lp_model *m, uint64_t seed);
/* The scalar head alone: N(0, std^2) from seed; std <= 0 means
 * 1/sqrt(n_embd + 1) (variance 1/(n_embd+1), as OpenAI's reward heads).
 * The head has no bias. Error when the model has no scalar head. */
int lp_model_init_scalar_head(lp_model *m, float std, uint64_t seed);

int lp_model_num_params(const lp_model *m);
const lp_param *lp_model_param(const lp_model *m, int i);
const lp_param *lp_model_find_param(const lp_model *m, const char *name);
size_t lp_model_numel(const lp_model *m);
/* Call after writing parameters in device memory by other means than
 * lp_model_param_write (kernels, the optimizer). */
void lp_model_params_changed(lp_model *m);
/* Parameter i (enumeration order) copied to or from host[numel]. */
int lp_model_param_read(lp_model *m, int i, float *host);
int lp_model_param_write(lp_model *m, int i, const float *host);
/* Gradient of parameter i into host[numel] (zeros after zero_grad). */
int lp_model_grad_read(lp_model *m, int i, float *host);

/* Trunk forward for tokens[B*T]; keeps activations for backward. Allocation
 * happens only when B*T grows. */
int lp_model_forward(lp_model *m, const int32_t *tokens, int B, int T);
/* The same for rows of packed examples (supervised fine-tuning):
 * seg[B*T] (host memory) numbers the examples within each row; a segment
 * starts at a row's first token and wherever seg[i] != seg[i-1]. Positions
 * restart at 0 at each segment start and each token attends only to the
 * tokens of its own segment up to itself, so every example computes what
 * it would alone. Padding is one more segment (seg -1 by convention; its
 * outputs are for the loss to ignore). T may exceed n_ctx; a segment
 * longer than n_ctx is an error. seg == NULL is exactly lp_model_forward.
 * The heads and lp_model_backward work on it unchanged (the backward
 * gives the packed forward's gradients).
 * Shared prefix: a row may start with tokens of seg LP_SEG_SHARED (its
 * prefix, P of them: causal among themselves, positions 0..P-1); every
 * later segment of the row then sees the prefix before itself, with
 * positions continuing at P, so each computes what it would alone behind
 * the prefix, and the backward sums into the prefix's activations the
 * gradients of every segment that saw it. Shared tokens anywhere but at a
 * row's start are an error. */
#define LP_SEG_SHARED (-2)
int lp_model_forward_packed(lp_model *m, const int32_t *tokens, const int32_t *seg, int B, int T);
/* Final LayerNorm output [B, T, n_embd] of the last forward (device
 * memory; lp_model_hidden_copy for the host). */
const float *lp_model_hidden(const lp_model *m);
int lp_model_hidden_copy(lp_model *m, float *host);
/* LM head logits [B, T, vocab] in device memory; NULL on error. Valid until
 * the next loss / log-prob backward (which reuses the buffer for the
 * gradient). lp_model_logits_copy computes them if needed and copies them
 * into host[B*T*vocab]. */
const float *lp_model_logits(lp_model *m);
int lp_model_logits_copy(lp_model *m, float *host);

/* Cross-entropy of the LM head against targets[B*T] (< 0: ignored) with
 * per-token weights (NULL: 1). loss = sum(w * nll) / norm, norm <= 0 meaning
 * sum(w over counted tokens). per_token (optional, [B*T]) gets each token's
 * unweighted nll. Records dloss/dlogits for lp_model_backward. */
int lp_model_lm_loss(lp_model *m, const int32_t *targets, const float *weights, double norm, float *per_token,
                     double *loss);

/* Log-probability and entropy of tokens[B*T] under softmax(logits / temp);
 * either output may be NULL. */
int lp_model_logprobs(lp_model *m, const int32_t *tokens, float temp, float *logp, float *entropy);
/* Records the upstream gradient d(objective)/d(logp) and d/d(entropy) (either
 * may be NULL) for lp_model_backward. */
int lp_model_logprobs_grad(lp_model *m, const int32_t *tokens, float temp, const float *dlogp,
                           const float *dentropy);

/* Scalar head at every position: out[B*T] (critic values). */
int lp_model_values(lp_model *m, float *out);
/* Adds dvalues[B*T] to the pending scalar-head gradient. */
int lp_model_values_grad(lp_model *m, const float *dvalues);
/* Scalar head at the last real token of each sequence (index lengths[b]-1,
 * the rest being padding): out[B] (reward). */
int lp_model_scalar_last(lp_model *m, const int32_t *lengths, float *out);
int lp_model_scalar_last_grad(lp_model *m, const int32_t *lengths, const float *dout);

/* Backpropagates all pending head gradients; adds into parameter grads. */
int lp_model_backward(lp_model *m);
/* Marks the gradients zero. Lazily: the next backward writes its gradients
 * instead of adding to them, and any reader before that (lp_model_param,
 * the norm and clipping functions, the optimizer) gets them zeroed first,
 * so the effect is the same as an immediate fill without its memory pass. */
void lp_model_zero_grad(lp_model *m);
double lp_model_grad_norm(lp_model *m);
/* torch.nn.utils.clip_grad_norm_: scales grads by max/(norm+1e-6) when that
 * is < 1. Returns the norm before clipping. */
double lp_model_clip_grad_norm(lp_model *m, double max_norm);
/* The same clipping without touching the gradients: returns the factor
 * (<= 1) to pass as grad_scale to lp_adamw_step, which applies it while it
 * reads the gradients anyway (saves a pass over them). *norm (optional)
 * receives the norm before clipping. */
float lp_model_clip_coef(lp_model *m, double max_norm, double *norm);

/* ---- inference with a KV cache ------------------------------------------ */
typedef struct lp_kv_cache lp_kv_cache;

lp_kv_cache *lp_kv_cache_create(lp_model *m, int batch, int max_len);
void lp_kv_cache_destroy(lp_kv_cache *c);
/* Current length of sequence b. */
int lp_kv_cache_len(const lp_kv_cache *c, int b);

/* Fills the cache with prompts of different lengths (tokens row-major with
 * stride max_prompt, lens[b] >= 1) and writes each row's next-token logits
 * to logits[B, vocab] (rows not active are left unspecified). Replaces whatever the cache held. Uses (and so
 * invalidates) the training activations. */
int lp_model_prefill(lp_model *m, lp_kv_cache *c, const int32_t *tokens, const int32_t *lens, int max_prompt,
                     float *logits);
/* Appends tokens[b] to every sequence with active[b] != 0 (NULL: all) and
 * writes their next-token logits to logits[B, vocab] (rows not active are left unspecified). */
int lp_model_decode_step(lp_model *m, lp_kv_cache *c, const int32_t *tokens, const uint8_t *active,
                         float *logits);

#ifdef __cplusplus
}
#endif
#endif
