/* Datasets for the four stages: token shards and a (B, T) window loader for
 * pretraining, Alpaca records for SFT, preference pairs and ranked lists for
 * the reward model, prompts for PPO.
 *
 * Errors: int functions return 0 on success and -1 on failure with a one-line
 * message in err; a malformed record reads "file:line:column: reason". */
#ifndef LLMPIPE_DATA_H
#define LLMPIPE_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "llmpipe/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- token shards ----
 * A 64-byte little-endian header, then the tokens:
 *   char magic[8] = "LPTOKSHD"; uint32 version = 1; uint32 bytes per token (2 or 4);
 *   uint64 token count; uint32 vocabulary size; int32 end-of-text id; 32 bytes zero. */
#define LP_SHARD_MAGIC       "LPTOKSHD"
#define LP_SHARD_VERSION     1
#define LP_SHARD_HEADER_SIZE 64

typedef struct lp_shard_writer lp_shard_writer;
/* Tokens are stored in 2 bytes when vocab_size <= 65536, else 4. The file
 * appears at path only when lp_shard_writer_close succeeds. */
int lp_shard_writer_create(lp_shard_writer **w, const char *path, int vocab_size, int32_t eot, char *err,
                           size_t errsz);
int lp_shard_writer_append(lp_shard_writer *w, const int32_t *ids, size_t n, char *err, size_t errsz);
/* Writes the header, syncs and renames into place; frees w in all cases. */
int lp_shard_writer_close(lp_shard_writer *w, char *err, size_t errsz);
/* Drops the partial file; frees w. */
void lp_shard_writer_abort(lp_shard_writer *w);

typedef struct lp_shard lp_shard; /* read-only, memory-mapped */
int lp_shard_open(lp_shard **s, const char *path, char *err, size_t errsz);
void lp_shard_close(lp_shard *s);
uint64_t lp_shard_count(const lp_shard *s);
int lp_shard_vocab_size(const lp_shard *s);
/* Copies tokens [off, off + n) into out; -1 when the range is outside. */
int lp_shard_read(const lp_shard *s, uint64_t off, size_t n, int32_t *out);

typedef struct lp_shard_build_opts {
    double val_fraction;      /* share of documents in val.bin (0 = none) */
    const char *doc_sep_line; /* a line equal to this ends a document (NULL: one file = one document) */
    uint64_t seed;            /* which documents go to validation */
} lp_shard_build_opts;

typedef struct lp_shard_build_stats {
    uint64_t bytes, docs[2], tokens[2]; /* [0] train, [1] validation */
} lp_shard_build_stats;

/* Tokenizes text files into out_dir/train.bin and out_dir/val.bin; every
 * document ends with end-of-text. */
int lp_shard_build(lp_tokenizer *t, const char *const *files, int nfiles, const char *out_dir,
                   const lp_shard_build_opts *opts, lp_shard_build_stats *stats, char *err, size_t errsz);

/* ---- (B, T) window loader ----
 * Each epoch visits every window of T + 1 tokens starting at a multiple of T
 * in each shard, in an order drawn from (seed, epoch). x gets tokens [0, T),
 * y tokens [1, T] of each window. */
typedef struct lp_loader lp_loader;
int lp_loader_create(lp_loader **l, const char *const *paths, int npaths, int B, int T, uint64_t seed,
                     int shuffle, char *err, size_t errsz);
void lp_loader_destroy(lp_loader *l);
/* Fills x and y (B * T each); crosses into the next epoch as needed. */
void lp_loader_next(lp_loader *l, int32_t *x, int32_t *y);
uint64_t lp_loader_windows(const lp_loader *l); /* per epoch */
uint64_t lp_loader_epoch(const lp_loader *l);

/* The exact position as bytes, for checkpoints. Restore refuses a state from
 * another seed, shape or dataset. */
#define LP_LOADER_STATE_SIZE 64
int lp_loader_state_save(const lp_loader *l, uint8_t state[LP_LOADER_STATE_SIZE]);
int lp_loader_state_restore(lp_loader *l, const uint8_t *state, size_t size, char *err, size_t errsz);

/* ---- records: SFT, preference pairs, ranked lists, prompts ----
 * Files are JSONL (one object a line, blank lines ignored) or one JSON array
 * of objects. Keys not listed here are ignored. */
typedef enum lp_data_kind {
    LP_DATA_SFT,     /* instruction, output (strings), input (string, optional) */
    LP_DATA_PREF,    /* prompt, chosen, rejected (strings), margin (number, optional) */
    LP_DATA_RANKED,  /* prompt, responses (array of K >= 2 strings, best first) */
    LP_DATA_PROMPTS, /* prompt; reference and family (strings, optional; for evaluation only) */
} lp_data_kind;

/* "sft", "pref", "ranked", "prompts" */
int lp_data_kind_parse(const char *name, lp_data_kind *kind);
const char *lp_data_kind_name(lp_data_kind kind);

typedef struct lp_record {
    int line;                                 /* where the record starts */
    const char *instruction, *input, *output; /* SFT (input "" when absent) */
    const char *prompt;                       /* the other kinds */
    const char *chosen, *rejected;            /* preference */
    double margin;
    int has_margin;
    const char *const *responses; /* ranked, best first */
    int k;
    const char *reference, *family; /* prompts (NULL when absent) */
} lp_record;

typedef struct lp_dataset lp_dataset;
/* skip_bad: a malformed record is skipped and counted instead of failing
 * (a JSON syntax error inside a JSON array still fails: nothing after it can
 * be trusted). */
int lp_dataset_load(lp_dataset **out, const char *path, lp_data_kind kind, int skip_bad, char *err,
                    size_t errsz);
void lp_dataset_destroy(lp_dataset *d);
size_t lp_dataset_count(const lp_dataset *d);
const lp_record *lp_dataset_get(const lp_dataset *d, size_t i);
size_t lp_dataset_skipped(const lp_dataset *d);
/* The message of the first skipped record ("" when none). */
const char *lp_dataset_first_skip(const lp_dataset *d);

/* ---- prompt template (SFT, and the prompts of the other stages) ----
 * {instruction} and {input} are replaced; no_input is used when input is "". */
typedef struct lp_prompt_template {
    const char *with_input, *no_input;
} lp_prompt_template;

const lp_prompt_template *lp_alpaca_template(void);
/* Both strings must contain {instruction}; with_input must contain {input}. */
int lp_template_check(const lp_prompt_template *tpl, char *err, size_t errsz);
/* malloc'ed rendered prompt (NULL on OOM). */
char *lp_render_prompt(const lp_prompt_template *tpl, const char *instruction, const char *input);

/* One tokenized example: prompt tokens (mask 0), then response and
 * end-of-text (mask 1). mask[i] says whether ids[i] is a training target. */
typedef struct lp_sft_tokens {
    int32_t *ids;
    uint8_t *mask;
    size_t n;
    int truncated;   /* cut to max_len */
    size_t prompt_n; /* leading prompt tokens (mask 0) */
} lp_sft_tokens;

/* An already rendered prompt and one response (SFT, preference pairs,
 * ranked lists, rollouts), encoded apart so the mask boundary is exact,
 * with end-of-text closing the response; cut to max_len (0: no limit). */
int lp_response_tokenize(lp_tokenizer *t, const char *prompt, const char *response, size_t max_len,
                         lp_sft_tokens *out, char *err, size_t errsz);

int lp_sft_tokenize(lp_tokenizer *t, const lp_prompt_template *tpl, const lp_record *r, size_t max_len,
                    lp_sft_tokens *out, char *err, size_t errsz);
void lp_sft_tokens_free(lp_sft_tokens *e);

/* Packs examples, in order, into rows of T tokens (first fit in the current
 * row, a new row when it does not fit); padding has id pad and mask 0.
 * seg[i] numbers the examples within a row (-1 on padding) so attention can
 * be kept inside an example. Examples longer than T are cut. */
typedef struct lp_packed {
    size_t rows, T;
    int32_t *ids, *seg;
    uint8_t *mask;
} lp_packed;

int lp_sft_pack(const lp_sft_tokens *ex, size_t n, size_t T, int32_t pad, lp_packed *out, char *err,
                size_t errsz);
void lp_packed_free(lp_packed *p);

/* ---- SFT micro-batches: epochs of shuffled examples, packed or padded ----
 * Each epoch visits every example once, in an order drawn from (seed,
 * epoch) (or file order without shuffle), and the stream runs on into the
 * next epoch. Packed: rows of T tokens are filled with whole examples in
 * that order (a new row when the next one does not fit), and seg numbers
 * the examples of a row (-1 on padding) for lp_model_forward_packed.
 * Padded: one example a row, rows as long as the micro-batch's longest
 * example, seg NULL (causal attention keeps right padding out of every
 * real token). The examples must stay valid and unchanged while the
 * batcher lives; every example must have 1..T tokens.
 * Shared prefix (LP_SFT_SHARE_PREFIX with LP_SFT_PACK): the longest token
 * prefix common to all examples (a template's preamble), cut so that every
 * example keeps at least one prompt token after it (the prefix's last
 * token then predicts a prompt token for every example: no target on a
 * prefix position), opens each packed row once, with seg LP_SEG_SHARED
 * (model.h: -2), and the row's examples follow without it (seg 0, 1, ..);
 * lp_model_forward_packed lets each see the prefix, so every example
 * computes what it would whole. Used only when at least
 * LP_SFT_MIN_PREFIX tokens long, else plain packing. */
typedef struct lp_sft_batcher lp_sft_batcher;

typedef struct lp_sft_batch {
    int B, T;                     /* this micro-batch: B rows of T tokens */
    const int32_t *ids, *targets; /* [B*T]; targets[i] = next token of the same
                                   * example when it is a training target, else -1 */
    const int32_t *seg;           /* [B*T] when packed, NULL when padded */
    int64_t examples;             /* examples in the micro-batch */
    int64_t tokens;               /* tokens of the examples, whole (a shared
                                   * prefix counts in every example) */
    int64_t targets_n;            /* tokens with a target */
    int64_t row_tokens;           /* tokens the rows hold that are not padding
                                   * (a shared prefix once a row) */
} lp_sft_batch;

enum {
    LP_SFT_PACK = 1,         /* pack rows (else pad) */
    LP_SFT_SHUFFLE = 2,      /* a new order every epoch (else file order) */
    LP_SFT_ONCE = 4,         /* one pass (validation): the last micro-batch ends
                         * with empty rows, then next() returns 1 */
    LP_SFT_SHARE_PREFIX = 8, /* with LP_SFT_PACK: the examples' common
                              * prefix once a row (see above) */
};
#define LP_SFT_MIN_PREFIX 4
int lp_sft_batcher_create(lp_sft_batcher **out, const lp_sft_tokens *ex, size_t n, int B, int T,
                          unsigned flags, int32_t pad, uint64_t seed, char *err, size_t errsz);
void lp_sft_batcher_destroy(lp_sft_batcher *b);
/* The next micro-batch (valid until the next call): 0, or 1 when a
 * one-pass batcher is done. */
int lp_sft_batcher_next(lp_sft_batcher *b, lp_sft_batch *out, char *err, size_t errsz);
/* Back to the first example of epoch 0. */
void lp_sft_batcher_rewind(lp_sft_batcher *b);
uint64_t lp_sft_batcher_epoch(const lp_sft_batcher *b);
/* Examples of the current epoch already handed out. */
uint64_t lp_sft_batcher_position(const lp_sft_batcher *b);
/* Length of the shared prefix each packed row opens with (0: none). */
int lp_sft_batcher_prefix(const lp_sft_batcher *b);
/* Micro-batches that epochs [0, epochs) take, from the start (exact: the
 * packing of each epoch's order is simulated). */
uint64_t lp_sft_batcher_count(const lp_sft_batcher *b, double epochs);

/* The exact position as bytes, for checkpoints; restore refuses a state
 * from another seed, shape, packing mode (shared prefix included) or
 * example set. */
#define LP_SFT_BATCHER_STATE_SIZE 64
void lp_sft_batcher_state_save(const lp_sft_batcher *b, uint8_t state[LP_SFT_BATCHER_STATE_SIZE]);
int lp_sft_batcher_state_restore(lp_sft_batcher *b, const uint8_t *state, size_t size, char *err,
                                 size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
