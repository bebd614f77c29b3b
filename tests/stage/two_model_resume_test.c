/* One trainer over two groups, an actor (LM loss) and a critic (scalar-head
 * regression), each with its own AdamW, schedule and clipping: N steps in
 * one go against N/2, a checkpoint, fresh objects (models initialised
 * differently, a new trainer), resume, N/2 more. The loss curve, both
 * models' weights and both optimizers' moments must be equal bit for bit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/ckpt.h"
#include "llmpipe/error.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/model.h"
#include "llmpipe/optim.h"
#include "llmpipe/train.h"
#include "tests/support/check.h"

enum { B = 2, T = 12, V = 61, STEPS = 6 };

typedef struct run {
    lp_model *actor, *critic;
    lp_trainer *t;
} run;

/* Tokens from the trainer's RNG (restored by resume), then both models'
 * forward, loss and backward. */
static int micro(void *user, lp_model *m, int k, int n_micro, double *loss, int64_t *tokens, char *err,
                 size_t n) {
    (void)m;
    (void)k;
    run *r = user;
    lp_rng *rng = lp_trainer_rng(r->t);
    int32_t x[B * T], y[B * T];
    for (int i = 0; i < B * T; i++) x[i] = (int32_t)(lp_rng_u64(rng) % V);
    for (int i = 0; i < B * T; i++) y[i] = (x[i] * 7 + 3) % V;
    double la, lc = 0;
    float v[B * T], dv[B * T];
    if (lp_model_forward(r->actor, x, B, T) ||
        lp_model_lm_loss(r->actor, y, NULL, (double)B * T * n_micro, NULL, &la) ||
        lp_model_backward(r->actor))
        return lp_errf(err, n, "actor: %s", lp_model_error(r->actor));
    if (lp_model_forward(r->critic, x, B, T) || lp_model_values(r->critic, v))
        return lp_errf(err, n, "critic: %s", lp_model_error(r->critic));
    for (int i = 0; i < B * T; i++) {
        float target = (float)(x[i] % 5) * 0.25f - 0.5f, d = v[i] - target;
        lc += (double)d * d / (B * T * n_micro);
        dv[i] = 2.0f * d / (float)(B * T * n_micro);
    }
    if (lp_model_values_grad(r->critic, dv) || lp_model_backward(r->critic))
        return lp_errf(err, n, "critic: %s", lp_model_error(r->critic));
    *loss = la + lc;
    *tokens = B * T;
    return 0;
}

static int start(run *r, lpk_ctx *ctx, const char *ckpt, uint64_t init_seed) {
    char err[512];
    lp_model_config ca = {2, 2, 16, V, 16, 0, 0}, cc = {1, 2, 16, V, 16, 1, 0};
    r->actor = lp_model_create(&ca, ctx, err, sizeof err);
    r->critic = lp_model_create(&cc, ctx, err, sizeof err);
    REQUIRE(r->actor && r->critic, "%s", err);
    REQUIRE(lp_model_init_gpt2(r->actor, init_seed) == 0 &&
                lp_model_init_gpt2(r->critic, init_seed + 1) == 0 &&
                lp_model_init_scalar_head(r->critic, 0, init_seed + 2) == 0,
            "init");
    lp_trainer_group g[2] = {
        {"actor", r->actor, {0, 0.9f, 0.95f, 1e-8f, 0.1f}, {3e-3, 3e-4, 2, STEPS}, 1.0},
        {"critic", r->critic, {0, 0.8f, 0.99f, 1e-8f, 0.0f}, {1e-2, 1e-3, 1, STEPS}, 0.5},
    };
    lp_trainer_opts o = {.micro_steps = 2,
                         .max_steps = STEPS,
                         .max_bad_steps = 3,
                         .ckpt_dir = ckpt,
                         .keep_last = 2,
                         .eot = -1,
                         .seed = 99};
    lp_train_hooks h = {.user = r, .micro = micro};
    r->t = lp_trainer_create_groups(g, 2, &o, &h, NULL, err, sizeof err);
    REQUIRE(r->t, "%s", err);
    return 0;
}

static void stop(run *r) {
    lp_trainer_destroy(r->t);
    lp_model_destroy(r->actor);
    lp_model_destroy(r->critic);
}

/* Weights and both AdamW moments of every parameter of both models. */
static float *state(run *r, size_t *n) {
    size_t total = 0;
    lp_model *ms[2] = {r->actor, r->critic};
    for (int g = 0; g < 2; g++) total += 3 * lp_model_numel(ms[g]);
    float *s = malloc(total * sizeof *s), *p = s;
    for (int g = 0; g < 2; g++)
        for (int i = 0; i < lp_model_num_params(ms[g]); i++) {
            size_t k = lp_model_param(ms[g], i)->numel;
            lp_adamw *o = lp_trainer_group_optimizer(r->t, g);
            if (lp_model_param_read(ms[g], i, p) || lp_adamw_state_read(o, 0, i, p + k) ||
                lp_adamw_state_read(o, 1, i, p + 2 * k))
                fprintf(stderr, "read: %s\n", lp_model_error(ms[g]));
            p += 3 * k;
        }
    *n = total;
    return s;
}

int main(void) {
    char tmp[4096], da[4200], db[4200], err[1024];
    snprintf(tmp, sizeof tmp, "%s/grXXXXXX", getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) return 2;
    snprintf(da, sizeof da, "%s/a", tmp);
    snprintf(db, sizeof db, "%s/b", tmp);
    lpk_ctx *ctx = lpk_ctx_create(&(lpk_ctx_opts){.num_threads = 2}, err, sizeof err);
    REQUIRE(ctx, "%s", err);
    double straight[STEPS], split[STEPS];
    lp_step_result sr;

    run a = {0};
    REQUIRE(start(&a, ctx, da, 1) == 0, "start");
    CHECK(lp_trainer_num_groups(a.t) == 2, "groups");
    for (int s = 0; s < STEPS; s++) {
        REQUIRE(lp_trainer_step(a.t, &sr, err, sizeof err) == 0, "%s", err);
        straight[s] = sr.loss;
        printf("step %d loss %.9f  actor norm %.6f lr %.6f  critic norm %.6f lr %.6f\n", s + 1, sr.loss,
               sr.group_grad_norm[0], sr.group_lr[0], sr.group_grad_norm[1], sr.group_lr[1]);
        CHECK(!sr.skipped, "step %d skipped", s + 1);
    }
    size_t na, nb;
    float *sa = state(&a, &na);
    stop(&a);

    run b = {0};
    REQUIRE(start(&b, ctx, db, 1) == 0, "start");
    for (int s = 0; s < STEPS / 2; s++) {
        REQUIRE(lp_trainer_step(b.t, &sr, err, sizeof err) == 0, "%s", err);
        split[s] = sr.loss;
    }
    char dir[4096];
    REQUIRE(lp_trainer_checkpoint(b.t, dir, sizeof dir, err, sizeof err) == 0, "%s", err);
    stop(&b);
    /* new objects, initialised otherwise: everything must come from the checkpoint */
    run c = {0};
    REQUIRE(start(&c, ctx, db, 77) == 0, "start");
    CHECK(lp_trainer_resume(c.t, err, sizeof err) == 1, "resume: %s", err);
    CHECK(lp_trainer_steps_done(c.t) == STEPS / 2, "resumed at step %lld",
          (long long)lp_trainer_steps_done(c.t));
    for (int s = STEPS / 2; s < STEPS; s++) {
        REQUIRE(lp_trainer_step(c.t, &sr, err, sizeof err) == 0, "%s", err);
        split[s] = sr.loss;
    }
    float *sb = state(&c, &nb);
    int curve = !memcmp(straight, split, sizeof straight);
    int weights = na == nb && !memcmp(sa, sb, na * sizeof *sa);
    printf(
        "loss curve after resume equal bit for bit: %s; weights + AdamW moments of both models (%zu floats) "
        "equal "
        "bit for bit: %s\n",
        curve ? "yes" : "NO", na, weights ? "yes" : "NO");
    CHECK(curve, "loss curves differ");
    CHECK(weights, "final state differs");
    stop(&c);

    /* a one-group trainer refuses the two-group checkpoint */
    lp_model_config ca = {2, 2, 16, V, 16, 0, 0};
    lp_model *m = lp_model_create(&ca, ctx, err, sizeof err);
    lp_trainer_opts o = {.micro_steps = 1,
                         .max_steps = STEPS,
                         .max_bad_steps = 3,
                         .ckpt_dir = db,
                         .eot = -1,
                         .lr = {1e-3, 1e-4, 0, STEPS}};
    run d = {.actor = m};
    lp_train_hooks h = {.user = &d, .micro = micro};
    lp_trainer *t1 = lp_trainer_create(m, &o, &h, NULL, err, sizeof err);
    REQUIRE(t1, "%s", err);
    CHECK(lp_trainer_resume(t1, err, sizeof err) == -1 && strstr(err, "2 model groups"), "%s", err);
    lp_trainer_destroy(t1);
    /* groups are checked: a frozen model, a repeated name */
    lp_model *fz = lp_model_create_frozen(&ca, ctx, err, sizeof err);
    lp_trainer_group bad[2] = {{"actor", m, {0, 0, 0, 0, 0}, {1e-3, 0, 0, 1}, 0},
                               {"actor", fz, {0, 0, 0, 0, 0}, {1e-3, 0, 0, 1}, 0}};
    CHECK(!lp_trainer_create_groups(bad, 2, &o, &h, NULL, err, sizeof err) && strstr(err, "frozen"), "%s",
          err);
    bad[1].model = m;
    CHECK(!lp_trainer_create_groups(bad, 2, &o, &h, NULL, err, sizeof err) && strstr(err, "twice"), "%s",
          err);
    lp_model_destroy(fz);
    lp_model_destroy(m);

    free(sa);
    free(sb);
    lpk_ctx_destroy(ctx);
    if (lp_remove_tree(tmp)) fprintf(stderr, "cleanup failed\n");
    DONE();
}
