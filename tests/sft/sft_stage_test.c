/* Runs the SFT stage in this process through the fake host on a tiny model:
 * a fresh run with validation, exact match and samples; a stop on request
 * and a resume that ends bit for bit where an uninterrupted run ends (the
 * run crosses epochs, so the epoch position is restored too); a
 * real-world-shaped Alpaca file (with and without input, Chinese, emoji,
 * outputs longer than the context) that trains, truncating or skipping and
 * counting; a malformed record reported as file:line, or skipped and counted
 * with skip_bad; refusals of bad parameters and inputs. */
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
    lp_fake_host_input(h, "base", model);
    lp_fake_host_output(h, "sft", out);
    return h;
}

#define BASE                                                                                       \
    "batch_size = 2; seq_len = 128; max_steps = 12; warmup_steps = 2; lr = 3e-3; eval_every = 4; " \
    "ckpt_every = 2; eval_limit = 10; eval_max_new = 8; samples = 2; "

int main(void) {
    char err[2048], model[4400], data[4400], evalp[4400], params[8192];
    snprintf(tmp, sizeof tmp, "%s/sftXXXXXX", getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) return 2;
    char synth[4400];
    path_of(synth, sizeof synth, "synth");
    mkdir(synth, 0755);
    lp_synth_opts so = {.seed = 3, .level = lp_synth_preset(1), .n_sft = 40, .n_eval = 10};
    REQUIRE(lp_synth_write(synth, &so, err, sizeof err) == 0, "%s", err);
    path_of(model, sizeof model, "model");
    mkdir(model, 0755);
    char tf[1][4400];
    const char *tfp[1];
    snprintf(tf[0], sizeof tf[0], "%s/synth/sft.jsonl", tmp);
    tfp[0] = tf[0];
    REQUIRE(lp_test_tiny_model(model, tmp, tfp, 1, err, sizeof err) == 0, "%s", err);
    path_of(data, sizeof data, "synth/sft.jsonl");
    path_of(evalp, sizeof evalp, "synth/eval.jsonl");

    /* ---- a fresh run: 12 steps cross epoch boundaries (40 records, ~4 a step) */
    char workA[4400], outA[4400], workB[4400], outB[4400];
    path_of(workA, sizeof workA, "workA");
    path_of(outA, sizeof outA, "outA");
    snprintf(params, sizeof params, BASE "data = \"%s\"; eval_tasks = \"%s\"; val_fraction = 0.2;", data,
             evalp);
    lp_fake_host *h = host(workA, params, model, outA);
    REQUIRE(h != NULL, "host");
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "fresh run: %s", err);
    char p[4600];
    snprintf(p, sizeof p, "%s/model.safetensors", outA);
    CHECK(lp_fake_host_put_count(h) == 1 && access(p, R_OK) == 0, "output published");
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "loss") == 12, "12 loss metrics (%zu)",
          lp_fake_host_count(h, LP_FAKE_METRIC, "loss"));
    /* exact match before the first step, at steps 4, 8 and 12 */
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "exact_match") == 4, "exact_match 4 times (%zu)",
          lp_fake_host_count(h, LP_FAKE_METRIC, "exact_match"));
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "val_loss") == 3, "val_loss 3 times (%zu)",
          lp_fake_host_count(h, LP_FAKE_METRIC, "val_loss"));
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "exact_match/sort_en") >= 1 ||
              lp_fake_host_count(h, LP_FAKE_METRIC, "exact_match/add_en") >= 1,
          "exact match per family");
    const lp_fake_entry *last = lp_fake_host_last(h, LP_FAKE_METRIC, "records_truncated");
    CHECK(last && last->value == 0, "no record truncated");
    size_t nlog;
    const lp_fake_entry *ents;
    nlog = lp_fake_host_entries(h, &ents);
    int samples = 0, done = 0;
    for (size_t i = 0; i < nlog; i++) {
        if (ents[i].kind == LP_FAKE_LOG && strstr(ents[i].text, "sample [")) samples++;
        if (ents[i].kind == LP_FAKE_LOG && strstr(ents[i].text, "done: 12 steps")) done++;
    }
    CHECK(samples == 8 && done == 1, "2 sample answers per evaluation (%d), a done line (%d)", samples, done);
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
    lp_fake_host_destroy(h);

    /* ---- a real-world-shaped Alpaca array: input or not, Chinese, emoji,
     * an output far longer than the context */
    char longout[6000] = "";
    for (int i = 0; i < 120; i++) strcat(longout, "very long answer 😀 ");
    char text[12000];
    snprintf(text, sizeof text,
             "[\n"
             "  {\"instruction\": \"Give three tips for staying healthy.\", \"input\": \"\", \"output\": "
             "\"1. Eat well. 2. Sleep. 3. Move.\"},\n"
             "  {\"instruction\": \"把这句话翻译成英文。\", \"input\": \"我喜欢猫 🐱\", \"output\": \"I like "
             "cats 🐱\"},\n"
             "  {\"instruction\": \"Write a story.\", \"output\": \"%s\"},\n"
             "  {\"instruction\": \"Say hi\", \"input\": \"\\u00e9t\\u00e9\", \"output\": \"hi ✨\"}\n"
             "]\n",
             longout);
    REQUIRE(write_text("alpaca.json", text) == 0, "write");
    char alp[4400], workC[4400], outC[4400];
    path_of(alp, sizeof alp, "alpaca.json");
    path_of(workC, sizeof workC, "workC");
    path_of(outC, sizeof outC, "outC");
    snprintf(
        params, sizeof params,
        "batch_size = 2; seq_len = 128; max_steps = 3; eval_every = 0; data = \"%s\"; val_fraction = 0.0;",
        alp);
    h = host(workC, params, model, outC);
    REQUIRE(h != NULL, "host");
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "alpaca file: %s", err);
    last = lp_fake_host_last(h, LP_FAKE_METRIC, "records_truncated");
    CHECK(last && last->value == 1, "the long record truncated and counted (%g)", last ? last->value : -1);
    lp_fake_host_destroy(h);
    lp_remove_tree(workC);
    strcat(params, " overlong = \"skip\";");
    h = host(workC, params, model, outC);
    REQUIRE(h != NULL, "host");
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "alpaca file, skip: %s", err);
    last = lp_fake_host_last(h, LP_FAKE_METRIC, "records_skipped_long");
    CHECK(last && last->value == 1, "the long record skipped and counted (%g)", last ? last->value : -1);
    lp_fake_host_destroy(h);

    /* ---- a malformed record: file:line, or skipped and counted */
    REQUIRE(write_text("bad.jsonl",
                       "{\"instruction\": \"a\", \"output\": \"b\"}\n"
                       "{\"instruction\": \"c\", \"output\": 7}\n"
                       "{\"instruction\": \"d\", \"input\": \"e\", \"output\": \"f\"}\n") == 0,
            "write");
    char bad[4400];
    path_of(bad, sizeof bad, "bad.jsonl");
    lp_remove_tree(workC);
    snprintf(
        params, sizeof params,
        "batch_size = 2; seq_len = 128; max_steps = 2; eval_every = 0; data = \"%s\"; val_fraction = 0.0;",
        bad);
    h = host(workC, params, model, outC);
    REQUIRE(h != NULL, "host");
    char want[4600];
    snprintf(want, sizeof want, "%s:2", bad);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, want) && strstr(err, "output"),
          "malformed record: %s", err);
    printf("malformed record: %s\n", err);
    CHECK(lp_fake_host_set(h, "skip_bad", "true", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "skip_bad: %s", err);
    last = lp_fake_host_last(h, LP_FAKE_METRIC, "records_skipped_bad");
    CHECK(last && last->value == 1, "one bad record skipped and counted (%g)", last ? last->value : -1);

    /* ---- refusals */
    CHECK(lp_fake_host_set(h, "overlong", "\"cut\"", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "overlong"), "%s", err);
    CHECK(lp_fake_host_set(h, "overlong", "\"skip\"", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_set(h, "seq_len", "500", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "seq_len 500"), "%s", err);
    CHECK(lp_fake_host_set(h, "seq_len", "128", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_set(h, "template", "\"### {instruction}\"", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "{input}"), "%s", err);
    lp_fake_host_destroy(h);
    /* no model input */
    h = lp_fake_host_create(lp_plugin_entry(), workC, params, err, sizeof err);
    REQUIRE(h != NULL, "%s", err);
    lp_fake_host_quiet(h, 1);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "model"), "no model: %s", err);
    lp_fake_host_destroy(h);

    if (lp_remove_tree(tmp)) fprintf(stderr, "cleanup failed\n");
    DONE();
}
