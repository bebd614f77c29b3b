/* Runs the reward stage in this process through the fake host on a tiny
 * model: a preference run with held-out accuracy per flaw and family, the
 * on-policy check and the stored normalisation, published as a reward-model
 * folder; a stop on request and a resume that ends bit for bit where the
 * uninterrupted run ends; a ranked-data run with the K-wise loss and the
 * ordered-list share; refusals of bad parameters and inputs. */
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
#include "llmpipe/reward.h"
#include "llmpipe/stage.h"
#include "llmpipe/synth.h"
#include "llmpipe/tokenizer.h"
#include "tests/support/check.h"
#include "tests/support/fake_host.h"
#include "tests/support/tiny_model.h"

const lp_stage_desc *lp_plugin_entry(void);

static char tmp[4096];

static void path_of(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", tmp, name); }

static lp_fake_host *host(const char *work, const char *params, const char *model, const char *out) {
    char err[2048];
    lp_fake_host *h = lp_fake_host_create(lp_plugin_entry(), work, params, err, sizeof err);
    if (!h) {
        fprintf(stderr, "fake host: %s\n", err);
        return NULL;
    }
    lp_fake_host_quiet(h, 1);
    lp_fake_host_input(h, "sft", model);
    lp_fake_host_output(h, "rm", out);
    return h;
}

static int logged(lp_fake_host *h, const char *text) {
    const lp_fake_entry *e;
    size_t n = lp_fake_host_entries(h, &e);
    int k = 0;
    for (size_t i = 0; i < n; i++) k += e[i].kind == LP_FAKE_LOG && strstr(e[i].text, text) != NULL;
    return k;
}

#define BASE                                                                                        \
    "batch_size = 4; max_steps = 12; warmup_steps = 2; lr = 3e-3; eval_every = 6; ckpt_every = 3; " \
    "eval_max = 16; onpolicy_prompts = 4; onpolicy_samples = 2; onpolicy_max_new = 6; "

int main(void) {
    char err[2048], model[4400], pref[4400], ranked[4400], evalp[4400], params[8192], synth[4400];
    snprintf(tmp, sizeof tmp, "%s/rmXXXXXX", getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) return 2;
    path_of(synth, sizeof synth, "synth");
    mkdir(synth, 0755);
    lp_synth_opts so = {
        .seed = 3, .level = lp_synth_preset(1), .n_sft = 40, .n_pref = 60, .n_ranked = 24, .n_eval = 6};
    REQUIRE(lp_synth_write(synth, &so, err, sizeof err) == 0, "%s", err);
    path_of(model, sizeof model, "model");
    mkdir(model, 0755);
    char tf[1][4400];
    const char *tfp[1];
    snprintf(tf[0], sizeof tf[0], "%s/synth/sft.jsonl", tmp);
    tfp[0] = tf[0];
    REQUIRE(lp_test_tiny_model(model, tmp, tfp, 1, err, sizeof err) == 0, "%s", err);
    path_of(pref, sizeof pref, "synth/pref.jsonl");
    path_of(ranked, sizeof ranked, "synth/ranked.jsonl");
    path_of(evalp, sizeof evalp, "synth/eval.jsonl");

    /* ---- preference pairs: accuracy per flaw and family, on-policy, normalisation */
    char workA[4400], outA[4400], workB[4400], outB[4400];
    path_of(workA, sizeof workA, "workA");
    path_of(outA, sizeof outA, "outA");
    snprintf(params, sizeof params, BASE "data = \"%s\"; onpolicy_tasks = \"%s\"; val_fraction = 0.25;", pref,
             evalp);
    lp_fake_host *h = host(workA, params, model, outA);
    REQUIRE(h != NULL, "host");
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "pref run: %s", err);
    char p[4600];
    snprintf(p, sizeof p, "%s/model.safetensors", outA);
    CHECK(lp_fake_host_put_count(h) == 1 && access(p, R_OK) == 0, "output published");
    CHECK(lp_stage_classify(outA) == LP_INPUT_REWARD_MODEL, "the output is a reward-model folder");
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "loss") == 12, "12 loss metrics");
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "eval/accuracy") == 2,
          "held-out accuracy at steps 6 and 12 (%zu)",
          lp_fake_host_count(h, LP_FAKE_METRIC, "eval/accuracy"));
    int flaws = 0;
    const char *fl[] = {"eval/flaw/swap", "eval/flaw/off_by_one", "eval/flaw/truncated", "eval/flaw/chatter"};
    for (int i = 0; i < 4; i++) flaws += lp_fake_host_count(h, LP_FAKE_METRIC, fl[i]) > 0;
    CHECK(flaws >= 3, "accuracy per flaw (%d kinds)", flaws);
    const lp_fake_entry *e = lp_fake_host_last(h, LP_FAKE_METRIC, "eval/margin");
    CHECK(e && isfinite(e->value), "mean margin published");
    int fams = 0;
    for (int i = 0; i < lp_synth_family_count(); i++) {
        char name[80];
        snprintf(name, sizeof name, "eval/family/%s", lp_synth_family_name(i));
        fams += lp_fake_host_count(h, LP_FAKE_METRIC, name) > 0;
    }
    CHECK(fams >= 3, "accuracy per family (%d families)", fams);
    CHECK(logged(h, "on-policy: 8 answers sampled") == 1, "8 on-policy answers sampled");
    CHECK(logged(h, "held-out flaw   all") == 1, "the final table is logged");
    lp_reward_norm nm;
    CHECK(lp_reward_norm_load(outA, &nm, err, sizeof err) == 1, "normalisation stored: %s", err);
    CHECK(nm.n == 8 && !strcmp(nm.source, "onpolicy") && nm.std > 0 && isfinite(nm.mean),
          "normalisation over the 8 on-policy answers (n %lld, %s)", (long long)nm.n, nm.source);
    e = lp_fake_host_last(h, LP_FAKE_METRIC, "reward_mean");
    CHECK(e && fabs(e->value - nm.mean) < 1e-9, "reward_mean metric = stored mean");
    e = lp_fake_host_last(h, LP_FAKE_METRIC, "final_accuracy");
    CHECK(e && e->value >= 0 && e->value <= 1, "final accuracy %g", e ? e->value : -1);
    lp_fake_host_destroy(h);

    /* ---- stopped at step 5, resumed: the same final weights */
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
    snprintf(p, sizeof p, "%s/%s", outA, LP_REWARD_NORM_FILE);
    snprintf(q, sizeof q, "%s/%s", outB, LP_REWARD_NORM_FILE);
    CHECK(lp_test_same_file(p, q), "and the same normalisation");
    lp_fake_host_destroy(h);

    /* ---- ranked lists: K-wise loss, ordered-list share */
    char workC[4400], outC[4400];
    path_of(workC, sizeof workC, "workC");
    path_of(outC, sizeof outC, "outC");
    snprintf(
        params, sizeof params,
        "batch_size = 3; max_steps = 8; lr = 3e-3; eval_every = 4; data_kind = \"ranked\"; data = \"%s\"; "
        "val_fraction = 0.25; context = 40;",
        ranked);
    h = host(workC, params, model, outC);
    REQUIRE(h != NULL, "host");
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "ranked run: %s", err);
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "eval/ranked_order") == 2,
          "ordered-list share at steps 4 and 8");
    CHECK(lp_fake_host_count(h, LP_FAKE_METRIC, "eval/flaw/rank1>rank2") == 2, "accuracy per rank pair");
    e = lp_fake_host_last(h, LP_FAKE_METRIC, "loss");
    CHECK(e && isfinite(e->value) && e->value > 0, "K-wise loss %g", e ? e->value : -1);
    CHECK(logged(h, "fully in order") == 2, "ordered share logged");
    CHECK(lp_reward_norm_load(outC, &nm, err, sizeof err) == 1 && !strcmp(nm.source, "heldout"),
          "normalisation over held-out responses without on-policy tasks (%s)", nm.source);
    e = lp_fake_host_last(h, LP_FAKE_METRIC, "records_truncated");
    CHECK(e && e->value > 0, "records longer than the context of 40 kept their end (%g)", e ? e->value : -1);
    lp_model_config oc;
    CHECK(lp_model_folder_config(outC, &oc, err, sizeof err) == 0 && oc.n_ctx == 40 && oc.scalar_head,
          "the exported reward model has n_ctx 40 and a scalar head (%d)", oc.n_ctx);
    lp_fake_host_destroy(h);

    /* ---- refusals */
    lp_remove_tree(workC);
    h = host(workC, params, model, outC);
    REQUIRE(h != NULL, "host");
    CHECK(lp_fake_host_set(h, "data_kind", "\"list\"", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "data_kind"), "%s", err);
    CHECK(lp_fake_host_set(h, "data_kind", "\"pref\"", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "chosen"), "ranked file as pairs: %s",
          err);
    CHECK(lp_fake_host_set(h, "data_kind", "\"ranked\"", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_set(h, "context", "500", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "context 500"), "%s", err);
    lp_fake_host_destroy(h);
    h = lp_fake_host_create(lp_plugin_entry(), workC, params, err, sizeof err);
    REQUIRE(h != NULL, "%s", err);
    lp_fake_host_quiet(h, 1);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "model"), "no model: %s", err);
    lp_fake_host_destroy(h);

    if (lp_remove_tree(tmp)) fprintf(stderr, "cleanup failed\n");
    DONE();
}
