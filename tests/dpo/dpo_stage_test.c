/* Runs the DPO stage in this process through the fake host on a tiny
 * model: a fresh run on preference pairs and ranked lists with held-out
 * pairs and exact match (the first step's loss is log 2: the policy starts
 * as the reference); a stop on request and a resume that ends bit for bit
 * where the uninterrupted run ends, reading the reference cache from the
 * checkpoint instead of recomputing it; cDPO and IPO runs (IPO starts at
 * 1/(4 beta^2)); a malformed record reported as file:line, or skipped and
 * counted; over-long pairs truncated or skipped; refusals of bad
 * parameters and inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpipe/ckpt.h"
#include "llmpipe/data.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/model.h"
#include "llmpipe/plugin.h"
#include "llmpipe/synth.h"
#include "llmpipe/tokenizer.h"
#include "tests/support/check.h"
#include "tests/support/fake_host.h"
#include "tests/support/tiny_model.h"

const lp_stage_desc *lp_plugin_entry(void);

static char tmp[4096];

static void path_of(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", tmp, name); }

static int write_text(const char *name, const char *text) {
    char p[4400];
    path_of(p, sizeof p, name);
    FILE *f = fopen(p, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static lp_fake_host *host(const char *work, const char *params, const char *model, const char *out) {
    char err[2048];
    lp_fake_host *h = lp_fake_host_create(lp_plugin_entry(), work, params, err, sizeof err);
    if (!h) {
        fprintf(stderr, "fake host: %s\n", err);
        return NULL;
    }
    lp_fake_host_quiet(h, 1);
    if (model) lp_fake_host_input(h, "sft", model);
    lp_fake_host_output(h, "dpo", out);
    return h;
}

static int log_has(const lp_fake_host *h, const char *text) {
    const lp_fake_entry *e;
    size_t n = lp_fake_host_entries(h, &e), k = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].kind == LP_FAKE_LOG && strstr(e[i].text, text)) k++;
    return (int)k;
}

/* The value of metric name at step (NaN when absent). */
static double metric_at(const lp_fake_host *h, const char *name, int64_t step) {
    const lp_fake_entry *e;
    size_t n = lp_fake_host_entries(h, &e);
    for (size_t i = 0; i < n; i++)
        if (e[i].kind == LP_FAKE_METRIC && !strcmp(e[i].name, name) && e[i].step == step) return e[i].value;
    return NAN;
}

#define BASE                                                                                     \
    "batch_size = 2; pairs_per_step = 4; max_steps = 10; warmup_steps = 2; lr = 3e-3; min_lr = " \
    "3e-4; eval_every = 4; ckpt_every = 2; eval_limit = 10; eval_max_new = 8; samples = 2; beta = 0.5; "

int main(void) {
    char err[2048], model[4400], pref[4400], ranked[4400], evalp[4400], params[8192];
    snprintf(tmp, sizeof tmp, "%s/dpoXXXXXX", getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) return 2;
    char synth[4400];
    path_of(synth, sizeof synth, "synth");
    mkdir(synth, 0755);
    lp_synth_opts so = {
        .seed = 3, .level = lp_synth_preset(1), .n_sft = 40, .n_pref = 30, .n_ranked = 5, .n_eval = 10};
    REQUIRE(lp_synth_write(synth, &so, err, sizeof err) == 0, "%s", err);
    path_of(model, sizeof model, "model");
    mkdir(model, 0755);
    char tf[2][4400];
    const char *tfp[2];
    snprintf(tf[0], sizeof tf[0], "%s/synth/sft.jsonl", tmp);
    tfp[0] = tf[0];
    snprintf(tf[1], sizeof tf[1], "%s/synth/pref.jsonl", tmp);
    tfp[1] = tf[1];
    REQUIRE(lp_test_tiny_model(model, tmp, tfp, 2, err, sizeof err) == 0, "%s", err);
    path_of(pref, sizeof pref, "synth/pref.jsonl");
    path_of(ranked, sizeof ranked, "synth/ranked.jsonl");
    path_of(evalp, sizeof evalp, "synth/eval.jsonl");

    /* ---- a fresh run: pairs and ranked lists, 10 steps of 4 pairs cross an
     * epoch boundary */
    char workA[4400], outA[4400], workB[4400], outB[4400];
    path_of(workA, sizeof workA, "workA");
    path_of(outA, sizeof outA, "outA");
    snprintf(params, sizeof params,
             BASE "data = \"%s\"; ranked_data = \"%s\"; eval_tasks = \"%s\"; val_fraction = 0.2;", pref,
             ranked, evalp);
    lp_fake_host *h = host(workA, params, model, outA);
    REQUIRE(h != NULL, "host");
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "fresh run: %s", err);
    char p[4600];
    snprintf(p, sizeof p, "%s/model.safetensors", outA);
    CHECK(lp_fake_host_put_count(h) == 1 && access(p, R_OK) == 0, "output published");
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "loss") == 10, "10 loss metrics (%zu)",
          lp_fake_host_count(h, LP_FAKE_METRIC, "loss"));
    static const char *const per_step[] = {"reward_accuracy", "reward_margin", "chosen_logp",
                                           "rejected_logp",   "chosen_reward", "rejected_reward"};
    for (int i = 0; i < 6; i++)
        CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, per_step[i]) == 10, "%s every step (%zu)", per_step[i],
              lp_fake_host_count(h, LP_FAKE_METRIC, per_step[i]));
    /* held-out pairs and exact match before the first step, at 4, 8 and the end */
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "val_reward_accuracy") == 4,
          "val_reward_accuracy 4 times (%zu)", lp_fake_host_count(h, LP_FAKE_METRIC, "val_reward_accuracy"));
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "exact_match") == 4, "exact_match 4 times (%zu)",
          lp_fake_host_count(h, LP_FAKE_METRIC, "exact_match"));
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "exact_match/sort_en") >= 1 ||
              lp_fake_host_count(h, LP_FAKE_METRIC, "exact_match/add_en") >= 1,
          "exact match per family");
    double l1 = metric_at(h, "loss", 1), a0 = metric_at(h, "val_reward_margin", 0);
    /* the policy starts as the reference: h = 0 up to the rounding of two
     * forwards of different batch shapes */
    CHECK(fabs(l1 - log(2.0)) < 1e-4, "first loss %.8f is log 2", l1);
    CHECK(fabs(a0) < 1e-4, "held-out margin %.3g at the start is 0", a0);
    double lN = 0;
    for (int s = 8; s <= 10; s++) lN += metric_at(h, "loss", s) / 3;
    printf(
        "fresh run: loss %.4f at step 1, %.4f over steps 8-10; held-out reward accuracy %.2f, margin %.3f\n",
        l1, lN, metric_at(h, "val_reward_accuracy", 10), metric_at(h, "val_reward_margin", 10));
    CHECK(lN < l1, "the training loss falls (%.4f -> %.4f)", l1, lN);
    CHECK(metric_at(h, "val_reward_margin", 10) > 0, "held-out margin %.3f > 0 at the end",
          metric_at(h, "val_reward_margin", 10));
    const lp_fake_entry *last = lp_fake_host_last(h, LP_FAKE_METRIC, "pairs_train");
    /* 30 pairs and 5 ranked lists of 4 (6 pairs each) less the held-out ones */
    CHECK(last && last->value > 20 && last->value < 60, "training pairs %g", last ? last->value : -1);
    CHECK(log_has(h, "reference log-probabilities of") == 1, "the reference pass runs once");
    CHECK(log_has(h, "done: 10 steps") == 1, "a done line");
    CHECK(log_has(h, "sample [") == 8, "2 sample answers per evaluation (%d)", log_has(h, "sample ["));
    lp_fake_host_destroy(h);

    /* ---- stopped at step 5 (mid-epoch), resumed: the same final weights */
    path_of(workB, sizeof workB, "workB");
    path_of(outB, sizeof outB, "outB");
    h = host(workB, params, model, outB);
    REQUIRE(h != NULL, "host");
    lp_fake_host_cancel_at(h, 5);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "stopped on request"), "stop: %s", err);
    CHECK(lp_fake_host_put_count(h) == 0, "no output after a stop");
    lp_fake_host_cancel_at(h, 0);
    lp_fake_host_cancel(h, 0);
    lp_fake_host_clear(h);
    lp_fake_host_resuming(h, 1);
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "resumed run: %s", err);
    char q[4600];
    snprintf(q, sizeof q, "%s/model.safetensors", outB);
    CHECK(lp_test_same_file(p, q), "resumed weights equal the uninterrupted run's bit for bit");
    CHECK(log_has(h, "reference log-probabilities of") == 0, "the resume reads the reference cache");
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "loss") == 5, "steps 6-10 after the resume (%zu)",
          lp_fake_host_count(h, LP_FAKE_METRIC, "loss"));
    lp_fake_host_destroy(h);

    /* ---- a stop during the reference pass: a clean stop, and a resume
     * that starts the pass again */
    lp_remove_tree(workB);
    h = host(workB, params, model, outB);
    REQUIRE(h != NULL, "host");
    lp_fake_host_cancel(h, 1);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 &&
              strstr(err, "stopped on request during the reference pass"),
          "stop in the reference pass: %s", err);
    CHECK(lp_fake_host_put_count(h) == 0, "no output after a stop");
    lp_fake_host_cancel(h, 0);
    lp_fake_host_clear(h);
    lp_fake_host_resuming(h, 1);
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "resumed run: %s", err);
    CHECK(lp_test_same_file(p, q), "the same final weights as the uninterrupted run");
    lp_fake_host_destroy(h);

    /* ---- the other losses; ranked lists alone, adjacent pairs */
    char workC[4400], outC[4400];
    path_of(workC, sizeof workC, "workC");
    path_of(outC, sizeof outC, "outC");
    snprintf(params, sizeof params,
             "batch_size = 2; max_steps = 3; eval_every = 0; data = \"%s\"; loss = \"ipo\"; beta = 0.1; "
             "val_fraction = 0.0; max_pairs = 10;",
             pref);
    h = host(workC, params, model, outC);
    REQUIRE(h != NULL, "host");
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "ipo: %s", err);
    l1 = metric_at(h, "loss", 1);
    CHECK(fabs(l1 - 25.0) < 1e-2, "IPO starts at 1/(4 beta^2) = 25 (%.6f)", l1);
    last = lp_fake_host_last(h, LP_FAKE_METRIC, "pairs_train");
    CHECK(last && last->value == 10, "max_pairs 10 (%g)", last ? last->value : -1);
    lp_fake_host_destroy(h);
    lp_remove_tree(workC);
    snprintf(
        params, sizeof params,
        "batch_size = 2; max_steps = 3; eval_every = 0; ranked_data = \"%s\"; ranked_pairs = \"adjacent\"; "
        "loss = \"cdpo\"; label_smoothing = 0.2; val_fraction = 0.0;",
        ranked);
    h = host(workC, params, model, outC);
    REQUIRE(h != NULL, "host");
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "cdpo: %s", err);
    CHECK(fabs(metric_at(h, "loss", 1) - log(2.0)) < 1e-4, "cDPO starts at log 2 (%.6f)",
          metric_at(h, "loss", 1));
    last = lp_fake_host_last(h, LP_FAKE_METRIC, "pairs_train");
    CHECK(last && last->value == 15, "5 ranked lists of 4 give 15 adjacent pairs (%g)",
          last ? last->value : -1);
    lp_fake_host_destroy(h);

    /* ---- over-long pairs: a response longer than the context truncated and
     * counted, or the pair skipped; a prompt that fills the context skipped */
    char longtext[8000] = "", text[20000];
    for (int i = 0; i < 150; i++) strcat(longtext, "very long answer ");
    snprintf(text, sizeof text,
             "{\"prompt\": \"### Instruction:\\nSay hi\\n\\n### Response:\\n\", \"chosen\": \"hi\", "
             "\"rejected\": \"%s\"}\n"
             "{\"prompt\": \"### Instruction:\\n%s\\n\\n### Response:\\n\", \"chosen\": \"a\", "
             "\"rejected\": \"b\"}\n"
             "{\"prompt\": \"### Instruction:\\nSay yes\\n\\n### Response:\\n\", \"chosen\": \"yes\", "
             "\"rejected\": \"no\"}\n",
             longtext, longtext);
    REQUIRE(write_text("long.jsonl", text) == 0, "write");
    char longp[4400];
    path_of(longp, sizeof longp, "long.jsonl");
    lp_remove_tree(workC);
    snprintf(params, sizeof params,
             "batch_size = 2; max_steps = 2; eval_every = 0; data = \"%s\"; val_fraction = 0.0;", longp);
    h = host(workC, params, model, outC);
    REQUIRE(h != NULL, "host");
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "over-long: %s", err);
    last = lp_fake_host_last(h, LP_FAKE_METRIC, "sequences_truncated");
    CHECK(last && last->value == 1, "the long response cut and counted (%g)", last ? last->value : -1);
    last = lp_fake_host_last(h, LP_FAKE_METRIC, "pairs_train");
    CHECK(last && last->value == 2, "the long-prompt pair left out (%g pairs)", last ? last->value : -1);
    lp_fake_host_destroy(h);
    lp_remove_tree(workC);
    strcat(params, " overlong = \"skip\";");
    h = host(workC, params, model, outC);
    REQUIRE(h != NULL, "host");
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "over-long, skip: %s", err);
    last = lp_fake_host_last(h, LP_FAKE_METRIC, "pairs_skipped_long");
    CHECK(last && last->value == 2, "both over-long pairs skipped and counted (%g)", last ? last->value : -1);
    lp_fake_host_destroy(h);

    /* ---- a malformed record: file:line, or skipped and counted */
    REQUIRE(write_text("bad.jsonl",
                       "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n"
                       "{\"prompt\": \"a\", \"chosen\": 7, \"rejected\": \"c\"}\n"
                       "{\"prompt\": \"d\", \"chosen\": \"e\", \"rejected\": \"f\"}\n") == 0,
            "write");
    char bad[4400];
    path_of(bad, sizeof bad, "bad.jsonl");
    lp_remove_tree(workC);
    snprintf(params, sizeof params,
             "batch_size = 2; max_steps = 2; eval_every = 0; data = \"%s\"; val_fraction = 0.0;", bad);
    h = host(workC, params, model, outC);
    REQUIRE(h != NULL, "host");
    char want[4600];
    snprintf(want, sizeof want, "%s:2", bad);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, want) && strstr(err, "chosen"),
          "malformed record: %s", err);
    printf("malformed record: %s\n", err);
    CHECK(lp_fake_host_set(h, "skip_bad", "true", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "skip_bad: %s", err);
    last = lp_fake_host_last(h, LP_FAKE_METRIC, "records_skipped_bad");
    CHECK(last && last->value == 1, "one bad record skipped and counted (%g)", last ? last->value : -1);

    /* ---- refusals */
    static const char *const refusals[][3] = {
        {"loss", "\"kto\"", "loss"},
        {"beta", "0.0", "beta"},
        {"pairs_per_step", "3", "pairs_per_step"},
        {"ranked_pairs", "\"best\"", "ranked_pairs"},
        {"seq_len", "500", "seq_len 500"},
    };
    for (int i = 0; i < 5; i++) {
        CHECK(lp_fake_host_set(h, refusals[i][0], refusals[i][1], err, sizeof err) == 0, "%s", err);
        CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, refusals[i][2]), "%s = %s: %s",
              refusals[i][0], refusals[i][1], err);
        printf("refused %s = %s: %s\n", refusals[i][0], refusals[i][1], err);
        lp_fake_host_destroy(h);
        h = host(workC, params, model, outC);
        REQUIRE(h != NULL, "host");
    }
    CHECK(lp_fake_host_set(h, "data", "\"\"", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "ranked_data"), "no data: %s", err);
    lp_fake_host_destroy(h);
    /* no model input */
    h = host(workC, params, NULL, outC);
    REQUIRE(h != NULL, "host");
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "model"), "no model: %s", err);
    lp_fake_host_destroy(h);
    /* the model parameter instead of an input artifact */
    snprintf(params, sizeof params, "batch_size = 2; max_steps = 2; eval_every = 0; data = \"%s\";", pref);
    char mp[4600];
    snprintf(mp, sizeof mp, "\"%s\"", model);
    h = host(workC, params, NULL, outC);
    REQUIRE(h != NULL, "host");
    CHECK(lp_fake_host_set(h, "model", mp, err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "model parameter: %s", err);
    lp_fake_host_destroy(h);

    if (lp_remove_tree(tmp)) fprintf(stderr, "cleanup failed\n");
    DONE();
}
