/* The C API of the broker and the worker-side clients, in one process:
 * one-line errors for bad input, resolved endpoints, the publisher's first
 * message not lost to the slow-joiner race, NaN published as null, and
 * bounded shutdown. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "host/broker.h"
#include "llmpipe/clock.h"
#include "llmpipe/fsutil.h"
#include "sdk/comm/comm.h"
#include "sdk/comm/zmq_util.h"
#include "tests/support/check.h"

static void expect_create_error(void *ctx, lp_broker_config cfg, const char *want) {
    char err[512] = "";
    lp_broker *b = lp_broker_create(ctx, &cfg, err, sizeof err);
    CHECK(!b, "created a broker that should fail with '%s'", want);
    CHECK(strstr(err, want) && !strchr(err, '\n'), "error '%s', want '%s'", err, want);
    lp_broker_destroy(b);
}

int main(void) {
    char tmpl[] = "/tmp/lp-broker-api-XXXXXX";
    const char *dir = mkdtemp(tmpl);
    char notdir[600];
    snprintf(notdir, sizeof notdir, "%s/file", dir);
    fclose(fopen(notdir, "w"));
    void *ctx = zmq_ctx_new();
    char err[512];

    lp_broker_config ok = {.run_dir = dir,
                           .metrics_in = "tcp://127.0.0.1:0",
                           .metrics_out = "tcp://127.0.0.1:0",
                           .store = "tcp://127.0.0.1:0"};
    lp_broker_config c = ok;
    c.run_dir = NULL;
    expect_create_error(ctx, c, "no run folder");
    c = ok;
    c.metrics_in = "tcp://no-such-host-xyz:1";
    expect_create_error(ctx, c, "cannot bind metrics_in endpoint 'tcp://no-such-host-xyz:1'");
    c = ok;
    c.store = "bogus://x";
    expect_create_error(ctx, c, "cannot bind store endpoint 'bogus://x'");
    c = ok;
    c.metrics_out = NULL;
    expect_create_error(ctx, c, "no metrics_out endpoint");
    c = ok;
    c.run_dir = notdir;
    expect_create_error(ctx, c, "cannot create");
    if (lp_comm_curve_available()) {
        c = ok;
        c.curve_secret_key = "short";
        expect_create_error(ctx, c, "40-character Z85");
    }

    lp_broker *b = lp_broker_create(ctx, &ok, err, sizeof err);
    CHECK(b, "%s", err);
    if (!b) return 1;
    const char *in = lp_broker_endpoint(b, "metrics_in");
    const char *out = lp_broker_endpoint(b, "metrics_out");
    CHECK(strncmp(in, "tcp://127.0.0.1:", 16) == 0 && strcmp(in + 16, "0"), "metrics_in not resolved: %s",
          in);
    CHECK(strcmp(in, out) && strcmp(in, lp_broker_endpoint(b, "store")), "endpoints must differ");
    CHECK(lp_broker_endpoint(b, "control") == NULL, "unknown endpoint name");
    CHECK(lp_broker_curve_public_key(b) == NULL, "no CURVE configured");
    char hex[65];
    CHECK(lp_broker_artifact_hash(b, "nothing", hex, sizeof hex) == LP_ERR_NOTFOUND, "unknown artifact");
    CHECK(lp_broker_artifact_hash(b, "../etc", hex, sizeof hex) == LP_ERR_NOTFOUND, "invalid name");

    /* Publisher: bad names are refused in one line. */
    err[0] = '\0';
    CHECK(!lp_publisher_create(ctx, in, "a/b", "s", NULL, err, sizeof err) && strstr(err, "no '/'"),
          "run with '/': %s", err);
    CHECK(!lp_publisher_create(ctx, NULL, "r", "s", NULL, err, sizeof err) &&
              strstr(err, "no metrics endpoint"),
          "no endpoint: %s", err);

    /* The very first message of a fresh publisher reaches a subscriber. */
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int zero = 0, to = 3000;
    zmq_setsockopt(sub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &to, sizeof to);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    zmq_connect(sub, out);
    usleep(200000);
    lp_publisher *p = lp_publisher_create(ctx, in, "r", "s", NULL, err, sizeof err);
    CHECK(p, "%s", err);
    lp_publisher_event(p, "started", "first");
    lp_metric m[2] = {{"loss", NAN}, {"lr", 0.5}};
    lp_publisher_metrics(p, 3, m, 2);
    char topic[64] = "", body[512] = "";
    int n = zmq_recv(sub, topic, sizeof topic - 1, 0);
    CHECK(n > 0 && !strncmp(topic, "event/r/s", 9), "first message lost (got %d)", n);
    zmq_recv(sub, body, sizeof body - 1, 0);
    CHECK(strstr(body, "\"event\":\"started\""), "body %s", body);
    memset(body, 0, sizeof body);
    zmq_recv(sub, topic, sizeof topic - 1, 0);
    zmq_recv(sub, body, sizeof body - 1, 0);
    CHECK(strstr(body, "\"loss\":null") && strstr(body, "\"lr\":0.5") && strstr(body, "\"step\":3"),
          "metrics body %s", body);
    lp_publisher_destroy(p);
    zmq_close(sub);

    /* Store client: bad input refused before anything is sent. */
    lp_store_client *sc =
        lp_store_client_create(ctx, lp_broker_endpoint(b, "store"), NULL, 2000, err, sizeof err);
    CHECK(sc, "%s", err);
    CHECK(lp_store_client_put(sc, ".hidden", dir, err, sizeof err) != 0 && strstr(err, "artifact name"),
          "bad name: %s", err);
    CHECK(lp_store_client_put(sc, "x", notdir, err, sizeof err) != 0 && strstr(err, "is not a folder"),
          "not a folder: %s", err);
    CHECK(lp_store_client_get(sc, "x", notdir, err, sizeof err) == LP_ERR_NOTFOUND, "get unknown: %s", err);
    lp_store_client_destroy(sc);
    CHECK(!lp_store_client_create(ctx, "nonsense", NULL, 100, err, sizeof err) &&
              strstr(err, "cannot connect to 'nonsense'"),
          "bad endpoint: %s", err);

    /* With CURVE, clients in the broker's own process (the host's events, the
   * run's live view) need no key: the broker registered it. */
    if (lp_comm_curve_available()) {
        char pub[41], sec[41];
        zmq_curve_keypair(pub, sec);
        char cdir[700];
        snprintf(cdir, sizeof cdir, "%s/curve", dir);
        lp_broker_config cc = ok;
        cc.run_dir = cdir;
        cc.curve_secret_key = sec;
        lp_broker *cb = lp_broker_create(ctx, &cc, err, sizeof err);
        CHECK(cb, "%s", err);
        CHECK(cb && !strcmp(lp_broker_curve_public_key(cb), pub), "public key");
        const char *cin = lp_broker_endpoint(cb, "metrics_in");
        lp_publisher *cp = lp_publisher_create(ctx, cin, "r", "host", NULL, err, sizeof err);
        CHECK(cp, "%s", err);
        lp_publisher_event(cp, "started", "x");
        for (int i = 0; i < 100 && lp_broker_captured(cb) < 1; i++) usleep(10000);
        CHECK(lp_broker_captured(cb) == 1,
              "in-process publisher without a key "
              "was not heard (%llu)",
              lp_broker_captured(cb));
        lp_publisher_destroy(cp);
        /* destroy() takes the key back out of the registry. */
        lp_broker_destroy(cb);
        char other[41];
        CHECK(!lp_comm_lookup_server_key(cin, other), "key still registered");
    }

    int64_t t0 = lp_mono_ms();
    lp_broker_destroy(b);
    zmq_ctx_term(ctx);
    int64_t dt = lp_mono_ms() - t0;
    CHECK(dt < 1500, "shutdown took %lld ms", (long long)dt);
    if (lp_remove_tree(dir)) fprintf(stderr, "cannot remove %s\n", dir);
    printf("broker shutdown: %lld ms\n", (long long)dt);
    DONE();
}
