/* Byte-level BPE tokenizer, compatible with GPT-2 (vocab.json + merges.txt)
 * and Hugging Face tokenizer.json (BPE model, ByteLevel pre-tokenizer and
 * decoder). Any byte string encodes and decodes back to itself, invalid
 * UTF-8 included.
 *
 * Errors: functions returning int give 0 on success and -1 on failure, with a
 * one-line message in err (when err is not NULL). */
#ifndef LLMPIPE_TOKENIZER_H
#define LLMPIPE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LP_EOT_TOKEN "<|endoftext|>"

typedef struct lp_tokenizer lp_tokenizer;

/* A growable id buffer; encode appends to it. Free with lp_ids_free. */
typedef struct lp_ids {
    int32_t *v;
    size_t n, cap;
} lp_ids;

int lp_ids_push(lp_ids *ids, int32_t id);
void lp_ids_free(lp_ids *ids);

typedef struct lp_tok_train_opts {
    int vocab_size;             /* total, bytes + merges + special tokens */
    int min_frequency;          /* a pair seen fewer times is never merged (>= 1) */
    const char *const *special; /* extra special tokens; <|endoftext|> is always added */
    int n_special;
    int verbose; /* progress lines on stderr */
} lp_tok_train_opts;

/* Trains on the concatenated contents of files (read as raw bytes). */
int lp_tokenizer_train(lp_tokenizer **out, const char *const *files, int nfiles,
                       const lp_tok_train_opts *opts, char *err, size_t errsz);
/* Trains on in-memory texts (one buffer each, never joined across). */
int lp_tokenizer_train_texts(lp_tokenizer **out, const char *const *texts, const size_t *lens, int ntexts,
                             const lp_tok_train_opts *opts, char *err, size_t errsz);

/* Hugging Face tokenizer.json. */
int lp_tokenizer_load(lp_tokenizer **out, const char *path, char *err, size_t errsz);
int lp_tokenizer_save(const lp_tokenizer *t, const char *path, char *err, size_t errsz);
/* GPT-2 vocab.json + merges.txt; "<|endoftext|>" in the vocabulary becomes special. */
int lp_tokenizer_load_gpt2(lp_tokenizer **out, const char *vocab_json, const char *merges_txt, char *err,
                           size_t errsz);
int lp_tokenizer_save_gpt2(const lp_tokenizer *t, const char *vocab_json, const char *merges_txt, char *err,
                           size_t errsz);

/* Opens path as tokenizer.json, or as a folder holding tokenizer.json or
 * vocab.json + merges.txt. */
int lp_tokenizer_open(lp_tokenizer **out, const char *path, char *err, size_t errsz);

void lp_tokenizer_destroy(lp_tokenizer *t);

/* Appends the ids of text[0..len) to out. With allow_special, special token
 * strings in the text become their ids; without, they are encoded as plain
 * text. Not thread-safe (a word cache lives in the tokenizer). */
int lp_tokenizer_encode(lp_tokenizer *t, const char *text, size_t len, int allow_special, lp_ids *out,
                        char *err, size_t errsz);

/* Decodes ids into a malloc'ed buffer (NUL-terminated, *len excludes it).
 * skip_special drops special tokens. An unknown id is an error. */
int lp_tokenizer_decode(const lp_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **out,
                        size_t *len, char *err, size_t errsz);

int lp_tokenizer_vocab_size(const lp_tokenizer *t);
/* Id of a token given by its bytes (special or not), -1 when absent. */
int32_t lp_tokenizer_token_id(const lp_tokenizer *t, const char *bytes, size_t len);
/* Id of <|endoftext|>, -1 when the tokenizer has none. */
int32_t lp_tokenizer_eot(const lp_tokenizer *t);
/* Raw bytes of a token (not NUL-terminated), NULL for an unknown id. */
const char *lp_tokenizer_token_bytes(const lp_tokenizer *t, int32_t id, size_t *len);
int lp_tokenizer_is_special(const lp_tokenizer *t, int32_t id);
/* Adds a special token at the end of the vocabulary (or marks an existing
 * token special); returns its id, or -1 on error. */
int32_t lp_tokenizer_add_special(lp_tokenizer *t, const char *text, char *err, size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
