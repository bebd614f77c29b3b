/* The tokenize stage: trains a byte-level BPE tokenizer on text files (or
 * takes an existing tokenizer.json) and writes token shards. Its output
 * artifact (tokenizer.json, train.bin, val.bin) is what pretrain reads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/clock.h"
#include "llmpipe/data.h"
#include "llmpipe/error.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/plugin.h"
#include "llmpipe/tokenizer.h"

#define MAX_FILES 64

static const lp_param_spec params[] = {
    {"files", LP_PARAM_STRING_LIST, NULL, 1,
     "text files (the corpus; tools/corpus.sh builds the fortunes one)"},
    {"vocab_size", LP_PARAM_INT, "2048", 0, "vocabulary size of the trained tokenizer"},
    {"min_frequency", LP_PARAM_INT, "2", 0, "pairs seen fewer times are never merged"},
    {"tokenizer", LP_PARAM_STRING, "\"\"", 0,
     "use this tokenizer.json (or GPT-2 folder) instead of training one"},
    {"val_fraction", LP_PARAM_FLOAT, "0.02", 0, "share of documents held out in val.bin"},
    {"doc_sep_line", LP_PARAM_STRING, "\"%\"", 0,
     "a line equal to this ends a document (\"\": one file = one document)"},
};

typedef struct tokenize {
    const lp_host_services *h;
    const char *files[MAX_FILES];
    int nfiles;
    int64_t vocab_size, min_frequency;
    double val_fraction;
    const char *tokenizer, *sep;
} tokenize;

static int create(const lp_host_services *h, void **state, char *err, size_t n) {
    tokenize *s = calloc(1, sizeof *s);
    size_t nf = 0;
    if (!s) return lp_errf(err, n, "tokenize: out of memory");
    s->h = h;
    if (h->param_list_size(h->host, "files", &nf) || h->param_int(h->host, "vocab_size", &s->vocab_size) ||
        h->param_int(h->host, "min_frequency", &s->min_frequency) ||
        h->param_float(h->host, "val_fraction", &s->val_fraction) ||
        h->param_string(h->host, "tokenizer", &s->tokenizer) ||
        h->param_string(h->host, "doc_sep_line", &s->sep)) {
        lp_errf(err, n, "tokenize parameters: %s", h->last_error(h->host));
        free(s);
        return -1;
    }
    if (nf < 1 || nf > MAX_FILES || s->vocab_size < 257 || s->min_frequency < 1 || s->val_fraction < 0 ||
        s->val_fraction >= 1) {
        lp_errf(err, n,
                "tokenize parameters: expected 1 to %d files, vocab_size >= 257, min_frequency >= 1, "
                "0 <= val_fraction < 1",
                MAX_FILES);
        free(s);
        return -1;
    }
    for (size_t i = 0; i < nf; i++)
        if (h->param_list_string(h->host, "files", i, &s->files[i])) {
            lp_errf(err, n, "tokenize parameters: %s", h->last_error(h->host));
            free(s);
            return -1;
        }
    s->nfiles = (int)nf;
    for (int i = 0; i < s->nfiles; i++) {
        FILE *f = fopen(s->files[i], "rb");
        if (!f) {
            lp_errf(err, n,
                    "tokenize: files[%d] = \"%s\": cannot open: %s (relative paths start in the folder "
                    "llmpipe runs in; tools/corpus.sh data/fortunes.txt builds the quickstart corpus)",
                    i, s->files[i], strerror(errno));
            free(s);
            return -1;
        }
        fclose(f);
    }
    *state = s;
    return 0;
}

static int run(void *state, char *err, size_t n) {
    tokenize *s = state;
    const lp_host_services *h = s->h;
    char out[4200], path[4300], msg[1024];
    snprintf(out, sizeof out, "%s/output", h->work_dir(h->host));
    if (lp_mkdir_p(out, err, n)) return -1;
    lp_tokenizer *t = NULL;
    double t0 = lp_mono_s();
    if (s->tokenizer[0]) {
        if (lp_tokenizer_open(&t, s->tokenizer, err, n)) return -1;
    } else {
        lp_tok_train_opts o = {.vocab_size = (int)s->vocab_size, .min_frequency = (int)s->min_frequency};
        if (lp_tokenizer_train(&t, s->files, s->nfiles, &o, err, n)) return -1;
    }
    double secs = lp_mono_s() - t0;
    snprintf(path, sizeof path, "%s/tokenizer.json", out);
    int rc = lp_tokenizer_save(t, path, err, n);
    lp_shard_build_stats st = {0};
    lp_shard_build_opts so = {s->val_fraction, s->sep[0] ? s->sep : NULL, h->seed(h->host)};
    if (!rc) rc = lp_shard_build(t, s->files, s->nfiles, out, &so, &st, err, n);
    if (!rc) {
        snprintf(
            msg, sizeof msg,
            "tokenizer: vocabulary %d (%.1f s); shards: %llu bytes -> %llu train tokens (%llu docs), "
            "%llu validation tokens (%llu docs), %.2f bytes/token",
            lp_tokenizer_vocab_size(t), secs, (unsigned long long)st.bytes, (unsigned long long)st.tokens[0],
            (unsigned long long)st.docs[0], (unsigned long long)st.tokens[1], (unsigned long long)st.docs[1],
            st.tokens[0] + st.tokens[1] ? (double)st.bytes / (double)(st.tokens[0] + st.tokens[1]) : 0.0);
        h->log(h->host, LP_LOG_INFO, msg);
        lp_metric m[3] = {{"vocab_size", lp_tokenizer_vocab_size(t)},
                          {"train_tokens", (double)st.tokens[0]},
                          {"val_tokens", (double)st.tokens[1]}};
        h->emit_metrics(h->host, 0, m, 3);
    }
    lp_tokenizer_destroy(t);
    if (rc) return -1;
    if (h->output_name(h->host) && h->artifact_put(h->host, out))
        return lp_errf(err, n, "tokenize: output: %s", h->last_error(h->host));
    return 0;
}

static void destroy(void *state) { free(state); }

static const lp_stage_desc desc = {
    LP_STAGE_DESC_INIT,
    .name = "tokenize",
    .version = "0.1.0",
    .description = "trains a byte-level BPE tokenizer and writes train/val token shards",
    .params = params,
    .param_count = sizeof params / sizeof params[0],
    .create = create,
    .run = run,
    .request_stop = NULL,
    .destroy = destroy,
};

LP_PLUGIN_EXPORT const lp_stage_desc *lp_plugin_entry(void) { return &desc; }
