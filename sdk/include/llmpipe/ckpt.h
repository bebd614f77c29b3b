/* Checkpoints: safetensors files, Hugging Face GPT-2 model folders, the
 * trainer-state file, and in-stage checkpoint folders with rotation.
 *
 * A model folder is a Hugging Face model folder:
 *   model.safetensors  GPT2LMHeadModel names and layouts (Conv1D [in, out]),
 *                      lm_head.weight included (a copy of the tied wte);
 *   config.json        Hugging Face GPT-2 keys;
 *   tokenizer.json     when the caller has a tokenizer.
 * An in-stage checkpoint folder adds trainer.state (optimizer moments, step,
 * data-loader position, RNG) and checksums.json (SHA-256 of every file),
 * written last, then the folder is renamed into place: a folder without a
 * valid checksums.json is never used.
 *
 * Readers never trust a file: every offset, length, shape and dtype is
 * checked against the file size and the expected model before any read.
 *
 * int functions return 0 on success and -1 with a one-line message in err
 * (naming the file and what was expected). */
#ifndef LLMPIPE_CKPT_H
#define LLMPIPE_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- safetensors -------------------------------------------------------- */

typedef enum lp_st_dtype {
    LP_ST_F32 = 0,
    LP_ST_F16,
    LP_ST_BF16,
    LP_ST_F64,
    LP_ST_I64,
    LP_ST_I32,
    LP_ST_I16,
    LP_ST_I8,
    LP_ST_U8,
    LP_ST_BOOL
} lp_st_dtype;

#define LP_ST_MAX_DIMS 8

typedef struct lp_st_tensor {
    const char *name;
    lp_st_dtype dtype;
    int ndim;
    int64_t shape[LP_ST_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end; /* byte range inside the data section */
} lp_st_tensor;

typedef struct lp_safetensors lp_safetensors;

/* Opens and validates the whole header (see the refusal list in
 * docs/pretrain.md); nothing is read from the data section yet. */
int lp_st_open(lp_safetensors **out, const char *path, char *err, size_t errsz);
void lp_st_close(lp_safetensors *st);
size_t lp_st_count(const lp_safetensors *st);
const lp_st_tensor *lp_st_tensor_at(const lp_safetensors *st, size_t i);
const lp_st_tensor *lp_st_find(const lp_safetensors *st, const char *name);
/* Reads a float tensor (F32, F16 or BF16) converted to fp32 into out[n];
 * n must equal the tensor's element count. */
int lp_st_read_f32(lp_safetensors *st, const lp_st_tensor *t, float *out, size_t n, char *err, size_t errsz);

/* One fp32 tensor to write. */
typedef struct lp_st_entry {
    const char *name;
    int ndim;
    int64_t shape[LP_ST_MAX_DIMS];
    const float *data;
} lp_st_entry;

/* Writes F32 tensors (in the given order) and string metadata pairs
 * (meta[2i] = key, meta[2i+1] = value) atomically. sha256_hex (65 bytes, may
 * be NULL) receives the file's SHA-256. */
int lp_st_save(const char *path, const lp_st_entry *entries, size_t n, const char *const *meta, size_t n_meta,
               char *sha256_hex, char *err, size_t errsz);

/* ---- Hugging Face GPT-2 config.json ------------------------------------- */

/* Writes config.json for cfg (GPT2LMHeadModel, or
 * GPT2ForSequenceClassification with one label when cfg->scalar_head).
 * eot < 0 leaves bos/eos ids out. */
int lp_hf_config_save(const char *path, const lp_model_config *cfg, int eot, char *err, size_t errsz);
/* Reads a GPT-2 config.json; refuses settings this model cannot reproduce
 * (another activation, untied head, n_inner != 4 * n_embd, ...). */
int lp_hf_config_load(const char *path, lp_model_config *cfg, char *err, size_t errsz);

/* ---- model folders ------------------------------------------------------ */

/* What a model folder holds. */
typedef enum {
    /* LM when the model has no scalar head, else SEQ_CLS */
    LP_EXPORT_AUTO = 0,
    /* GPT2LMHeadModel (tied lm_head.weight). A scalar head (a policy's value
     * head) goes to dir/value_head.safetensors: one tensor score.weight
     * [1, n_embd], F32; lp_model_import reads it back, Hugging Face
     * loaders ignore it. */
    LP_EXPORT_LM = 1,
    /* GPT2ForSequenceClassification (a reward model): score.weight
     * [1, n_embd] in model.safetensors, no lm_head; config.json has
     * num_labels 1 and pad_token_id = eot. Needs a scalar head. */
    LP_EXPORT_SEQ_CLS = 2,
} lp_export_kind;
#define LP_VALUE_HEAD_FILE "value_head.safetensors"

/* Writes dir/model.safetensors and dir/config.json (dir must exist); copies
 * tokenizer_json (may be NULL) to dir/tokenizer.json. */
int lp_model_export_as(const lp_model *m, const char *dir, lp_export_kind kind, int eot,
                       const char *tokenizer_json, char *err, size_t errsz);
/* lp_model_export_as with LP_EXPORT_AUTO. */
int lp_model_export(const lp_model *m, const char *dir, int eot, const char *tokenizer_json, char *err,
                    size_t errsz);
/* Reads the config of a model folder (config.json). */
int lp_model_folder_config(const char *dir, lp_model_config *cfg, char *err, size_t errsz);
/* Loads dir/model.safetensors into m, whose config must match the file's
 * shapes. Accepts the Hugging Face names with or without the "transformer."
 * prefix (hub GPT-2 files have none), an absent or identical lm_head.weight,
 * and ignores the attention mask buffers (attn.bias, attn.masked_bias). */
int lp_model_import(lp_model *m, const char *dir, char *err, size_t errsz);

/* How import fills a scalar head the folder lacks. */
typedef struct lp_import_opts {
    float head_std; /* <= 0: 1/sqrt(n_embd + 1) */
    uint64_t head_seed;
} lp_import_opts;
/* lp_model_import for a model with a scalar head: score.weight from
 * model.safetensors (GPT2ForSequenceClassification), else from
 * dir/value_head.safetensors, else drawn N(0, head_std^2) with head_seed
 * (o NULL: the defaults, seed 0). Without a scalar head the same as
 * lp_model_import. */
int lp_model_import_ex(lp_model *m, const char *dir, const lp_import_opts *o, char *err, size_t errsz);
/* Same, from one safetensors file. */
int lp_model_load_safetensors(lp_model *m, const char *path, char *err, size_t errsz);

/* ---- trainer-state file --------------------------------------------------
 * "LPTRSTAT", u32 version, u32 reserved, then records (u16 name length,
 * name, u64 byte length, bytes), u64 record count, and the SHA-256 of all
 * that. Little-endian. Read whole and verified before any record is used. */
#define LP_STATE_MAGIC   "LPTRSTAT"
#define LP_STATE_VERSION 1

typedef struct lp_state_writer lp_state_writer;
/* Streams records into a temporary file next to path. */
int lp_state_writer_open(lp_state_writer **out, const char *path, char *err, size_t errsz);
int lp_state_put(lp_state_writer *w, const char *name, const void *data, size_t len);
int lp_state_put_f64(lp_state_writer *w, const char *name, double v);
int lp_state_put_i64(lp_state_writer *w, const char *name, int64_t v);
/* Appends the hash, syncs, renames into place; frees w in all cases.
 * sha256_hex (may be NULL) gets the file hash. */
int lp_state_writer_close(lp_state_writer *w, char *sha256_hex, char *err, size_t errsz);
void lp_state_writer_abort(lp_state_writer *w);

typedef struct lp_state lp_state;
int lp_state_load(lp_state **out, const char *path, char *err, size_t errsz);
void lp_state_free(lp_state *s);
/* NULL when absent. */
const void *lp_state_get(const lp_state *s, const char *name, size_t *len);
/* Copies a record that must be exactly len bytes long. */
int lp_state_read(const lp_state *s, const char *name, void *out, size_t len, char *err, size_t errsz);
int lp_state_get_f64(const lp_state *s, const char *name, double *v, char *err, size_t errsz);
int lp_state_get_i64(const lp_state *s, const char *name, int64_t *v, char *err, size_t errsz);

/* ---- in-stage checkpoint folders ---------------------------------------- */

/* parent/step-00000042.tmp → files written by the caller → lp_ckpt_commit
 * writes checksums.json, renames to parent/step-00000042 and removes all but
 * the newest keep_last folders (keep_last <= 0 keeps all). */
int lp_ckpt_begin(const char *parent, int64_t step, char *tmp_dir, size_t tmp_size, char *err, size_t errsz);
int lp_ckpt_commit(const char *parent, int64_t step, int keep_last, char *final_dir, size_t final_size,
                   char *err, size_t errsz);
/* Writes dir/checksums.json with the SHA-256 of every regular file in dir. */
int lp_ckpt_write_checksums(const char *dir, char *err, size_t errsz);
/* Verifies dir/checksums.json against the files. */
int lp_ckpt_verify(const char *dir, char *err, size_t errsz);
/* The newest folder under parent that verifies; its step in *step. Returns
 * 1 when found, 0 when none (older broken folders are skipped with a
 * warning in err), -1 on error. */
int lp_ckpt_latest(const char *parent, char *dir, size_t dir_size, int64_t *step, char *err, size_t errsz);
/* Removes every checkpoint folder (sealed or not) under parent: a fresh,
 * non-resumed run must never pick up an older run's state later. */
int lp_ckpt_clear(const char *parent);
/* Copies the regular files of src into dst (created). */
int lp_copy_dir_files(const char *src, const char *dst, char *err, size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
