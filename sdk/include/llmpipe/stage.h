/* What every stage plugin does around its own work, once: a kernel context
 * from the host's device, threads and a precision; its inputs recognised by
 * content; its model published as the stage's artifact; formatted logging;
 * the trainer parameters every training stage shares, their reading into
 * lp_trainer_opts, and the resume / stop handling of a resumable stage.
 *
 * Only SDK types appear here, so a third-party plugin builds against
 * sdk/include alone. Errors are one line, starting with "stage '<name>': ",
 * written into err; int functions return 0 on success and -1 on error. */
#ifndef LLMPIPE_STAGE_H
#define LLMPIPE_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/ckpt.h"
#include "llmpipe/error.h"
#include "llmpipe/eval.h"
#include "llmpipe/model.h"
#include "llmpipe/plugin.h"
#include "llmpipe/tokenizer.h"
#include "llmpipe/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Formats a message and logs it through the host. */
void lp_stage_logf(const lp_host_services *h, lp_log_level level, const char *fmt, ...) LP_PRINTF(3, 4);

/* ---- kernel context --------------------------------------------------- */

/* A kernel context on the host's device() ("cpu", "cuda") with its
 * threads() and precision "fp32" or "bf16". NULL with e.g.
 * "stage 'pretrain': device \"cuda\": <why>" when the backend cannot be
 * made (a build or machine without it), before any work started. */
lpk_ctx *lp_stage_kernel_ctx(const lp_host_services *h, const char *precision, char *err, size_t errsz);
/* The same from explicit settings, for tools outside a stage (llmpipe
 * eval): messages start with "<who>: ". device NULL or "" means "cpu";
 * threads <= 0 means the kernel library's default. */
lpk_ctx *lp_kernel_ctx_open(const char *who, const char *device, int threads, const char *precision,
                            char *err, size_t errsz);

/* ---- inputs by content ------------------------------------------------- */

typedef enum {
    LP_INPUT_DATA = 1,         /* a folder with train.bin (tokenize stage) */
    LP_INPUT_MODEL = 2,        /* model.safetensors + config.json, an LM */
    LP_INPUT_REWARD_MODEL = 4, /* the same with a scalar head: score.weight,
                                * or GPT2ForSequenceClassification */
} lp_input_kind;

typedef struct lp_stage_inputs {
    /* the folder of each kind, "" when no input was one */
    char data[4096];
    char model[4096];
    char reward_model[4096];
} lp_stage_inputs;

/* Fetches every input artifact (artifact_get) and classifies it. Each kind
 * in `required` must be present; `optional` ones may be; an input of any
 * other kind, of no kind, or a second input of one kind is an error naming
 * the input and what was expected. */
int lp_stage_find_inputs(const lp_host_services *h, unsigned required, unsigned optional, lp_stage_inputs *in,
                         char *err, size_t errsz);
/* The kind of one folder (0: none). */
lp_input_kind lp_stage_classify(const char *dir);

/* The tokenizer a stage reads: override when non-empty, else the first of
 * dirs[0..n) (empty strings skipped) that has tokenizer.json (its path) or
 * GPT-2 vocab.json + merges.txt (the folder, which lp_tokenizer_open
 * takes). */
int lp_stage_find_tokenizer(const lp_host_services *h, const char *override, const char *const *dirs, int n,
                            char *out, size_t outsz, char *err, size_t errsz);

/* ---- the starting model of a fine-tuning stage ---------------------------- */

typedef struct lp_stage_start {
    char dir[4096];      /* the model folder */
    char tok_path[4096]; /* where the tokenizer was read */
    char tok_json[4200]; /* <work_dir>/tokenizer.json, the copy outputs carry */
    lp_tokenizer *tok;   /* the caller destroys it */
    int eot;             /* end-of-text, which closes every response */
    lp_model_config cfg; /* the folder's config.json */
} lp_stage_start;

/* The input artifact of one of `kinds` (LP_INPUT_MODEL and / or
 * LP_INPUT_REWARD_MODEL, in that order of preference), else the folder
 * `fallback` (a stage's `model` parameter); its tokenizer (`tokenizer` when
 * non-empty), which must have end-of-text and fit the model's vocabulary,
 * saved to <work_dir>/tokenizer.json; and its config. The model itself is
 * the stage's to create (heads and import options differ). */
int lp_stage_open_start(const lp_host_services *h, unsigned kinds, const char *fallback,
                        const char *tokenizer, lp_stage_start *st, char *err, size_t errsz);

/* ---- output ------------------------------------------------------------- */

/* Exports m as a model folder <work_dir>/output (lp_model_export_as with
 * kind, eot and tokenizer_json) and publishes it with artifact_put. Nothing
 * when the stage has no output (output_name() is NULL). */
int lp_stage_publish_model(const lp_host_services *h, const lp_model *m, lp_export_kind kind, int eot,
                           const char *tokenizer_json, char *err, size_t errsz);

/* ---- samples -------------------------------------------------------------- */

typedef struct lp_stage_sample_opts {
    const char *const *prompts;
    size_t n_prompts;
    int max_tokens;    /* new tokens per sample (fewer when the context ends) */
    float temperature; /* 0: greedy */
    int top_k;         /* 0: off */
    int bos;           /* put before each prompt (a document start) and the
                          * stop token; -1: none */
} lp_stage_sample_opts;

/* One generated continuation per prompt, seeded by the run seed and step,
 * published as "step N: <prompt><text>" (invalid UTF-8 replaced) with
 * emit_text("sample") and the log. */
int lp_stage_emit_samples(const lp_host_services *h, lp_model *m, lp_tokenizer *tok,
                          const lp_stage_sample_opts *o, int64_t step, char *err, size_t errsz);

/* ---- held-out exact match ------------------------------------------------ */

/* lp_eval_run on tasks, published at step as "exact_match" and
 * "exact_match/<family>" metrics, the first `samples` answers logged as
 * `sample [family] instruction | input -> "answer" (right|wrong)`, and a
 * summary line; res gets the counts. */
int lp_stage_exact_match(const lp_host_services *h, lp_model *m, lp_tokenizer *tok, const lp_dataset *tasks,
                         const char *tasks_path, const lp_eval_opts *opts, int samples, int64_t step,
                         lp_eval_result *res, char *err, size_t errsz);

/* ---- shared trainer parameters ------------------------------------------
 * lr, min_lr, warmup_steps, weight_decay, beta1, beta2, grad_clip,
 * max_steps, eval_every, ckpt_every, keep_last, max_bad_steps, precision.
 * A stage builds its schema with lp_stage_schema: its own parameters
 * first, then the shared ones it did not list itself (a stage overrides a
 * default or a description by listing the key). */
extern const lp_param_spec lp_trainer_param_specs[];
extern const size_t lp_trainer_param_count;

/* own[0..n_own) then the shared specs not in own, into out[cap]. Returns the
 * count, 0 when cap is too small. */
size_t lp_stage_schema(const lp_param_spec *own, size_t n_own, lp_param_spec *out, size_t cap);

/* Reads the shared parameters into o (checked): the schedule (lr, min_lr,
 * warmup_steps, total = max_steps), AdamW, clip, max_steps, eval_every,
 * ckpt_every, keep_last, max_bad_steps, seed = the run seed, micro_steps 1,
 * eot -1; *precision (optional) gets the precision string. The rest of o is
 * zero. */
int lp_stage_trainer_opts(const lp_host_services *h, lp_trainer_opts *o, const char **precision, char *err,
                          size_t errsz);

/* <work_dir>/ckpt: where a stage's in-stage checkpoints go. */
void lp_stage_ckpt_dir(const lp_host_services *h, char *out, size_t outsz);

/* Before the first step: under `run --resume` restores the newest in-stage
 * checkpoint (logging when there is none yet), otherwise clears the
 * trainer's checkpoint folder so an older run's state is never picked up. */
int lp_stage_trainer_start(const lp_host_services *h, lp_trainer *t, const char *ckpt_dir, char *err,
                           size_t errsz);
/* lp_trainer_run; a stop on request becomes -1 with "stopped on request at
 * step N of M (checkpoint ...); `llmpipe run --resume` continues" (no
 * output, so the host keeps the stage resumable). */
int lp_stage_trainer_run(lp_trainer *t, char *err, size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
