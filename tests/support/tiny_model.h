/* What the stage tests start from: a small random GPT in a model folder
 * whose tokenizer was trained on the given text files and the Alpaca
 * template (so prompts take few tokens), and a byte comparison of files. */
#ifndef LLMPIPE_TESTS_SUPPORT_TINY_MODEL_H
#define LLMPIPE_TESTS_SUPPORT_TINY_MODEL_H

#include <stddef.h>

/* 1 layer, 2 heads, width 32, n_ctx 128, vocabulary 500, seed 5; scratch
 * files (the template text, tokenizer.json) go to tmp_dir. 0 or -1 with
 * err. */
int lp_test_tiny_model(const char *dir, const char *tmp_dir, const char *const *files, int nfiles, char *err,
                       size_t n);

/* 1 when both files exist and hold the same bytes. */
int lp_test_same_file(const char *a, const char *b);

#endif
