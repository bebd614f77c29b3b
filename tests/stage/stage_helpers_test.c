/* The stage helpers (llmpipe/stage.h) inside a small test stage run by the
 * shared fake host: the schema with the shared trainer parameters and the
 * trainer options read from it, the kernel context from the host's device
 * (cuda refused with the stage named), inputs classified by content with
 * refusals naming the input, tokenizer discovery and publishing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpipe/fsutil.h"
#include "llmpipe/stage.h"
#include "tests/support/check.h"
#include "tests/support/fake_host.h"

static const lp_param_spec own[] = {
    {"width", LP_PARAM_INT, "16", 0, "model width"},
    {"lr", LP_PARAM_FLOAT, "5e-4", 0, "this stage's own default"},
};
static lp_param_spec schema[64];
static size_t schema_n;

/* What the test stage does, chosen before each run, and what it saw. */
static struct {
    unsigned required, optional;
    lp_export_kind publish;
    lp_stage_inputs in;
    lp_trainer_opts o;
    const char *precision;
    char tok[4096];
    int threads;
} S;

static int create(const lp_host_services *h, void **state, char *err, size_t n) {
    *state = (void *)h;
    return lp_stage_trainer_opts(h, &S.o, &S.precision, err, n);
}

static int run(void *state, char *err, size_t n) {
    const lp_host_services *h = state;
    if (lp_stage_find_inputs(h, S.required, S.optional, &S.in, err, n)) return -1;
    const char *dirs[] = {S.in.data, S.in.model, S.in.reward_model};
    if (lp_stage_find_tokenizer(h, "", dirs, 3, S.tok, sizeof S.tok, err, n)) return -1;
    lpk_ctx *ctx = lp_stage_kernel_ctx(h, S.precision, err, n);
    if (!ctx) return -1;
    S.threads = lpk_ctx_threads(ctx);
    int rc = 0;
    if (S.publish) {
        lp_model_config c = {1, 2, 16, 50, 8, S.publish == LP_EXPORT_SEQ_CLS, 0};
        lp_model *m = lp_model_create(&c, ctx, err, n);
        rc = !m || lp_stage_publish_model(h, m, S.publish, 49, NULL, err, n) ? -1 : 0;
        lp_model_destroy(m);
    }
    lp_stage_logf(h, LP_LOG_INFO, "ran with %d threads, %s", S.threads, S.precision);
    lpk_ctx_destroy(ctx);
    return rc;
}

static void destroy(void *state) { (void)state; }

static lp_stage_desc desc = {LP_STAGE_DESC_INIT, .name = "helpers", .version = "0",    .description = "test",
                             .create = create,   .run = run,        .destroy = destroy};

/* A model folder written by the SDK (kind decides the architecture). */
static int model_folder(const char *dir, int scalar) {
    char err[512];
    mkdir(dir, 0755);
    lpk_ctx *ctx = lpk_ctx_create(&(lpk_ctx_opts){.num_threads = 1}, err, sizeof err);
    lp_model_config c = {1, 2, 16, 50, 8, scalar, 0};
    lp_model *m = ctx ? lp_model_create(&c, ctx, err, sizeof err) : NULL;
    int rc = !m || lp_model_export(m, dir, 49, NULL, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    return rc;
}

static void touch(const char *dir, const char *file) {
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
}

int main(void) {
    char tmp[4096], err[2048], data[4200], lm[4200], rm[4200], junk[4200], work[4200], out[4200], p[4400];
    snprintf(tmp, sizeof tmp, "%s/shXXXXXX", getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) return 2;
    snprintf(data, sizeof data, "%s/data", tmp);
    snprintf(lm, sizeof lm, "%s/lm", tmp);
    snprintf(rm, sizeof rm, "%s/rm", tmp);
    snprintf(junk, sizeof junk, "%s/junk", tmp);
    snprintf(work, sizeof work, "%s/work", tmp);
    snprintf(out, sizeof out, "%s/out", tmp);
    mkdir(data, 0755);
    mkdir(junk, 0755);
    touch(data, "train.bin");
    REQUIRE(model_folder(lm, 0) == 0 && model_folder(rm, 1) == 0, "model folders");
    touch(lm, "tokenizer.json");

    CHECK(lp_stage_classify(data) == LP_INPUT_DATA && lp_stage_classify(lm) == LP_INPUT_MODEL &&
              lp_stage_classify(rm) == LP_INPUT_REWARD_MODEL && lp_stage_classify(junk) == 0,
          "classify: %d %d %d %d", lp_stage_classify(data), lp_stage_classify(lm), lp_stage_classify(rm),
          lp_stage_classify(junk));

    /* the schema: own first (lr overridden), then the shared ones */
    schema_n = lp_stage_schema(own, 2, schema, 64);
    CHECK(schema_n == 2 + lp_trainer_param_count - 1, "schema of %zu", schema_n);
    CHECK(lp_stage_schema(own, 2, schema, 3) == 0, "a short buffer is refused");
    schema_n = lp_stage_schema(own, 2, schema, 64);
    desc.params = schema;
    desc.param_count = (uint32_t)schema_n;

    lp_fake_host *h = lp_fake_host_create(&desc, work, "max_steps = 7; grad_clip = 0.5;", err, sizeof err);
    REQUIRE(h, "%s", err);
    lp_fake_host_quiet(h, 1);
    lp_fake_host_device(h, "cpu", 3);
    lp_fake_host_output(h, "out", out);
    lp_fake_host_input(h, "tokens", data);
    lp_fake_host_input(h, "base", lm);
    lp_fake_host_input(h, "judge", rm);
    S.required = LP_INPUT_DATA | LP_INPUT_REWARD_MODEL;
    S.optional = LP_INPUT_MODEL;
    S.publish = LP_EXPORT_SEQ_CLS;
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "run: %s", err);
    CHECK(!strcmp(S.in.data, data) && !strcmp(S.in.model, lm) && !strcmp(S.in.reward_model, rm),
          "inputs %s %s %s", S.in.data, S.in.model, S.in.reward_model);
    snprintf(p, sizeof p, "%s/tokenizer.json", lm);
    CHECK(!strcmp(S.tok, p), "tokenizer %s", S.tok);
    CHECK(S.threads == 3 && !strcmp(S.precision, "fp32"), "threads %d precision %s", S.threads, S.precision);
    CHECK(S.o.lr.lr_max == 5e-4 && S.o.lr.lr_min == 1e-4 && S.o.lr.warmup == 20 && S.o.lr.total == 7 &&
              S.o.max_steps == 7 && S.o.clip == 0.5 && S.o.adamw.beta2 == 0.95f && S.o.keep_last == 2 &&
              S.o.seed == 1234,
          "trainer options lr %g min %g warmup %lld total %lld clip %g", S.o.lr.lr_max, S.o.lr.lr_min,
          (long long)S.o.lr.warmup, (long long)S.o.lr.total, S.o.clip);
    CHECK(lp_fake_host_put_count(h) == 1 && lp_stage_classify(out) == LP_INPUT_REWARD_MODEL,
          "published reward model (%d puts, kind %d)", lp_fake_host_put_count(h), lp_stage_classify(out));
    const lp_fake_entry *e = lp_fake_host_last(h, LP_FAKE_LOG, NULL);
    CHECK(e && strstr(e->text, "ran with 3 threads, fp32"), "logf: %s", e ? e->text : "none");
    lp_fake_host_destroy(h);

    /* refusals name the stage, the input and what was expected */
    struct {
        unsigned req, opt;
        const char *inputs[3];
        const char *device, *want;
    } cases[] = {
        {LP_INPUT_DATA, 0, {data, lm}, "cpu", "input 'in1'"},
        {LP_INPUT_DATA | LP_INPUT_MODEL, 0, {data}, "cpu", "no input is a model folder"},
        {LP_INPUT_DATA, 0, {data, data}, "cpu", "are both a data folder"},
        {LP_INPUT_DATA, 0, {junk}, "cpu", "is none of the folders this stage takes"},
        {LP_INPUT_DATA, LP_INPUT_MODEL, {data, lm}, "cuda", "stage 'helpers': device \"cuda\": "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        h = lp_fake_host_create(&desc, work, NULL, err, sizeof err);
        REQUIRE(h, "%s", err);
        lp_fake_host_quiet(h, 1);
        lp_fake_host_device(h, cases[i].device, 1);
        for (int k = 0; k < 3 && cases[i].inputs[k]; k++) {
            char name[16];
            snprintf(name, sizeof name, "in%d", k);
            lp_fake_host_input(h, name, cases[i].inputs[k]);
        }
        S.required = cases[i].req;
        S.optional = cases[i].opt;
        S.publish = 0;
        int rc = lp_fake_host_run(h, err, sizeof err);
        CHECK(rc != 0 && strstr(err, "stage 'helpers': ") && strstr(err, cases[i].want), "case %zu: %s", i,
              err);
        printf("refused: %s\n", err);
        lp_fake_host_destroy(h);
    }
    /* a bad precision and a bad trainer parameter */
    h = lp_fake_host_create(&desc, work, "precision = \"fp8\";", err, sizeof err);
    REQUIRE(h, "%s", err);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "precision"), "%s", err);
    lp_fake_host_destroy(h);
    h = lp_fake_host_create(&desc, work, "min_lr = 1.0;", err, sizeof err);
    REQUIRE(h, "%s", err);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "min_lr <= lr"), "%s", err);
    lp_fake_host_destroy(h);
    /* outside a stage */
    lpk_ctx *c = lp_kernel_ctx_open("eval", "cuda", 1, "fp32", err, sizeof err);
    CHECK(!c && !strncmp(err, "eval: device \"cuda\": ", 21), "%s", err);

    if (lp_remove_tree(tmp)) fprintf(stderr, "cleanup failed\n");
    DONE();
}
