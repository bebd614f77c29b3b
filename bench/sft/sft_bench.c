/* SFT throughput against pretraining, on the same model and thread count,
 * measured in one run with the modes interleaved (this machine is noisy):
 * useful (non-padding) tokens per second of a training step (forward, LM
 * loss, backward, AdamW) with packing, with packing behind a shared prompt
 * prefix (computed once a row; useful tokens count every example whole, so
 * the figures compare), with padding to each micro-batch's longest
 * example, and pretraining's tokens per second on full rows; examples per
 * second for every SFT mode.
 * Usage: sft_bench TOKENIZER SFT_JSONL [fp32|bf16] [ROUNDS] [THREADS]
 * (the quickstart model: 4 layers, 4 heads, width 192, n_ctx 256, B = 8). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llmpipe/data.h>
#include <llmpipe/model.h>
#include <llmpipe/optim.h>
#include <llmpipe/tokenizer.h>

enum { PRETRAIN, PACKED, PREFIXED, PADDED, MODES };
static const char *mode_name[MODES] = {"pretrain", "sft packed", "sft packed, shared prefix", "sft padded"};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const char *what, const char *why) {
    fprintf(stderr, "sft_bench: %s: %s\n", what, why);
    exit(1);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s TOKENIZER SFT_JSONL [fp32|bf16] [ROUNDS] [THREADS]\n", argv[0]);
        return 2;
    }
    const char *prec = argc > 3 ? argv[3] : "fp32";
    int rounds = argc > 4 ? atoi(argv[4]) : 6, threads = argc > 5 ? atoi(argv[5]) : 0;
    const int B = 8, T = 256, STEPS = 3;
    char err[1024];
    lp_tokenizer *tok;
    if (lp_tokenizer_open(&tok, argv[1], err, sizeof err)) die(argv[1], err);
    lp_dataset *ds;
    if (lp_dataset_load(&ds, argv[2], LP_DATA_SFT, 0, err, sizeof err)) die(argv[2], err);
    size_t n = lp_dataset_count(ds) < 4000 ? lp_dataset_count(ds) : 4000;
    lp_sft_tokens *ex = calloc(n, sizeof *ex);
    for (size_t i = 0; i < n; i++)
        if (lp_sft_tokenize(tok, lp_alpaca_template(), lp_dataset_get(ds, i), T, &ex[i], err, sizeof err))
            die(argv[2], err);
    lpk_ctx *ctx =
        lpk_ctx_create(&(lpk_ctx_opts){.num_threads = threads,
                                       .precision = strcmp(prec, "bf16") ? LPK_PREC_FP32 : LPK_PREC_BF16},
                       err, sizeof err);
    if (!ctx) die("kernel context", err);
    lp_model_config cfg = {4, 4, 192, lp_tokenizer_vocab_size(tok), T, 0, 0};
    lp_model *m = lp_model_create(&cfg, ctx, err, sizeof err);
    if (!m || lp_model_init_gpt2(m, 1)) die("model", err);
    lp_adamw_config ac = {.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.0f};
    lp_adamw *opt = lp_adamw_create(m, &ac);
    if (!opt) die("adamw", lp_model_error(m));
    lp_sft_batcher *bat[MODES] = {NULL};
    if (lp_sft_batcher_create(&bat[PACKED], ex, n, B, T, LP_SFT_PACK | LP_SFT_SHUFFLE, 0, 1, err,
                              sizeof err) ||
        lp_sft_batcher_create(&bat[PREFIXED], ex, n, B, T, LP_SFT_PACK | LP_SFT_SHUFFLE | LP_SFT_SHARE_PREFIX,
                              0, 1, err, sizeof err) ||
        lp_sft_batcher_create(&bat[PADDED], ex, n, B, T, LP_SFT_SHUFFLE, 0, 1, err, sizeof err))
        die("batches", err);
    int32_t *x = malloc(sizeof *x * B * T), *y = malloc(sizeof *y * B * T);
    for (int i = 0; i < B * T; i++) {
        x[i] = (int32_t)((i * 2654435761u) % (unsigned)cfg.vocab_size);
        y[i] = (int32_t)((i * 40503u + 7) % (unsigned)cfg.vocab_size);
    }
    double *tps[MODES], *eps[MODES];
    for (int k = 0; k < MODES; k++) {
        tps[k] = calloc((size_t)rounds, sizeof **tps);
        eps[k] = calloc((size_t)rounds, sizeof **eps);
    }
    double rows_fill[MODES] = {0};
    int64_t packed_rows[MODES] = {0}, ex_tokens = 0;
    for (size_t i = 0; i < n; i++) ex_tokens += (int64_t)ex[i].n;
    for (int r = -1; r < rounds; r++) { /* round -1 warms up */
        for (int k = 0; k < MODES; k++) {
            int64_t useful = 0, examples = 0;
            double t0 = now();
            for (int s = 0; s < STEPS; s++) {
                double loss;
                int rc;
                lp_model_zero_grad(m);
                if (k == PRETRAIN) {
                    rc = lp_model_forward(m, x, B, T) || lp_model_lm_loss(m, y, NULL, 0, NULL, &loss);
                    useful += (int64_t)B * T;
                } else {
                    lp_sft_batch b;
                    lp_sft_batcher_next(bat[k], &b, err, sizeof err);
                    rc = (b.seg ? lp_model_forward_packed(m, b.ids, b.seg, b.B, b.T)
                                : lp_model_forward(m, b.ids, b.B, b.T)) ||
                         lp_model_lm_loss(m, b.targets, NULL, 0, NULL, &loss);
                    useful += b.tokens;
                    examples += b.examples;
                    if (r >= 0) {
                        rows_fill[k] += (double)b.row_tokens / ((double)b.B * b.T);
                        packed_rows[k]++;
                    }
                }
                if (rc || lp_model_backward(m) || lp_adamw_step(opt, 1e-4f, 1.0f))
                    die("step", lp_model_error(m));
            }
            double dt = now() - t0;
            if (r >= 0) tps[k][r] = (double)useful / dt, eps[k][r] = (double)examples / dt;
        }
    }
    /* ratios from the same round, then their median: the modes of a round
     * ran back to back, so a slower neighbour on the CPU hits them alike */
    double med[MODES], emed[MODES], ratio[MODES], ex_s[MODES], *rr = calloc((size_t)rounds, sizeof *rr);
    for (int k = 0; k < MODES; k++) {
        for (int r = 0; r < rounds; r++) rr[r] = tps[k][r] / tps[PRETRAIN][r];
        qsort(rr, (size_t)rounds, sizeof *rr, cmpd);
        ratio[k] = rr[rounds / 2];
        for (int r = 0; r < rounds; r++) rr[r] = eps[PACKED][r] > 0 ? eps[k][r] / eps[PACKED][r] : 0;
        qsort(rr, (size_t)rounds, sizeof *rr, cmpd);
        emed[k] = rr[rounds / 2];
    }
    for (int k = 0; k < MODES; k++) {
        qsort(tps[k], (size_t)rounds, sizeof **tps, cmpd);
        med[k] = tps[k][rounds / 2];
        qsort(eps[k], (size_t)rounds, sizeof **eps, cmpd);
        ex_s[k] = eps[k][rounds / 2];
    }
    free(rr);
    printf("model 4x192, vocab %d, B=%d T=%d, %s, %d threads, median of %d rounds x %d steps\n",
           cfg.vocab_size, B, T, prec, lpk_ctx_threads(ctx), rounds, STEPS);
    printf("%zu examples, %.1f tokens each on average; shared prefix %d tokens\n", n, (double)ex_tokens / n,
           lp_sft_batcher_prefix(bat[PREFIXED]));
    for (int k = 0; k < MODES; k++) {
        printf("%-26s %8.0f useful tokens/s  %5.1f%% of pretraining (same-round ratio %5.1f%%)", mode_name[k],
               med[k], 100.0 * med[k] / med[PRETRAIN], 100.0 * ratio[k]);
        if (k != PRETRAIN)
            printf("  %7.1f examples/s (x%.2f of packed)  rows %.1f%% full", ex_s[k], emed[k],
                   packed_rows[k] ? 100.0 * rows_fill[k] / (double)packed_rows[k] : 0);
        printf("\n");
    }
    for (int k = 0; k < MODES; k++) free(tps[k]), free(eps[k]);
    for (size_t i = 0; i < n; i++) lp_sft_tokens_free(&ex[i]);
    free(ex);
    free(x);
    free(y);
    lp_sft_batcher_destroy(bat[PACKED]);
    lp_sft_batcher_destroy(bat[PREFIXED]);
    lp_sft_batcher_destroy(bat[PADDED]);
    lp_adamw_destroy(opt);
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    lp_dataset_destroy(ds);
    lp_tokenizer_destroy(tok);
    return 0;
}
