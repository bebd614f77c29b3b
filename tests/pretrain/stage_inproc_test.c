/* Runs the pretrain stage in this process through the shared fake host
 * (tests/support: the host's own parameter code): a fresh run, a resumed
 * one with a larger budget, a stop on request, then refusals of bad
 * parameters, inputs and devices. In-process, so --config=asan leak-checks
 * the stage code (the host-run tests cannot: see lib.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpipe/data.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/plugin.h"
#include "llmpipe/tokenizer.h"
#include "tests/support/check.h"
#include "tests/support/fake_host.h"

const lp_stage_desc *lp_plugin_entry(void);

int main(void) {
    char tmp[4096], err[1024], path[4300], data[4300], work[4300], out[4300];
    snprintf(tmp, sizeof tmp, "%s/inXXXXXX", getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) return 2;
    /* a corpus, a tokenizer and shards */
    snprintf(path, sizeof path, "%s/corpus.txt", tmp);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 200; i++)
        fprintf(f, "The cat %d sat on the mat.\n小猫 %d 坐在垫子上。\n%%\n", i, i * 3 % 17);
    fclose(f);
    snprintf(data, sizeof data, "%s/data", tmp);
    mkdir(data, 0755);
    lp_tokenizer *t;
    const char *files[] = {path};
    lp_tok_train_opts to = {.vocab_size = 300, .min_frequency = 2};
    REQUIRE(lp_tokenizer_train(&t, files, 1, &to, err, sizeof err) == 0, "%s", err);
    char tj[4400];
    snprintf(tj, sizeof tj, "%s/tokenizer.json", data);
    REQUIRE(lp_tokenizer_save(t, tj, err, sizeof err) == 0, "%s", err);
    lp_shard_build_opts so = {0.1, "%", 3};
    lp_shard_build_stats st;
    REQUIRE(lp_shard_build(t, files, 1, data, &so, &st, err, sizeof err) == 0, "%s", err);
    lp_tokenizer_destroy(t);

    snprintf(work, sizeof work, "%s/work", tmp);
    snprintf(out, sizeof out, "%s/out", tmp);
    lp_fake_host *h = lp_fake_host_create(
        lp_plugin_entry(), work,
        "n_layer = 1; n_head = 2; n_embd = 16; n_ctx = 32; batch_size = 2; seq_len = 16; tokens_per_step = "
        "64;"
        "max_steps = 6; warmup_steps = 2; lr = 3e-3; min_lr = 3e-4; eval_every = 3; eval_batches = 2;"
        "sample_every = 3; sample_tokens = 8; top_k = 20; ckpt_every = 2; max_bad_steps = 3;"
        "sample_prompts = [\"The \", \"小\"];",
        err, sizeof err);
    REQUIRE(h != NULL, "fake host: %s", err);
    lp_fake_host_quiet(h, 1);
    REQUIRE(lp_fake_host_input(h, "data", data) == 0, "input");
    lp_fake_host_output(h, "base", out);
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "fresh run: %s", err);
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    CHECK(lp_fake_host_put_count(h) == 1 && access(path, R_OK) == 0, "output published (%d puts)",
          lp_fake_host_put_count(h));
    CHECK(lp_fake_host_count(h, LP_FAKE_TEXT, "sample") == 4, "samples %zu",
          lp_fake_host_count(h, LP_FAKE_TEXT, "sample"));
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "loss") == 6, "loss metrics %zu",
          lp_fake_host_count(h, LP_FAKE_METRIC, "loss"));
    snprintf(path, sizeof path, "%s/ckpt/step-00000006/trainer.state", work);
    CHECK(access(path, R_OK) == 0, "final in-stage checkpoint %s", path);

    /* resumed with a larger budget: continues from step 6 to 8 */
    lp_fake_host_clear(h);
    CHECK(lp_fake_host_set(h, "max_steps", "8", err, sizeof err) == 0, "%s", err);
    lp_fake_host_resuming(h, 1);
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "resumed run: %s", err);
    snprintf(path, sizeof path, "%s/ckpt/step-00000008", work);
    CHECK(lp_fake_host_put_count(h) >= 1 && access(path, R_OK) == 0, "resumed to step 8");
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "loss") == 2, "2 more steps, %zu loss metrics",
          lp_fake_host_count(h, LP_FAKE_METRIC, "loss"));

    /* a stop on request: a checkpoint, no output, the resume message */
    lp_fake_host_clear(h);
    lp_fake_host_resuming(h, 0);
    lp_fake_host_cancel_at(h, 3);
    int puts = lp_fake_host_put_count(h);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "stopped on request at step") &&
              strstr(err, "--resume"),
          "stop: %s", err);
    CHECK(lp_fake_host_put_count(h) == puts, "no output after a stop");
    lp_fake_host_cancel_at(h, 0);
    lp_fake_host_cancel(h, 0);

    /* bad parameters, inputs and devices: clear refusals, nothing leaks */
    CHECK(lp_fake_host_set(h, "tokens_per_step", "50", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "multiple of batch_size * seq_len"), "%s",
          err);
    CHECK(lp_fake_host_set(h, "tokens_per_step", "64", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_set(h, "seq_len", "64", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "seq_len <= n_ctx"), "%s", err);
    CHECK(lp_fake_host_set(h, "seq_len", "16", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_set(h, "precision", "\"fp16\"", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "precision"), "%s", err);
    CHECK(lp_fake_host_set(h, "precision", "\"fp32\"", err, sizeof err) == 0, "%s", err);
    lp_fake_host_device(h, "cuda", 1);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "stage 'pretrain': device \"cuda\""), "%s",
          err);
    printf("device cuda: %s\n", err);
    lp_fake_host_device(h, "cpu", 1);
    lp_fake_host_destroy(h);

    /* no data: neither an input nor data_dir */
    h = lp_fake_host_create(lp_plugin_entry(), work, "max_steps = 2;", err, sizeof err);
    REQUIRE(h != NULL, "fake host: %s", err);
    lp_fake_host_quiet(h, 1);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "no training data"), "%s", err);
    /* an input that is no folder the stage takes */
    REQUIRE(lp_fake_host_input(h, "junk", tmp) == 0, "input");
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "input 'junk'") && strstr(err, "expected"),
          "%s", err);
    lp_fake_host_destroy(h);

    if (lp_remove_tree(tmp)) fprintf(stderr, "cleanup failed\n");
    DONE();
}
